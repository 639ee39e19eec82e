#!/usr/bin/env python3
"""Reference for tests/cli/test_advise.sh: the linear ODE in (HS, TQA) fitted
on all of set B (forward differences within each family, scores at interval
midpoints, numpy.linalg.lstsq), integrated with scipy's solve_ivp RK45
(default tolerances) from HS 40.9, TQA 41.2 at 410M to 1B; and the
dashboard's curation rule h_c = 3 ((N_c - N)/1e9)^1.5 at N = 1.4e9 with the
pooled N_c median 3.4939e9. Run: python3 tests/ref/make_advice_ref.py
"""
import csv
import os
import numpy as np
from scipy.integrate import solve_ivp

here = os.path.dirname(os.path.abspath(__file__))
rows = list(csv.DictReader(open(os.path.join(here, "..", "..", "data", "benchmarks", "paper",
                                             "set_b_14.csv"))))
mid, der = [], []
for fam in dict.fromkeys(r["family"] for r in rows):
    f = sorted((r for r in rows if r["family"] == fam), key=lambda r: float(r["params"]))
    t = np.log10([float(r["params"]) for r in f])
    b = np.array([[float(r["hellaswag"]), float(r["truthfulqa"])] for r in f])
    mid += list((b[1:] + b[:-1]) / 2)
    der += list(np.diff(b, axis=0) / np.diff(t)[:, None])
X = np.hstack([np.array(mid), np.ones((len(mid), 1))])
coef = np.linalg.lstsq(X, np.array(der), rcond=None)[0]
C, c = coef[:2].T, coef[2]
t0, t1 = np.log10(4.1e8), np.log10(1e9)
sol = solve_ivp(lambda t, y: C @ y + c, (t0, t1), [40.9, 41.2], t_eval=[t0, t1])
print("ode_next_1B HS %.6f TQA %.6f" % tuple(sol.y[:, -1]))
print("h_c_1.4B %.6f" % (3 * ((3.4939e9 - 1.4e9) / 1e9) ** 1.5))
