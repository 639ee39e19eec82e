#!/usr/bin/env python3
"""SINDy reference for tests/unit/test_ode.c: PySINDy's PolynomialLibrary
(degree 3) and STLSQ on Pythia set A, with cape's derivative recipe (forward
differences in log10 N, library evaluated at interval midpoints, scores as
fractions). Prints the feature names, then for each threshold the nonzero
coefficients as "lambda term equation coef".
Run: python3 tests/ref/make_sindy_ref.py > tests/ref/sindy_set_a.txt
"""
import csv
import os
import numpy as np
import pysindy
from pysindy.feature_library import PolynomialLibrary
from pysindy.optimizers import STLSQ

here = os.path.dirname(os.path.abspath(__file__))
path = os.path.join(here, "..", "..", "data", "benchmarks", "paper", "pythia_set_a.csv")
rows = list(csv.DictReader(open(path)))
keys = ["hellaswag", "truthfulqa", "arc", "winogrande", "mmlu"]
names = ["HS", "TQA", "ARC", "WG", "MMLU"]
t = np.log10([float(r["params"]) for r in rows])
B = np.array([[float(r[k]) for k in keys] for r in rows]) / 100
mid = (B[1:] + B[:-1]) / 2
deriv = np.diff(B, axis=0) / np.diff(t)[:, None]
lib = PolynomialLibrary(degree=3).fit(mid)
theta = lib.transform(mid)
print(f"# pysindy {pysindy.__version__}")
print("terms " + ",".join(lib.get_feature_names(names)))
for lam in (0.01, 0.02, 0.1):
    opt = STLSQ(threshold=lam, alpha=0.05, max_iter=20)
    opt.fit(np.asarray(theta), deriv)
    for i, eq in enumerate(names):
        for j, c in enumerate(opt.coef_[i]):
            if c != 0:
                print(f"{lam!r} {j} {eq} {float(c)!r}")
