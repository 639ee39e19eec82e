#!/usr/bin/env python3
"""Reference for tests/unit/test_falsify.c: the six stress tests of
`cape falsify` written independently with numpy/scipy on a small table.

Writes tests/ref/falsify/tiny.csv (three families drawn once from a fixed
numpy seed, one size repeated to exercise the averaging) and
tests/ref/falsify/ref.json (every statistic). The random streams are numpy's
legacy RandomState, as cape documents them: each test starts its own
RandomState(seed); bootstrap resamples are rs.choice(n, n); the null model
draws rs.standard_normal(n) for reasoning then truth, family by family; the
pooled permutation shuffles each family's index array in turn with
rs.shuffle; the width null draws rs.random_sample(n) per family and draw.

Run: python3 tests/ref/make_falsify_ref.py   (needs numpy and scipy)
"""
import csv
import itertools
import json
import math
import os

import numpy as np
from scipy import stats

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "falsify")
OPT = dict(seed=7, nboot=2000, stab_boot=500, nsim=2000, nperm=2000, nwidth=2000,
           skip=0.5, vlo=7.0, vhi=12.0, nc_below=2e9, pub_lo=2.9e9, pub_hi=13.4e9,
           null_degree=2, d_ref=512.0)


def make_table():
    rs = np.random.RandomState(2024)
    fams = {
        "Alpha": [1e8, 3e8, 1e9, 3e9, 1e10, 3e10, 3e10],
        "Beta": [2e8, 6e8, 2e9, 6e9, 2e10],
        "Gamma": [1.5e8, 7e8, 4e9, 1.6e10],
    }
    rows = []
    for k, (fam, sizes) in enumerate(fams.items()):
        for j, n in enumerate(sizes):
            x = math.log10(n)
            hs = 25 + 12 * (x - 8) + rs.normal(0, 1.5) + 2 * k
            tqa = 38 + 2.2 * (x - 9.6) ** 2 + rs.normal(0, 1.0) - k
            arc = 20 + 8 * (x - 8) + rs.normal(0, 1.0)
            wg = 50 + 4 * (x - 8) + rs.normal(0, 1.0)
            dm = 256 * 2 ** (j + k % 2)
            rows.append([f"{fam.lower()}-{n / 1e9:g}b-{j}", fam, f"{n:g}", str(dm),
                         f"{hs:.2f}", f"{tqa:.2f}", f"{arc:.2f}", f"{wg:.2f}"])
    with open(os.path.join(OUT, "tiny.csv"), "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["model", "family", "params", "d_model", "hellaswag", "truthfulqa", "arc",
                    "winogrande"])
        w.writerows(rows)


def load():
    rows = list(csv.DictReader(open(os.path.join(OUT, "tiny.csv"))))
    fams = []
    for name in dict.fromkeys(r["family"] for r in rows):
        rr = sorted((r for r in rows if r["family"] == name), key=lambda r: float(r["params"]))
        pts = {}
        for r in rr:
            pts.setdefault(float(r["params"]), []).append(r)
        x, hs, tq, dm = [], [], [], []
        for n, group in sorted(pts.items()):
            x.append(math.log10(n))
            hs.append(np.mean([float(g["hellaswag"]) for g in group]))
            tq.append(np.mean([float(g["truthfulqa"]) for g in group]))
            dm.append(np.mean([float(g["d_model"]) for g in group]))
        fams.append(dict(name=name, x=np.array(x), r=np.array(hs), t=np.array(tq),
                         dm=np.array(dm)))
    return fams


def family_nc(x, r, t, skip):
    g = []
    for i in range(len(x) - 1):
        dr = r[i + 1] - r[i]
        g.append(((x[i] + x[i + 1]) / 2, (t[i + 1] - t[i]) / dr if abs(dr) > skip else None))
    last = None
    for xm, gm in g:
        if gm is None:
            continue
        if gm < 0:
            last = (xm, gm)
        elif gm > 0 and last is not None:
            return last[0] + (xm - last[0]) * (-last[1]) / (gm - last[1])
    return None


def pooled_zero(x, r, t, order, skip):
    gx, gg = [], []
    for a, b in zip(order[:-1], order[1:]):
        dr = r[b] - r[a]
        if abs(dr) <= skip:
            continue
        gx.append((x[a] + x[b]) / 2)
        gg.append((t[b] - t[a]) / dr)
    if len(gx) < 3 or np.ptp(gx) == 0:
        return None
    s, i = np.polyfit(gx, gg, 1)
    return -i / s if s > 0 else None


