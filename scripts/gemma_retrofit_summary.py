#!/usr/bin/env python3
"""The tables of scripts/gemma_retrofit_demo.sh, from the evaluations it wrote
(OUT/eval/<name>/TOFU_SUMMARY.json and TOFU_EVAL.json) and the training runs'
JSON summaries (OUT/models/<name>.json).

  scripts/gemma_retrofit_summary.py OUT FORGET_SOURCES PLACEBO_SOURCES

Writes OUT/summary.md:
  1. the unlearning table: forget quality, model utility, forget truth ratio,
     forget ROUGE, and the answer probabilities of the forget and retain splits;
  2. what fine-tuning costs the base model: the real-authors and world-facts
     numbers (normalised answer probability, ROUGE, truth ratio) and their
     harmonic mean, before (base) and after fine-tuning;
  3. the placebo comparison: the mean answer probability of the forget
     authors, of the placebo authors and of the other retained authors with
     every author's sinks on, with the forget authors switched off and with
     the placebo authors switched off. A switch that removes the author's
     knowledge lowers the switched-off authors' probability much more than
     anyone else's;
  4. training and evaluation times.
Sources are the subset's tofu-NNN names: the retained authors are tofu-001 ..
tofu-R and the forget authors follow; the evaluation's retain split holds the
retained authors interleaved, so its row i is author i % R + 1 (the forget
split likewise)."""
import json
import os
import sys

out, forget_src, placebo_src = sys.argv[1], sys.argv[2].split(","), sys.argv[3].split(",")
MODELS = ["base", "oracle", "plain"] + [f"{r}-{v}" for r in ("rf-frozen", "rf-none")
                                        for v in ("on", "off", "off-routed", "placebo")]
MAIN = [("forget_quality", "forget quality ↑"), ("model_utility", "model utility ↑"),
        ("forget_truth_ratio", "forget truth ratio"), ("forget_Q_A_ROUGE", "forget ROUGE ↓"),
        ("forget_Q_A_Prob", "forget P(answer) ↓"), ("retain_Q_A_Prob", "retain P(answer) ↑"),
        ("retain_Q_A_ROUGE", "retain ROUGE ↑"), ("privleak", "privleak →0")]
UTIL = ["ra_Q_A_Prob_normalised", "ra_Q_A_ROUGE", "ra_Truth_Ratio",
        "wf_Q_A_Prob_normalised", "wf_Q_A_ROUGE", "wf_Truth_Ratio"]


def load(name):
    d = os.path.join(out, "eval", name)
    try:
        return (json.load(open(os.path.join(d, "TOFU_SUMMARY.json"))),
                json.load(open(os.path.join(d, "TOFU_EVAL.json"))))
    except OSError:
        return None


def fmt(x, nd=3):
    if x is None:
        return "–"
    if isinstance(x, float) and x != 0 and abs(x) < 1e-3:
        return "%.2e" % x
    return ("%." + str(nd) + "f") % x


def hmean(xs):
    return 0.0 if min(xs) <= 0 else len(xs) / sum(1 / x for x in xs)


def mean(d, keep):
    v = [p for a, p in d.items() if keep(a)]
    return sum(v) / len(v) if v else None


def author_probs(ev, split, first_author, n_authors):
    """Mean answer probability per source name over a split's rows (row i is
    author first_author + i % n_authors: the demonstration interleaves them)."""
    by = ev[split + "_Q_A_Prob"]["value_by_index"]
    acc = {}
    for k, v in by.items():
        name = "tofu-%03d" % (int(k) % n_authors + first_author)
        p = v["prob"] if isinstance(v, dict) else v
        if p is not None:  # None: no answer token fitted in the context
            acc.setdefault(name, []).append(p)
    return {a: sum(p) / len(p) for a, p in acc.items()}


res = {n: load(n) for n in MODELS}
L = ["# Retrofitted sinks on TOFU (scripts/gemma_retrofit_demo.sh)", ""]
try:
    L += ["Recipe: " + " ".join(open(os.path.join(out, "recipe.txt")).read().split()), ""]
except OSError:
    pass
