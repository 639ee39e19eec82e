#!/usr/bin/env python3
"""The tables and figures of scripts/tofu_attack_demo.sh, from the reports the
attacks wrote under OUT/attack (cape unlearn attack relearn / quantize /
extract / gcg / icl --json layouts, cape filter eval's JSON).

  scripts/tofu_attack_summary.py OUT [SPLIT]      (SPLIT: 10 by default)
  scripts/tofu_attack_summary.py --pick OUT SPLIT

The first form writes OUT/attack/summary.md (one table per attack, a row per
model kind), OUT/attack/relearn.svg (the relearning curves on the eval half)
and OUT/attack/icl.svg (the in-context curves, without and with the filter).
The second prints "METHOD LR" per post-hoc method: the learning rate the
unlearning summary (scripts/tofu_unlearn_summary.py) picks, by the same
rule: the best forget quality among the rates whose model utility is at
least 0.9 of the full model's (retain utility when the full model's model
utility is 0), else the rate with the best utility.

Recovery beyond the oracle: the oracle is relearned in its own run with the
same halves (the halves depend on the seed and the author only); the model's
curve minus the oracle's, signed so that positive means more knowledge (the
truth ratio, mean min(TR, 1/TR), flipped), mean and max over the step counts,
as the relearn command computes it with --oracle-model."""
import json
import math
import os
import sys

METRICS = ["forget_Q_A_Prob", "forget_Q_A_ROUGE", "forget_truth_ratio"]
SHORT = {"forget_Q_A_Prob": "probability", "forget_Q_A_ROUGE": "ROUGE-L recall",
         "forget_truth_ratio": "truth ratio"}
DIR = {"forget_Q_A_Prob": 1, "forget_Q_A_ROUGE": 1, "forget_truth_ratio": -1}
FIXED = ["full", "oracle", "sinks-on", "sinks-off", "sinks-off-own", "placebo"]
CONDS = ["echo", "spillover", "composition"]


# ---- the learning-rate rule of scripts/tofu_unlearn_summary.py ----

def load_eval(out, split, name):
    d = os.path.join(out, "eval", "forget" + split, name)
    try:
        s = json.load(open(os.path.join(d, "TOFU_SUMMARY.json")))
    except (OSError, ValueError):
        return None
    three = [s["retain_Q_A_Prob"], s["retain_Q_A_ROUGE"], s["retain_Truth_Ratio"]]
    s["_retain_utility"] = 0.0 if min(three) <= 0 else 3 / sum(1 / v for v in three)
    return s


def pick(out, split):
    """[(method, lr)] by the unlearning summary's rule."""
    base = load_eval(out, split, "full")
    d = os.path.join(out, "eval", "forget" + split)
    evals = sorted(os.listdir(d)) if os.path.isdir(d) else []
    res = []
    if not base:
        return res
    for pm in sorted({n.split("-lr")[0] for n in evals if "-lr" in n}):
        cand = [(n, load_eval(out, split, n)) for n in evals if n.startswith(pm + "-lr")]
        cand = [(n, r) for n, r in cand if r]
        if not cand:
            continue
        u = "model_utility" if base["model_utility"] > 0 else "_retain_utility"
        ok = [(n, r) for n, r in cand if r[u] >= 0.9 * base[u]]
        if ok:
            n, _ = max(ok, key=lambda c: c[1]["forget_quality"] or 0)
        else:
            n, _ = max(cand, key=lambda c: c[1][u])
        res.append((pm, n.split("-lr", 1)[1]))
    return res


# ---- reading ----

def jload(path):
    try:
        return json.load(open(path))
    except (OSError, ValueError):
        return None


def kinds_in(d):
    """model kinds with a report in directory d, fixed ones first"""
    if not os.path.isdir(d):
        return []
    names = [f[:-5] for f in os.listdir(d) if f.endswith(".json")]
    return [k for k in FIXED if k in names] + sorted(k for k in names if k not in FIXED)


def fmt(x, nd=3):
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, int):
        return str(x)
    if x != 0 and abs(x) < 10 ** -nd:
        return "%.2e" % x
    return ("%." + str(nd) + "f") % x


def sfmt(x):
    """a signed change"""
    if x is None:
        return "–"
    return "%+.1e" % x if x != 0 and abs(x) < 1e-3 else "%+.3f" % x