def vertex(x, y):
    if len(set(x.tolist())) < 3:
        return None
    a, b, _ = np.polyfit(x, y, 2)
    return -b / (2 * a) if a > 0 else None


def inr(v):
    return v is not None and OPT["vlo"] < v < OPT["vhi"]


def pct(v, q):
    return float(np.percentile(v, q)) if len(v) else None


def ushape(x, r, t, pooled):
    n = len(x)
    order = sorted(range(n), key=lambda i: (x[i], i))
    out = dict(nc_log=(pooled_zero(x, r, t, order, OPT["skip"]) if pooled
                       else family_nc(x, r, t, OPT["skip"])),
               vertex_log=vertex(x, t) if n >= 4 else None)
    if n < 4:
        return out
    rs = np.random.RandomState(OPT["seed"])
    nb, vb, db = [], [], []
    for _ in range(OPT["nboot"]):
        idx = rs.choice(n, n)
        v = vertex(x[idx], t[idx])
        drawn = set(idx.tolist())
        if pooled:
            z = pooled_zero(x, r, t, [i for i in order if i in drawn], OPT["skip"])
        else:
            keep = sorted(drawn)
            z = family_nc(x[keep], r[keep], t[keep], OPT["skip"])
        hv, hz = inr(v), inr(z)
        if hv:
            vb.append(v)
        if hz:
            nb.append(z)
        if hv and hz:
            db.append(z - v)
    out.update(n_nc=len(nb), n_vertex=len(vb), n_both=len(db), nc_med=pct(nb, 50),
               nc_lo=pct(nb, 2.5), nc_hi=pct(nb, 97.5), vertex_med=pct(vb, 50),
               diff_med=pct(db, 50), diff_lo=pct(db, 2.5), diff_hi=pct(db, 97.5))
    return out


def trend(x, y, deg):
    c = np.polyfit(x, y, deg)
    mu = np.polyval(c, x)
    dof = len(x) - deg - 1
    return mu, math.sqrt(np.sum((y - mu) ** 2) / dof)


def null_model(fams, r_below_obs, flips_obs):
    mus, sds = [], []
    for f in fams:
        deg = max(0, min(OPT["null_degree"], len(f["x"]) - 2))
        mr, sr = trend(f["x"], f["r"], deg)
        mt, st = trend(f["x"], f["t"], deg)
        mus.append((mr, mt))
        sds.append((sr, st))
    x = np.concatenate([f["x"] for f in fams])
    below = x < math.log10(OPT["nc_below"])
    plo, phi = math.log10(OPT["pub_lo"]), math.log10(OPT["pub_hi"])
    rs = np.random.RandomState(OPT["seed"])
    flips = np.zeros(len(fams))
    c_flips = c_below = c_vertex = total_flips = 0
    for _ in range(OPT["nsim"]):
        R, T, nf = [], [], 0
        for k, f in enumerate(fams):
            n = len(f["x"])
            r = mus[k][0] + sds[k][0] * rs.standard_normal(n)
            t = mus[k][1] + sds[k][1] * rs.standard_normal(n)
            fl = family_nc(f["x"], r, t, OPT["skip"]) is not None
            flips[k] += fl
            nf += fl
            R.append(r)
            T.append(t)
        R, T = np.concatenate(R), np.concatenate(T)
        total_flips += nf
        c_flips += nf >= flips_obs
        c_below += np.corrcoef(R[below], T[below])[0, 1] <= r_below_obs
        v = vertex(x, T)
        c_vertex += v is not None and plo <= v <= phi
    ns = OPT["nsim"]
    return dict(p_flips=c_flips / ns, mean_flips=total_flips / ns, p_r_below=c_below / ns,
                p_vertex_in=c_vertex / ns, p_flip=(flips / ns).tolist(),
                r_sd=[s[0] for s in sds], t_sd=[s[1] for s in sds])


def resid(x, y, deg):
    return y - np.polyval(np.polyfit(x, y, deg), x)


