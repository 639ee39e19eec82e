#!/usr/bin/env python3
"""Reference trajectories for tests/unit/test_odeint.c, printed by scipy's
solve_ivp (method RK45, default tolerances unless stated).

Each case: a line "case NAME n neval nfev naccept" then neval lines
"t y_1 ... y_n". Run: python3 tests/ref/make_odeint_ref.py > tests/ref/odeint_rk45.txt
"""
import numpy as np
import scipy
from scipy.integrate import solve_ivp


def lotka(t, y):
    return [1.5 * y[0] - y[0] * y[1], -3.0 * y[1] + y[0] * y[1]]


def vdp(t, y):
    return [y[1], 5.0 * (1 - y[0] ** 2) * y[1] - y[0]]


def decay(t, y):
    return [-0.5 * y[0] + np.sin(3 * t), 0.2 * y[0] - 0.1 * y[1]]


cases = [
    ("lotka", lotka, (0.0, 10.0), [10.0, 5.0], np.linspace(0, 10, 41), {}),
    ("vdp_tight", vdp, (0.0, 6.0), [2.0, 0.0], np.linspace(0, 6, 25), {"rtol": 1e-6, "atol": 1e-9}),
    ("decay_backward", decay, (4.0, 0.5), [1.0, -2.0], np.linspace(4.0, 0.5, 15), {}),
]
print(f"# scipy {scipy.__version__}, numpy {np.__version__}")
for name, f, span, y0, te, kw in cases:
    sol = solve_ivp(f, span, y0, method="RK45", t_eval=te, **kw)
    assert sol.status == 0
    # accepted steps = len(sol.t) when t_eval is None; rerun to count them
    full = solve_ivp(f, span, y0, method="RK45", **kw)
    print(f"case {name} {len(y0)} {len(te)} {sol.nfev} {len(full.t) - 1} "
          f"{kw.get('rtol', 1e-3)!r} {kw.get('atol', 1e-6)!r} {span[0]!r} {span[1]!r}")
    for k in range(len(te)):
        print(" ".join(repr(float(v)) for v in [sol.t[k], *sol.y[:, k]]))
