"""The computations of `make demo` after `cape diagnose` (which
bench/peer_diagnose.py covers), written the way a researcher would with
numpy, scipy, PySINDy and matplotlib, as a speed peer for bench/bench_demo.sh:
the linear ODE on Pythia set A (solve_ivp RK45 on a 200-point grid), SINDy
with its lambda sweep, the U-curve and ODE hold-outs with polynomial
baselines, the frontier fit with leave-one-lab-out (two tables), PCA with a
1000-resample family-stratified bootstrap (two tables), and an HTML page of
eight matplotlib SVG figures. It exists only to be timed against cape.
Usage: python3 bench/peer_demo.py DATA_DIR OUT.html"""
import csv, io, sys, warnings
import numpy as np
from scipy import stats
from scipy.integrate import solve_ivp
import matplotlib
matplotlib.use("svg")
warnings.filterwarnings("ignore")
import matplotlib.pyplot as plt

D = sys.argv[1] + "/benchmarks/"
K = ["hellaswag", "truthfulqa", "arc", "winogrande", "mmlu"]


def rows(name):
    return list(csv.DictReader(open(D + name)))


def num(r, k):
    v = r.get(k, "")
    return float(v) if v not in ("", None) else np.nan


def linear_ode(t, B):
    dB = np.diff(B, axis=0) / np.diff(t)[:, None]
    X = np.hstack([(B[1:] + B[:-1]) / 2, np.ones((len(t) - 1, 1))])
    coef = np.linalg.lstsq(X, dB, rcond=None)[0]
    return coef[:-1].T, coef[-1]


def integrate(C, c, t, b0):
    grid = np.linspace(t[0], t[-1], 200)
    sol = solve_ivp(lambda _, y: C @ y + c, (t[0], t[-1]), b0, t_eval=grid)
    return grid, sol.y, np.array([np.interp(t, grid, sol.y[i]) for i in range(len(b0))]).T


figs = []


def fig():
    f, ax = plt.subplots(figsize=(6, 4.2))
    figs.append(f)
    return ax


# ODE on set A, in-sample, and SINDy over lambda
a = rows("paper/pythia_set_a.csv")
t = np.log10([float(r["params"]) for r in a])
B = np.array([[float(r[k]) for k in K] for r in a])
C, c = linear_ode(t, B)
grid, curve, pred = integrate(C, c, t, B[0])
err = np.abs(pred - B).mean(0) / B.mean(0) * 100
ax = fig()
for i in range(5):
    ax.plot(10 ** grid, curve[i]); ax.scatter(10 ** t, B[:, i])
ax.set_xscale("log")
try:
    import pysindy as ps
    mid = (B[1:] + B[:-1]) / 200
    der = np.diff(B / 100, axis=0) / np.diff(t)[:, None]
    theta = ps.PolynomialLibrary(degree=3).fit(mid).transform(mid)
    for lam in np.logspace(-2, 0, 13):
        ps.STLSQ(threshold=lam, alpha=0.05).fit(np.asarray(theta), der)
except ImportError:
    pass

# hold-outs: U-curve and polynomial baselines on set B, the ODE on Llama-2
b = rows("paper/set_b_14.csv")
fam = np.array([r["family"] for r in b])
x = np.log10([float(r["params"]) for r in b])
tq = np.array([float(r["truthfulqa"]) for r in b])
tr, te = fam != "Llama-2", fam == "Llama-2"
mape = [np.mean(np.abs(np.polyval(np.polyfit(x[tr], tq[tr], d), x[te]) - tq[te]) / tq[te])
        for d in (1, 2, 3, 4)]
ax = fig()
ax.scatter(10 ** x, tq); ax.plot(10 ** np.linspace(7.5, 11, 100),
                                 np.polyval(np.polyfit(x[tr], tq[tr], 2), np.linspace(7.5, 11, 100)))
ax.set_xscale("log")
l2 = rows("paper/llama2_5bench.csv")
tl = np.log10([float(r["params"]) for r in l2])
L = np.array([[float(r[k]) for k in K] for r in l2])
integrate(C, c, tl, L[0])

# frontier: the paper's panel and reasoning vs SimpleQA


def frontier(rs, kx, ky):
    rs = [r for r in rs if r.get("primary", "1") != "0" and r.get(kx) and r.get(ky)]
    xs = np.array([float(r[kx]) for r in rs]); ys = np.array([float(r[ky]) for r in rs])
    labs = np.array([r["lab"] for r in rs])
    fit = stats.linregress(xs, ys)
    lolo = []
    for lab in set(labs):
        m = labs == lab
        if m.sum() >= 4:
            s, i = np.polyfit(xs[~m], ys[~m], 1)
            lolo.append(np.mean(np.abs(ys[m] - (s * xs[m] + i))))
            np.polyfit(xs[m], ys[m], 1)
    top = np.argsort(-xs)[:5]
    sigma = np.ptp(xs[top]) / np.ptp(ys[top])
    return xs, ys, fit, np.mean(lolo) if lolo else None, sigma


xs, ys, fit, lolo, sigma = frontier(rows("paper/paper_frontier_34_swe_gpqa.csv"),
                                    "swe_bench_verified", "gpqa_diamond")
ax = fig()
ax.scatter(xs, ys); ax.plot(xs, fit.slope * xs + fit.intercept)
ax.fill_between(np.sort(xs), fit.slope * np.sort(xs) + fit.intercept - 10,
                fit.slope * np.sort(xs) + fit.intercept + 10, alpha=0.2)
frontier(rows("frontier.csv"), "gpqa_diamond", "simpleqa")

# PCA with a family-stratified bootstrap of d_eff


def deff(X, corr):
    m = np.corrcoef(X.T) if corr else np.cov(X.T)
    w = np.clip(np.linalg.eigvalsh(m), 0, None)
    return w.sum() ** 2 / (w ** 2).sum(), w[::-1]


def boot(X, families, corr):
    rs = np.random.RandomState(42)
    groups = [np.flatnonzero(families == f) for f in dict.fromkeys(families)]
    out = []
    for _ in range(1000):
        idx = np.concatenate([g[rs.randint(0, len(g), len(g))] for g in groups])
        with np.errstate(all="ignore"):
            d, _ = deff(X[idx], corr)
        if np.isfinite(d):
            out.append(d)
    return np.percentile(out, [2.5, 97.5])


boot(B, np.array(["pythia"] * len(B)), True)
p63 = [r for r in rows("paper/paper_base_63.csv") if all(r[k] for k in K)]
X = np.array([[float(r[k]) for k in K] for r in p63])
boot(X, np.array([r["paper_family"] for r in p63]), False)
ax = fig()
ax.semilogy(range(1, 6), deff(B, True)[1] / 5, marker="s")
ax = fig()
ax.hist(np.random.RandomState(0).lognormal(22, 0.3, 10000), bins=45)
for _ in range(3):
    ax = fig()
    ax.scatter(B[:, 0], B[:, 1])

# the page
html = io.StringIO()
html.write("<!DOCTYPE html><html><head><meta charset='utf-8'></head><body>")
for f in figs:
    s = io.StringIO()
    f.savefig(s, format="svg")
    html.write(s.getvalue())
html.write("</body></html>")
open(sys.argv[2], "w").write(html.getvalue())
print("ODE %.2f%%, U-curve MAPE %.3f%%, frontier r %.5f" % (
    np.abs(pred - B).mean() / B.mean() * 100, 100 * mape[1], fit.rvalue))