L += [f"Forget authors {', '.join(forget_src)}; placebo authors {', '.join(placebo_src)} "
      "(as many retained authors, drawn at random). -on: each question with its own author's "
      "sinks; -off: the forget authors switched off (own sinks, not routed: a switched-off "
      "author keeps the backbone only); -off-routed: the same model routed as deployed; "
      "-placebo: the placebo authors switched off instead. Forget quality is the KS p-value "
      "of the forget truth ratios against the oracle's. With the backbone frozen, a "
      "switched-off author asked with its own (now empty) sinks is the model before "
      "fine-tuning, exactly: rf-frozen-off scores the forget questions as base does, and "
      "its forget quality measures how far the base model is from the oracle (which also "
      "learnt the question-answer format). A retrofit trained without the forget authors "
      "would give those same numbers: for that recipe the switch is exact.", ""]

L += ["## Unlearning", "", "| model | " + " | ".join(h for _, h in MAIN) + " |",
      "|---" * (len(MAIN) + 1) + "|"]
for n in MODELS:
    if res[n]:
        s = res[n][0]
        L.append(f"| {n} | " + " | ".join(fmt(s.get(k)) for k, _ in MAIN) + " |")

L += ["", "## What fine-tuning costs: real authors and world facts", "",
      "Questions about real authors and world facts were never trained on; the retrofit "
      "models answer them with the backbone only (no author's sinks), so with the backbone "
      "frozen they are the base model's answers exactly.", "",
      "| model | " + " | ".join(UTIL) + " | harmonic mean | vs base |", "|---" * (len(UTIL) + 3) + "|"]
base_u = hmean([res["base"][0][k] for k in UTIL]) if res["base"] else None
for n in ["base", "oracle", "plain", "rf-frozen-on", "rf-none-on"]:
    if res[n]:
        s = res[n][0]
        u = hmean([s[k] for k in UTIL])
        d = "–" if base_u is None else "%+.3f" % (u - base_u)
        L.append(f"| {n} | " + " | ".join(fmt(s[k]) for k in UTIL) + f" | {fmt(u)} | {d} |")

L += ["", "## Placebo: whose knowledge does a switch remove?", "",
      "Mean answer probability (length-normalised) of each group of authors; the ratio is "
      "the group's probability under the switch over its probability with every author's "
      "sinks on (1 = untouched).", "",
      "| model | switch | forget authors | ratio | placebo authors | ratio | other retained | ratio |",
      "|---|---|---|---|---|---|---|---|"]
for r in ("rf-frozen", "rf-none"):
    on = res.get(r + "-on")
    if not on:
        continue
    groups = {}
    for v in ("on", "off", "placebo"):
        x = res.get(f"{r}-{v}")
        if not x:
            continue
        ev = x[1]
        first_forget = int(forget_src[0].split("-")[1])
        ret = author_probs(ev, "retain", 1, first_forget - 1)
        fg = author_probs(ev, "forget", first_forget, len(forget_src))
        groups[v] = (mean(fg, lambda a: True), mean(ret, lambda a: a in placebo_src),
                     mean(ret, lambda a: a not in placebo_src))
    for v, label in (("on", "none"), ("off", "forget authors off"), ("placebo", "placebo off")):
        if v not in groups:
            continue
        cells = []
        for i in range(3):
            g, g0 = groups[v][i], groups["on"][i]
            cells += [fmt(g), "–" if g is None or not g0 else "%.3f" % (g / g0)]
        L.append(f"| {r} | {label} | " + " | ".join(cells) + " |")

L += ["", "## Time", "", "| step | model | wall s | tokens/s |", "|---|---|---|---|"]
try:
    for line in open(os.path.join(out, "times.tsv")):
        kind, name, secs = line.rstrip("\n").split("\t")
        tps = "–"
        if kind == "train":
            try:
                tps = "%.1f" % json.load(open(os.path.join(out, "models", name + ".json")))[
                    "useful_tok_per_s"]
            except (OSError, KeyError, ValueError):
                pass
        L.append(f"| {kind} | {name} | {secs} | {tps} |")
except OSError:
    pass

tmp = os.path.join(out, "summary.md.tmp")
with open(tmp, "w") as f:
    f.write("\n".join(L) + "\n")
os.replace(tmp, os.path.join(out, "summary.md"))