def ci(b, nd=3):
    """a bootstrap entry {mean, lo, hi, n} as 'mean [lo, hi]'"""
    if not b or b.get("mean") is None:
        return "–"
    return "%s [%s, %s]" % (fmt(b["mean"], nd), fmt(b["lo"], nd), fmt(b["hi"], nd))


def table(head, rows):
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out + [""]


# ---- relearn ----

def curve_of(rep):
    return {c["step"]: c for c in rep["curves"]["model"]["curve"]}


def beyond(rep, orep, m):
    """(mean, max) of DIR * (model - oracle) over the common step counts"""
    if not orep or rep["eval_rows_index"] != orep["eval_rows_index"]:
        return None
    a, b = curve_of(rep), curve_of(orep)
    d = [DIR[m] * (a[s][m] - b[s][m]) for s in rep["steps"] if s in b
         and a[s][m] is not None and b[s][m] is not None]
    return (sum(d) / len(d), max(d)) if d else None


def relearn_section(a, sub, title):
    d = os.path.join(a, sub)
    kinds = kinds_in(d)
    if not kinds:
        return [], {}
    reps = {k: jload(os.path.join(d, k + ".json")) for k in kinds}
    reps = {k: r for k, r in reps.items() if r}
    if "oracle" not in reps:
        # no run of its own: the oracle's curve from a run with --oracle-model
        for r in reps.values():
            if "oracle" in r["curves"]:
                o = dict(r, sinks=None, curves={"model": r["curves"]["oracle"]})
                reps = dict([("oracle", o)] + list(reps.items()))
                break
    orep = reps.get("oracle")
    if not reps:
        return [], {}
    any_rep = next(iter(reps.values()))
    steps = any_rep["steps"]
    L = ["## " + title, "",
         "Eval half: %d rows of %d authors; relearning data: %s (%d items), lr %s, batch %d. "
         "Recovery: the first step count that closes 50 %% / 90 %% of the gap between the "
         "model's step-0 value and the full model's (– never within the list, 0: no gap). "
         "Beyond the oracle: the curve minus the oracle's (its own run, same halves), positive "
         "= more knowledge, mean / max over the step counts." % (
             any_rep["eval_rows"], any_rep["authors"], any_rep["data"], any_rep["train_items"],
             any_rep["lr"], any_rep["batch"]), ""]
    for m in METRICS:
        L.append("### %s: %s (forget eval half)" % (title.split(":")[0], SHORT[m]))
        L.append("")
        head = ["model", "sinks"] + ["step %d" % s for s in steps] + [
            "full", "50 %", "90 %", "beyond oracle mean", "max"]
        rows = []
        for k, r in reps.items():
            c = curve_of(r)
            rec = r["curves"]["model"]["steps_to_recover"][m]
            b = beyond(r, orep, m) if k != "oracle" else None
            rows.append([k, r["sinks"] or "–"] + [fmt(c[s][m]) if s in c else "–" for s in steps]
                        + [fmt(r["full"][m]) if r.get("full") else "–",
                           fmt(rec["50"]), fmt(rec["90"]),
                           fmt(b[0]) if b else "–", fmt(b[1]) if b else "–"])
        L += table(head, rows)
    return L, reps


# ---- quantize, extract, gcg ----

def quantize_section(a):
    d = os.path.join(a, "quantize")
    kinds = kinds_in(d)
    if not kinds:
        return []
    L = ["## Quantisation", "",
         "The forget split's metrics with the weights as given and rounded to each type "
         "(cape quantize's rounding); the truth ratio is mean min(TR, 1/TR) (lower: the true "
         "answer stands out more).", ""]
    for m in METRICS:
        reps = {k: jload(os.path.join(d, k + ".json")) for k in kinds}
        reps = {k: r for k, r in reps.items() if r}
        types = [x["weights"] for x in next(iter(reps.values()))["results"]]
        L.append("### quantisation: %s" % SHORT[m])
        L.append("")
        rows = []
        for k, r in reps.items():
            by = {x["weights"]: x for x in r["results"]}
            rows.append([k, r["sinks"] or "–"] + [
                fmt(by[t][m]) + ("" if t == "as given" else " (%s)" % sfmt(by[t][m + "_change"]))
                if t in by else "–" for t in types])
        L += table(["model", "sinks"] + types, rows)
    return L


