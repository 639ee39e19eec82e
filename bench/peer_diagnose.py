"""The computation of `cape diagnose` (all bundled tables) written with numpy
and scipy, as a speed peer: per-family running coupling, Pearson/Spearman with
p-values, exact permutation tests (n <= 10, vectorised over all n! orders) or
100,000 Monte Carlo permutations, the 10,000-resample vertex bootstrap, the
pooled gamma fit with its jackknife, width normalisation and curve_fit loss laws.
It exists only to be timed against cape; it is not part of cape."""
import csv, itertools, math, sys
import numpy as np
from scipy import stats, optimize

TABLES = ["benchmarks/base_models.csv", "benchmarks/pythia_loss.csv",
          "benchmarks/paper/pythia_set_a.csv", "benchmarks/paper/set_b_14.csv",
          "benchmarks/paper/paper_base_63.csv", "benchmarks/paper/llama2_5bench.csv"]
ALIAS = {"hellaswag": "hs", "truthfulqa_mc2": "tqa", "truthfulqa": "tqa", "params_b": "nb",
         "N_B": "nb", "params": "n", "family": "family", "paper_family": "family",
         "d_model": "d", "pile_test_xent": "loss", "loss": "loss"}

def size(s, col):
    s = s.strip()
    mult = {"M": 1e6, "B": 1e9, "K": 1e3, "T": 1e12}.get(s[-1].upper())
    v = float(s[:-1]) * mult if mult else float(s)
    return v * 1e9 if col == "nb" and not mult else v

def load(path):
    rows = []
    for r in csv.DictReader(open(path)):
        m = {"family": "all"}
        for k, v in r.items():
            key = ALIAS.get(k)
            if key is None or v == "":
                continue
            m[key] = v if key == "family" else (size(v, key) if key in ("n", "nb") else float(v))
        if "nb" in m:
            m["n"] = m.pop("nb")
        rows.append(m)
    return rows

PERMS = {}
def perm_p(x, y):
    n = len(x)
    xc, yc = x - x.mean(), y - y.mean()
    obs = xc @ yc
    tol = 1e-9 * np.abs(xc * yc).sum()
    if n <= 10:
        if n not in PERMS:
            PERMS[n] = np.array(list(itertools.permutations(range(n))), dtype=np.int8)
        s = yc[PERMS[n]] @ xc
        return np.mean(np.abs(s) >= abs(obs) - tol)
    rng = np.random.default_rng(42)
    idx = rng.permuted(np.tile(np.arange(n), (100000, 1)), axis=1)
    s = yc[idx] @ xc
    return (np.sum(np.abs(s) >= abs(obs) - tol) + 1) / 100001

def corr(x, y):
    if len(x) < 3:
        return None
    return stats.pearsonr(x, y), stats.spearmanr(x, y), perm_p(x, y)

def vertex_bootstrap(x, y, seed=42, nboot=10000):
    np.random.seed(seed)
    n = len(x)
    idx = np.array([np.random.choice(n, n, replace=True) for _ in range(nboot)])
    X = np.stack([x[idx] ** 2, x[idx], np.ones_like(x[idx])], axis=2)
    XtX = np.einsum("bni,bnj->bij", X, X)
    Xty = np.einsum("bni,bn->bi", X, y[idx])
    # fewer than three distinct sizes make a resample singular: count it invalid
    distinct = np.array([len(set(r)) for r in x[idx]]) >= 3
    XtX[~distinct] = np.eye(3)
    coef = np.linalg.solve(XtX, Xty[..., None])[..., 0]
    a, b = coef[:, 0], coef[:, 1]
    v = -b / (2 * a)
    ok = distinct & (a > 0) & (v > 7) & (v < 12)
    nc = 10 ** v[ok]
    return np.median(nc), np.percentile(nc, [2.5, 16, 84, 97.5]), ok.sum()

def diagnose(rows):
    fams = {}
    for m in rows:
        fams.setdefault(m["family"], []).append(m)
    pooled = []
    for name, ms in fams.items():
        ms = sorted([m for m in ms if "hs" in m and "tqa" in m and "n" in m], key=lambda m: m["n"])
        if len(ms) < 3:
            continue
        hs = np.array([m["hs"] for m in ms]); tq = np.array([m["tqa"] for m in ms])
        dh, dt = np.diff(hs), np.diff(tq)
        g = np.where(np.abs(dh) > 0.5, dt / np.where(dh == 0, 1, dh), np.nan)
        corr(hs, tq)
        if all("d" in m for m in ms):
            w = np.array([m["d"] for m in ms]) / 512
            stats.pearsonr(hs / w, tq / w)
        pooled += ms
    if len(pooled) >= 4:
        x = np.log10([m["n"] for m in pooled]); hs = np.array([m["hs"] for m in pooled])
        tq = np.array([m["tqa"] for m in pooled])
        corr(hs, tq)
        med, ci, valid = vertex_bootstrap(x, tq)
        if len(sys.argv) > 2:
            print(f"{valid} {med:.6g} {ci[0]:.6g} {ci[3]:.6g}")
        o = np.argsort(x, kind="stable")
        dh, dt = np.diff(hs[o]), np.diff(tq[o])
        keep = np.abs(dh) > 0.5
        gx = ((x[o][1:] + x[o][:-1]) / 2)[keep]; gy = (dt / np.where(dh == 0, 1, dh))[keep]
        if len(gx) >= 3:
            stats.linregress(gx, gy)
            [stats.linregress(np.delete(gx, k), np.delete(gy, k)) for k in range(len(gx))]
    for name, ms in fams.items():
        ls = sorted([m for m in ms if "loss" in m and "n" in m], key=lambda m: m["n"])
        if len(ls) >= 4:
            n = np.array([m["n"] for m in ls]); L = np.array([m["loss"] for m in ls])
            try:
                optimize.curve_fit(lambda N, E, A, a: E + A * N ** (-a), n, L,
                                   p0=(1.5, 150, 0.24), maxfev=20000)
            except RuntimeError:
                pass

for t in TABLES:
    diagnose(load(sys.argv[1] + "/" + t))
