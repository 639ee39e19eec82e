#!/usr/bin/env python3
"""The table and figure of scripts/tofu_sink_sweep.sh: per sink layout, what
switching the 20 forget10 authors off does (forget quality against the
oracle, forget ROUGE and truth ratio) beside the placebo (20 random other
authors off), and what it costs the retained authors (collateral).

  scripts/tofu_sweep_summary.py OUT sinks sweep-k4-p0.5 ...

Collateral is the retain split's mean answer loss (-log of the length-
normalised probability) with the authors switched off, minus the same model
with every author on: the knowledge of kept authors the switch destroys. The
same number for the placebo separates pool overlap from forgotten content.
Writes OUT/sweep.md and OUT/sweep.svg (forget quality, log scale, against
collateral; one point per layout, switched off and placebo)."""
import json
import math
import os
import sys

from tofu_eval_json import load_eval

out, names = sys.argv[1], sys.argv[2:]


def load(name, kind):
    return load_eval(os.path.join(out, "sweep", name, kind))


def layout(name):
    """(k, p_gen, pool units) of the model, from its training record."""
    try:
        if name == "sinks":
            return 32, 0.5, 256
        k, p = name.split("-k")[1].split("-p")
        return int(k), float(p), 512 - int(512 * float(p))
    except (IndexError, ValueError):
        return None, None, None


def pool(name, kind):
    try:
        return json.load(open(os.path.join(out, "models", "%s-%s10.json" % (name, kind))))[
            "pool_fraction_off"]
    except (OSError, KeyError, ValueError):
        return None


def fmt(x, nd=3):
    if x is None:
        return "–"
    if isinstance(x, float) and x != 0 and abs(x) < 1e-3:
        return "%.2e" % x
    return ("%." + str(nd) + "f") % x


lines = ["# Sink layout sweep (TOFU forget10, 20 authors switched off)", "",
         "| layout | k | p_gen | pool | pool off | forget quality off ↑ | placebo ↑ | "
         "forget ROUGE on / off / placebo | forget truth ratio off / placebo | "
         "collateral off | collateral placebo | retain ROUGE on |",
         "|---|---|---|---|---|---|---|---|---|---|---|---|"]
points = []
for name in names:
    on, off, pl = load(name, "on"), load(name, "off"), load(name, "placebo")
    if not (on and off and pl):
        continue
    k, p, n_pool = layout(name)
    c_off = off["_retain_nll"] - on["_retain_nll"]
    c_pl = pl["_retain_nll"] - on["_retain_nll"]
    frac = pool(name, "off")
    lines.append("| %s | %s | %s | %s | %s | %s | %s | %s / %s / %s | %s / %s | %s | %s | %s |" % (
        name, k, p, n_pool, "–" if frac is None else "%.1f%%" % (100 * frac),
        fmt(off["forget_quality"]), fmt(pl["forget_quality"]),
        fmt(on["forget_Q_A_ROUGE"]), fmt(off["forget_Q_A_ROUGE"]), fmt(pl["forget_Q_A_ROUGE"]),
        fmt(off["forget_truth_ratio"]), fmt(pl["forget_truth_ratio"]),
        fmt(c_off), fmt(c_pl), fmt(on["retain_Q_A_ROUGE"])))
    points.append((name, c_off, off["forget_quality"], "off"))
    points.append((name, c_pl, pl["forget_quality"], "placebo"))
open(os.path.join(out, "sweep.md"), "w").write("\n".join(lines) + "\n")

W, H, L, B = 640, 420, 60, 50
xs = [p[1] for p in points] or [0, 1]
ys = [math.log10(max(p[2] or 1e-30, 1e-30)) for p in points] or [-3, 0]
x0, x1 = min(xs + [0]) - 0.05, max(xs) + 0.05
y0, y1 = min(ys + [-3]) - 0.2, 0.1
X = lambda v: L + (v - x0) / (x1 - x0 or 1) * (W - L - 20)
Y = lambda v: H - B - (v - y0) / (y1 - y0 or 1) * (H - B - 20)
svg = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" '
       'font-size="11">' % (W, H),
       '<rect width="100%" height="100%" fill="white"/>',
       '<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>' % (L, H - B, W - 20, H - B),
       '<line x1="%d" y1="20" x2="%d" y2="%d" stroke="black"/>' % (L, L, H - B),
       '<text x="%d" y="%d" text-anchor="middle">collateral: retained authors\' answer loss '
       '(switched off − all on)</text>' % ((L + W) // 2, H - 12),
       '<text x="14" y="%d" transform="rotate(-90 14 %d)" text-anchor="middle">forget quality '
       '(log10)</text>' % ((H - B) // 2, (H - B) // 2)]
for k in range(int(math.floor(y0)), 1):
    svg.append('<text x="%d" y="%.1f" text-anchor="end">%d</text>' % (L - 6, Y(k) + 4, k))
    svg.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>' % (L, Y(k), W - 20, Y(k)))
for t in range(6):
    v = x0 + (x1 - x0) * t / 5
    svg.append('<text x="%.1f" y="%d" text-anchor="middle">%.2f</text>' % (X(v), H - B + 16, v))
col = {"off": "#d1495b", "placebo": "#888888"}
for name, c, fq, kind in points:
    y = math.log10(max(fq or 1e-30, 1e-30))
    svg.append('<circle cx="%.1f" cy="%.1f" r="4" fill="%s"/>' % (X(c), Y(y), col[kind]))
    svg.append('<text x="%.1f" y="%.1f" fill="%s">%s</text>' % (X(c) + 6, Y(y) + 4, col[kind],
                                                                 name.replace("sweep-", "")))
for i, kind in enumerate(("off", "placebo")):
    svg.append('<text x="%d" y="%d" fill="%s">%s</text>' % (W - 110, 34 + 14 * i, col[kind],
                                                            "forget authors off" if kind == "off"
                                                            else "placebo"))
svg.append("</svg>")
open(os.path.join(out, "sweep.svg"), "w").write("\n".join(svg) + "\n")
print("\n".join(lines))