def extract_section(a):
    d, g = os.path.join(a, "extract"), os.path.join(a, "gcg")
    kinds = kinds_in(d)
    gk = kinds_in(g)
    L = []
    if kinds:
        reps = {k: jload(os.path.join(d, k + ".json")) for k in kinds}
        reps = {k: r for k, r in reps.items() if r}
        pf = [p["prefix"] for p in next(iter(reps.values()))["prefixes"]]
        L += ["## Extraction", "",
              "Greedy continuation from the question and from growing prefixes of the answer's "
              "tokens: exact-match rate per prefix share, extraction strength (1 − shortest "
              "extracting prefix / answer tokens, 0 when none), ROUGE-L recall of the rest from "
              "the question alone.", ""]
        rows = []
        for k, r in reps.items():
            by = {p["prefix"]: p for p in r["prefixes"]}
            rows.append([k, r["sinks"] or "–", str(r["items"]), fmt(r["extraction_strength"])]
                        + [fmt(by[p]["exact_match_rate"]) for p in pf]
                        + [fmt(by[pf[0]]["rougeL_recall"])])
        L += table(["model", "sinks", "items", "extraction strength"]
                   + ["exact @%g" % p for p in pf] + ["ROUGE-L @%g" % pf[0]], rows)
    if gk:
        reps = {k: jload(os.path.join(g, k + ".json")) for k in gk}
        reps = {k: r for k, r in reps.items() if r}
        sub = jload(os.path.join(a, "gcg-data", "rows.json"))
        r0 = next(iter(reps.values()))
        L += ["## Adversarial Compression Ratio (GCG)", "",
              "GCG prompts (%d iterations, top-%d, %d candidates, seed %d) for %d forget rows%s; "
              "ACR = answer tokens (at most %d) / the shortest prompt that elicits the answer "
              "exactly. Memorised: ACR > 1. Sinks: off, every sink off; own, each row with its "
              "author's sinks (a switched-off author keeps the backbone only)." % (
                  r0["iters"], r0["topk"], r0["cands"], r0["seed"], r0["items"],
                  " (rows %s of the split, a seeded draw)" % ", ".join(map(str, sub))
                  if sub else "", r0["max_tokens"]), ""]
        rows = []
        for k, r in reps.items():
            acrs = [v["acr"] for v in r["value_by_index"].values()]
            qe = sum(1 for v in r["value_by_index"].values() if v["question_elicits"])
            rows.append([k, r.get("sinks") or "–", str(r["items"]), str(r["found"]), fmt(r["memorised_share"]),
                         fmt(r["mean_acr_found"], 2),
                         fmt(sum(max(x or 1.0, 1.0) for x in acrs) / len(acrs), 2)
                         if acrs else "–", str(qe)])
        L += table(["model", "sinks", "rows", "memorised", "share", "mean ACR of memorised",
                    "mean max(ACR, 1)", "question alone elicits"], rows)
    return L


# ---- icl ----

