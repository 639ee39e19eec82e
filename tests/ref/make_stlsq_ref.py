#!/usr/bin/env python3
"""Reference STLSQ fits for tests/unit/test_regress.c, from PySINDy's STLSQ
optimizer (pip install pysindy) on fixed design matrices.

Format per case: "case NAME m n q threshold alpha", then m lines of A, m lines
of Y, then n lines of the fitted coefficients (n x q).
Run: python3 tests/ref/make_stlsq_ref.py > tests/ref/stlsq_pysindy.txt
"""
import numpy as np
import pysindy
from pysindy.optimizers import STLSQ

rng = np.random.RandomState(7)


def case(name, m, n, q, threshold, alpha, density):
    A = np.round(rng.uniform(-1, 1, size=(m, n)), 3)
    truth = np.where(rng.uniform(size=(n, q)) < density, np.round(rng.uniform(-2, 2, (n, q)), 2), 0)
    Y = np.round(A @ truth + 0.01 * rng.standard_normal((m, q)), 4)
    opt = STLSQ(threshold=threshold, alpha=alpha, max_iter=20)
    opt.fit(A, Y)
    coef = opt.coef_.T  # n x q
    print(f"case {name} {m} {n} {q} {threshold!r} {alpha!r}")
    for M in (A, Y, coef):
        for row in M:
            print(" ".join(repr(float(v)) for v in row))


print(f"# pysindy {pysindy.__version__}, numpy {np.__version__}")
case("overdetermined", 12, 6, 2, 0.1, 0.05, 0.4)
case("underdetermined", 7, 20, 3, 0.1, 0.05, 0.15)
case("strong_threshold", 10, 5, 2, 0.8, 0.05, 0.6)
case("no_ridge", 9, 4, 1, 0.05, 0.0, 0.7)