def partial(fams, deg):
    fam_out, er_all, et_all, blocks = [], [], [], []
    for f in fams:
        n = len(f["x"])
        if n < deg + 3:
            fam_out.append(None)
            continue
        er, et = resid(f["x"], f["r"], deg), resid(f["x"], f["t"], deg)
        r = np.corrcoef(er, et)[0, 1]
        dof = n - deg - 2
        tt = r * math.sqrt(dof / (1 - r * r))
        thr = abs(r) * (1 - 1e-9)
        cnt = sum(abs(np.corrcoef(er, et[list(p)])[0, 1]) >= thr
                  for p in itertools.permutations(range(n)))
        fam_out.append(dict(r=r, p_param=2 * stats.t.sf(abs(tt), dof),
                            perm_p=cnt / math.factorial(n)))
        blocks.append((sum(len(b) for b in er_all), n))
        er_all.append(er)
        et_all.append(et)
    er, et = np.concatenate(er_all), np.concatenate(et_all)
    m = len(er)
    r = np.corrcoef(er, et)[0, 1]
    dof = m - len(blocks) * (deg + 1) - 1
    tt = r * math.sqrt(dof / (1 - r * r))
    rs = np.random.RandomState(OPT["seed"])
    perms = [np.arange(n) for _, n in blocks]
    thr = abs(r) * (1 - 1e-9)
    cnt = 0
    for _ in range(OPT["nperm"]):
        ep = et.copy()
        for (s, n), p in zip(blocks, perms):
            rs.shuffle(p)
            ep[s:s + n] = et[s:s + n][p]
        cnt += abs(np.corrcoef(er, ep)[0, 1]) >= thr
    pooled = dict(n=m, r=r, p_param=2 * stats.t.sf(abs(tt), dof),
                  perm_p=(cnt + 1) / (OPT["nperm"] + 1))
    return fam_out, pooled


def width_null(f):
    r, t, dm = f["r"], f["t"], f["dm"]
    n = len(r)
    L = np.log(dm / OPT["d_ref"])
    lo, hi = L.min(), L.max()
    w = dm / OPT["d_ref"]
    r_raw = np.corrcoef(r, t)[0, 1]
    r_norm = np.corrcoef(r / w, t / w)[0, 1]
    rs = np.random.RandomState(OPT["seed"])
    v = []
    for _ in range(OPT["nwidth"]):
        u = np.sort(rs.random_sample(n))
        wf = np.exp(lo + (hi - lo) * (u - u[0]) / (u[-1] - u[0]))
        v.append(np.corrcoef(r / wf, t / wf)[0, 1])
    v = np.array(v)
    return dict(r_raw=r_raw, r_norm=r_norm, mean=v.mean(), p05=pct(v, 5), p95=pct(v, 95),
                p_ge=float(np.mean(v >= r_norm - 1e-12)),
                share=(v.mean() - r_raw) / (r_norm - r_raw))


def vertex_boot_median(x, t, nboot):
    """phase_ucurve_bootstrap: median of N_c = 10^vertex over valid resamples."""
    rs = np.random.RandomState(OPT["seed"])
    v = []
    for _ in range(nboot):
        idx = rs.choice(len(x), len(x))
        z = vertex(x[idx], t[idx])
        if inr(z):
            v.append(10 ** z)
    return pct(v, 50)


def main():
    os.makedirs(OUT, exist_ok=True)
    make_table()
    fams = load()
    ref = dict(options=OPT, families=[])
    for f in fams:
        ref["families"].append(dict(name=f["name"], n=len(f["x"]),
                                    ushape=ushape(f["x"], f["r"], f["t"], False),
                                    flips=family_nc(f["x"], f["r"], f["t"], OPT["skip"])
                                    is not None,
                                    width=width_null(f)))
    X = np.concatenate([f["x"] for f in fams])
    R = np.concatenate([f["r"] for f in fams])
    T = np.concatenate([f["t"] for f in fams])
    ref["pooled_ushape"] = ushape(X, R, T, True)
    below = X < math.log10(OPT["nc_below"])
    r_below = np.corrcoef(R[below], T[below])[0, 1]
    flips_obs = sum(f["flips"] for f in ref["families"])
    ref["null"] = dict(r_below=r_below, n_below=int(below.sum()), flips_obs=flips_obs,
                       **null_model(fams, r_below, flips_obs))
    for deg in (1, 2):
        fo, po = partial(fams, deg)
        ref[f"partial{deg}"] = dict(families=fo, pooled=po)
    stab = dict(all=vertex_boot_median(X, T, OPT["stab_boot"]), fam=[], size=[])
    for k in range(len(fams)):
        keep = [j for j in range(len(fams)) if j != k]
        stab["fam"].append(vertex_boot_median(np.concatenate([fams[j]["x"] for j in keep]),
                                              np.concatenate([fams[j]["t"] for j in keep]),
                                              OPT["stab_boot"]))
    for s in sorted(set(X.tolist())):
        m = X != s
        stab["size"].append(vertex_boot_median(X[m], T[m], OPT["stab_boot"]))
    ref["stability"] = stab
    with open(os.path.join(OUT, "ref.json"), "w") as f:
        json.dump(ref, f, indent=1, default=float)
        f.write("\n")


if __name__ == "__main__":
    main()