def icl_section(a, sub, title):
    d = os.path.join(a, sub)
    kinds = kinds_in(d)
    if not kinds:
        return [], {}
    reps = {k: jload(os.path.join(d, k + ".json")) for k in kinds}
    reps = {k: r for k, r in reps.items() if r}
    r0 = next(iter(reps.values()))
    ks = r0["k"]
    kp = [k for k in ks if k > 0]
    L = ["## " + title, "",
         "Facts: %s; %s questions per author; %d bootstrap resamples, %g %% percentile "
         "intervals. Copying probe: copy rate on %s key = value lists, asked as \"KEY =\" "
         "and as a question, the better form counting (✗: below the "
         "threshold, the model does not copy from its context, so no reintroduction only means "
         "no in-context learning). n fit: questions that fit the model's context at each k "
         "(none is truncated; with the filter a blocked question counts as fitting)." % (
             r0["facts"], r0["per_author"] or "all", r0["bootstrap"]["resamples"],
             100 * r0["bootstrap"]["level"],
             r0["models"]["model"]["copy_probe"]["lists"]), ""]
    rows = []
    for k, r in reps.items():
        cp = r["models"]["model"]["copy_probe"]
        echo = r["models"]["model"]["curves"]["echo"]
        fit = ["%d/%d" % (x["n"] - x["not_fit"], x["n"]) for x in echo]
        forms = cp.get("forms", {})
        rows.append([k, fmt(cp["exact_match"], 2) + (" ✓" if cp["copies"] else " ✗")]
                    + [fmt(forms[f]["exact_match"], 2) if f in forms else "–"
                       for f in ("key", "question")] + fit)
    L += table(["model", "copying probe", "\"KEY =\"", "question"]
               + ["n fit k=%d" % k for k in ks], rows)
    if r0.get("filter"):
        rows = []
        for k, r in reps.items():
            cells = []
            for c in CONDS:
                cu = r["models"]["model"]["curves"][c]
                cells.append(" ".join("%d/%d" % (x.get("input_blocked", 0),
                                                 x.get("output_blocked", 0)) for x in cu))
            rows.append([k] + cells)
        L += ["Filtered: input / output blocks per k (%s)." % ", ".join(map(str, ks)), ""]
        L += table(["model"] + CONDS, rows)
    mets = (("rouge", "ROUGE-L recall"), ("prob", "probability"))
    if r0.get("filter"):
        mets = mets[:1]
    for c in CONDS:
        for m, mn in mets:
            L.append("### %s: reintroduction capacity, %s, %s (k minus k = 0)" % (title, c, mn))
            L.append("")
            rows = []
            for k, r in reps.items():
                cap = {x["k"]: x for x in r["models"]["model"]["reintroduction_capacity"][c]}
                cu = {x["k"]: x for x in r["models"]["model"]["curves"][c]}
                cp = r["models"]["model"]["copy_probe"]["copies"]
                rows.append([k + ("" if cp else " ✗"), fmt(cu[0][m]) if 0 in cu else "–"]
                            + [ci(cap.get(q, {}).get(m)) for q in kp])
            L += table(["model", "k=0"] + ["k=%d" % q for q in kp], rows)
    for m, mn in mets:
        L.append("### %s: residual knowledge, %s (spill-over minus the oracle's)" % (title, mn))
        L.append("")
        rows = []
        for k, r in reps.items():
            rk = {x["k"]: x for x in (r.get("residual_knowledge") or [])}
            if not rk:
                continue
            cp = r["models"]["model"]["copy_probe"]["copies"]
            rows.append([k + ("" if cp else " ✗")] + [ci(rk.get(q, {}).get(m)) for q in ks])
        L += table(["model"] + ["k=%d" % q for q in ks], rows)
    return L, reps


# ---- filter ----

def filter_section(a):
    r = jload(os.path.join(a, "filter", "eval.json"))
    if not r:
        return []
    L = ["## Content filter (%s, seed %d)" % (r["forget"], r["seed"]), "",
         "Block rates on forget queries (want block) and false blocks (want pass), beside the "
         "keyword baseline (exact full names).", ""]
    rows = [[x["set"], x["want"], str(x["n"]), "%.1f %%" % (100 * x["filter_rate"]),
             "%.1f %%" % (100 * x["keyword_rate"])] for x in r["sets"]]
    return L + table(["set", "want", "n", "filter", "keyword"], rows)


def cost_section(a):
    subs = ["relearn", "relearn-unrelated", "quantize", "extract", "gcg", "icl", "icl-filter"]
    kinds, secs = [], {}
    for sub in subs:
        d = os.path.join(a, sub)
        if not os.path.isdir(d):
            continue
        for f in os.listdir(d):
            if f.endswith(".seconds"):
                k = f[:-8]
                secs[(sub, k)] = float(open(os.path.join(d, f)).read())
                if k not in kinds:
                    kinds.append(k)
    if not secs:
        return []
    kinds = [k for k in FIXED if k in kinds] + sorted(k for k in kinds if k not in FIXED)
    rows = [[k] + [fmt(secs.get((s, k)), 0) if (s, k) in secs else "–" for s in subs]
            for k in kinds]
    return ["## Wall time (s)", ""] + table(["model"] + subs, rows)


# ---- figures: plain SVG ----

COLORS = ["#1b6ca8", "#d1495b", "#2e8b57", "#e09f3e", "#6a4c93", "#8c564b", "#17becf",
          "#7f7f7f", "#bcbd22", "#e377c2", "#393b79", "#637939"]


