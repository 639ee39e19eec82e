#!/usr/bin/env python3
"""Family-stratified bootstrap of d_eff, written with numpy, for
tests/cli/test_eigen.sh: numpy's legacy RandomState(42), models redrawn with
replacement within each family (families in order of first appearance, one
randint(0, n_f) call per draw), correlation or covariance matrix, resamples with
a constant benchmark skipped, numpy.percentile's default interpolation.
Prints "valid lo hi" for Pythia set A (correlation) and the paper's 63-model
table (covariance). Run: python3 tests/ref/make_eigen_boot_ref.py
"""
import csv
import os
import numpy as np

here = os.path.dirname(os.path.abspath(__file__))
K = ["hellaswag", "truthfulqa", "arc", "winogrande", "mmlu"]


def load(rel):
    path = os.path.join(here, "..", "..", "data", "benchmarks", "paper", rel)
    rows = [r for r in csv.DictReader(open(path)) if all(r.get(k) for k in K)]
    fam = [r.get("paper_family") or r.get("family") or "all" for r in rows]
    return np.array([[float(r[k]) for k in K] for r in rows]), fam


def deff(x, corr):
    m = np.cov(x.T)
    if corr:
        sd = np.sqrt(np.diag(m))
        if np.any(sd <= 1e-12 * (1 + np.abs(x.mean(0)))):
            return None
        m = m / np.outer(sd, sd)
    elif np.trace(m) <= 0:
        return None
    w = np.clip(np.linalg.eigvalsh(m), 0, None)
    return w.sum() ** 2 / (w ** 2).sum()


def boot(x, fam, corr, n=1000, seed=42):
    order = list(dict.fromkeys(fam))
    members = [[i for i, f in enumerate(fam) if f == g] for g in order]
    rs = np.random.RandomState(seed)
    out = []
    for _ in range(n):
        idx = [m[rs.randint(0, len(m))] for m in members for _ in m]
        d = deff(x[idx], corr)
        if d is not None:
            out.append(d)
    return len(out), np.percentile(out, 2.5), np.percentile(out, 97.5)


x, fam = load("pythia_set_a.csv")
print("set_a_correlation %d %.6f %.6f" % boot(x, fam, True))
x, fam = load("paper_base_63.csv")
print("paper63_covariance %d %.6f %.6f" % boot(x, fam, False))