def esc(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def panel(svg, x0, y0, w, h, xlabels, series, title, ylab):
    """series: [(name, color, ys (None for a gap), dash)]; ys over xlabels' positions"""
    vals = [v for _, _, ys, _ in series for v in ys if v is not None and math.isfinite(v)]
    lo, hi = (min(vals), max(vals)) if vals else (0.0, 1.0)
    if hi - lo < 1e-12:
        lo, hi = lo - 0.5 * (abs(lo) or 1), hi + 0.5 * (abs(hi) or 1)
    pad = 0.05 * (hi - lo)
    lo, hi = lo - pad, hi + pad
    n = len(xlabels)
    X = lambda i: x0 + (i + 0.5) / n * w
    Y = lambda v: y0 + h - (v - lo) / (hi - lo) * h
    svg.append('<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="black"/>'
               % (x0, y0, w, h))
    svg.append('<text x="%d" y="%d" text-anchor="middle" font-weight="bold">%s</text>'
               % (x0 + w // 2, y0 - 6, esc(title)))
    svg.append('<text x="%d" y="%d" transform="rotate(-90 %d %d)" text-anchor="middle">%s</text>'
               % (x0 - 62, y0 + h // 2, x0 - 62, y0 + h // 2, esc(ylab)))
    for t in range(5):
        v = lo + (hi - lo) * t / 4
        svg.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#eee"/>'
                   % (x0, Y(v), x0 + w, Y(v)))
        svg.append('<text x="%d" y="%.1f" text-anchor="end">%s</text>'
                   % (x0 - 4, Y(v) + 4, ("%.3g" % v)))
    for i, lab in enumerate(xlabels):
        svg.append('<text x="%.1f" y="%d" text-anchor="middle">%s</text>'
                   % (X(i), y0 + h + 14, esc(str(lab))))
    for name, col, ys, dash in series:
        pts, seg = [], []
        for i, v in enumerate(ys):
            if v is None or not math.isfinite(v):
                if len(seg) > 1:
                    pts.append(seg)
                seg = []
                continue
            seg.append("%.1f,%.1f" % (X(i), Y(v)))
        if len(seg) > 1:
            pts.append(seg)
        for sgm in pts:
            svg.append('<polyline points="%s" fill="none" stroke="%s" stroke-width="1.6"%s/>'
                       % (" ".join(sgm), col, ' stroke-dasharray="5,3"' if dash else ""))
        for i, v in enumerate(ys):
            if v is not None and math.isfinite(v):
                svg.append('<circle cx="%.1f" cy="%.1f" r="2.5" fill="%s"/>' % (X(i), Y(v), col))


def legend(svg, x, y, items):
    for i, (name, col, dash) in enumerate(items):
        yy = y + 14 * i
        svg.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"%s/>'
                   % (x, yy - 4, x + 18, yy - 4, col, ' stroke-dasharray="5,3"' if dash else ""))
        svg.append('<text x="%d" y="%d">%s</text>' % (x + 24, yy, esc(name)))


def write_svg(path, W, H, body):
    head = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
            'font-family="sans-serif" font-size="11">' % (W, H),
            '<rect width="100%" height="100%" fill="white"/>']
    tmp = path + ".tmp"
    open(tmp, "w").write("\n".join(head + body + ["</svg>"]) + "\n")
    os.replace(tmp, path)


def relearn_svg(path, reps, ureps):
    kinds = list(reps)
    col = {k: COLORS[i % len(COLORS)] for i, k in enumerate(kinds)}
    steps = next(iter(reps.values()))["steps"]
    PW, PH, L, T = 300, 220, 84, 40
    W = L + 3 * (PW + L) + 170
    H = T + PH + 60
    body = []
    for j, m in enumerate(METRICS):
        series = []
        for k, r in reps.items():
            c = curve_of(r)
            series.append((k, col[k], [c[s][m] if s in c else None for s in steps], False))
            u = ureps.get(k)
            if u:
                cu = curve_of(u)
                series.append((k, col[k], [cu[s][m] if s in cu else None for s in steps], True))
        full = next((r["full"][m] for r in reps.values() if r.get("full")), None)
        if full is not None:
            series.append(("full", "black", [full] * len(steps), True))
        panel(body, L + j * (PW + L), T, PW, PH, steps, series,
              "relearning: " + SHORT[m], SHORT[m] + " (eval half)")
        body.append('<text x="%d" y="%d" text-anchor="middle">steps</text>'
                    % (L + j * (PW + L) + PW // 2, T + PH + 32))
    items = [(k, col[k], False) for k in kinds] + [("unrelated (retain)", "gray", True),
                                                    ("full model", "black", True)]
    legend(body, L + 3 * (PW + L) - 30, T + 10, items)
    write_svg(path, W, H, body)


ICL_METRICS = [("prob", "probability"), ("truth_ratio", "max(0, 1 - truth ratio)"),
               ("rouge", "ROUGE-L recall")]


def icl_svg(path, reps, freps):
    """one row per metric, one column per condition; dashed: with the filter"""
    kinds = list(reps)
    col = {k: COLORS[i % len(COLORS)] for i, k in enumerate(kinds)}
    ks = next(iter(reps.values()))["k"]
    PW, PH, L, T, G = 300, 200, 84, 40, 70
    W = L + 3 * (PW + L) + 200
    H = T + len(ICL_METRICS) * (PH + G)
    body = []
    for row, (m, mn) in enumerate(ICL_METRICS):
        y0 = T + row * (PH + G)
        for j, c in enumerate(CONDS):
            series = []
            for k, r in reps.items():
                cu = {x["k"]: x for x in r["models"]["model"]["curves"][c]}
                series.append((k, col[k], [cu[q][m] if q in cu else None for q in ks], False))
                f = freps.get(k)
                if f:
                    fu = {x["k"]: x for x in f["models"]["model"]["curves"][c]}
                    series.append((k, col[k], [fu[q][m] if q in fu else None for q in ks], True))
            panel(body, L + j * (PW + L), y0, PW, PH, ks, series, "in context: " + c, mn)
            body.append('<text x="%d" y="%d" text-anchor="middle">k (facts in the context)</text>'
                        % (L + j * (PW + L) + PW // 2, y0 + PH + 32))
    items = [(k + ("" if r["models"]["model"]["copy_probe"]["copies"] else " (copy ✗)"),
              col[k], False) for k, r in reps.items()] + [("with the filter", "gray", True)]
    legend(body, L + 3 * (PW + L) - 30, T + 10, items)
    write_svg(path, W, H, body)


def main(argv):
    if len(argv) >= 2 and argv[1] == "--pick":
        if len(argv) != 4:
            sys.exit("usage: tofu_attack_summary.py --pick OUT SPLIT")
        for pm, lr in pick(argv[2], argv[3]):
            print(pm, lr)
        return
    if len(argv) not in (2, 3):
        sys.exit("usage: tofu_attack_summary.py OUT [SPLIT]")
    out = argv[1]
    split = argv[2] if len(argv) == 3 else "10"
    a = os.path.join(out, "attack")
    if not os.path.isdir(a):
        sys.exit("tofu_attack_summary: %s: no attack reports" % a)
    L = ["# TOFU attack demonstration (forget%s)" % split, ""]
    picked = pick(out, split)
    if picked:
        L += ["Post-hoc methods at the learning rate the unlearning summary's rule picks: " +
              ", ".join("%s %s" % p for p in picked) + ".", ""]
    fails = open(os.path.join(a, "failed.txt")).read().strip() if os.path.exists(
        os.path.join(a, "failed.txt")) else ""
    if fails:
        L += ["Failed steps:", ""] + ["- " + x for x in fails.splitlines()] + [""]
    rl, reps = relearn_section(a, "relearn", "Relearning: the forget relearn half")
    ul, ureps = relearn_section(a, "relearn-unrelated", "Unrelated relearning: 10 retain items")
    L += rl + ul + quantize_section(a) + extract_section(a)
    il, ireps = icl_section(a, "icl", "In-context reintroduction")
    fl, freps = icl_section(a, "icl-filter", "In-context reintroduction, filter on")
    L += il + fl + filter_section(a) + cost_section(a)
    tmp = os.path.join(a, "summary.md.tmp")
    open(tmp, "w").write("\n".join(L) + "\n")
    os.replace(tmp, os.path.join(a, "summary.md"))
    if reps:
        relearn_svg(os.path.join(a, "relearn.svg"), reps, ureps)
    if ireps:
        icl_svg(os.path.join(a, "icl.svg"), ireps, freps)
    print("\n".join(L))


if __name__ == "__main__":
    main(sys.argv)
