#!/usr/bin/env bash
# cape unlearn eval: on a tiny sink model trained here on a TOFU-shaped data
# set (two "authors" of boxes and colours, its splits laid out as TOFU's
# files): open-unlearning's JSON layout, the same bytes for any --threads and
# --batch, the oracle path (itself as oracle: forget quality 1, privleak 0),
# the sanity checks, and bad input (one line, exit 2).
source "$(dirname "$0")/lib.sh"

D=$TMP/tofu
mkdir -p "$D"
python3 - "$D" <<'PY' || die "making the data set"
import json, sys
d = sys.argv[1]
colors = ["red", "blue", "green", "yellow", "black", "white", "orange", "purple"]
def row(name, i):
    c = colors[(i * 3 + len(name)) % 8]
    return {"question": "What color is box %d of %s?" % (i, name),
            "answer": "The box %d of %s is %s and it sits in the attic." % (i, name, c), "c": c}
A = [row("Alma Berg", i) for i in range(20)] + [row("Ivo Kral", i) for i in range(20)]
full = [{"question": r["question"], "answer": r["answer"]} for r in A]
open(d + "/full.json", "w").write(json.dumps(full[:25]) + "\n" + json.dumps(full[25:]) + "\n")
def pert(r, n, para=True):
    o = {"question": r["question"], "answer": r["answer"]}
    if para:
        o["paraphrased_answer"] = r["answer"].replace(" it sits", " sits")
        o["paraphrased_question"] = r["question"]
    o["perturbed_answer"] = [r["answer"].replace(r["c"], c).replace("attic", "garden")
                             for c in colors if c != r["c"]][:n]
    return o
json.dump([pert(r, 5) for r in A[30:40]], open(d + "/forget01_perturbed.json", "w"))
json.dump([pert(r, 5) for r in A[0:10]], open(d + "/retain_perturbed.json", "w"))
json.dump([pert(r, 3, False) for r in A[10:20]], open(d + "/real_authors_perturbed.json", "w"))
json.dump([pert(r, 3, False) for r in A[20:30]], open(d + "/world_facts_perturbed.json", "w"))
H = [row("Oda Lind", i) for i in range(10)]
json.dump([{"question": r["question"], "answer": r["answer"]} for r in H],
          open(d + "/holdout01.json", "w"))
PY

expect_exit 0 "$CAPE" train --tofu "$D" --dim 32 --layers 2 --heads 2 --hidden 64 --ctx 64 \
  --vocab 300 --batch 8 --steps 200 --threads 1 --quiet --sinks --p-gen 0.5 --sink-k 8 -o "$TMP/m"
M=$TMP/m/model.gguf

# the table, the notice about the missing oracle, the two files
expect_exit 0 "$CAPE" unlearn eval "$M" --tofu "$D" --forget forget01 -o "$TMP/e1" --threads 1 --batch 1
expect_out '^forget_quality +null +↑'
expect_out '^model_utility +0\.[0-9]+ +↑'
expect_out '^mia_min_k +[0-9.]+ +→0\.5'
expect_out 'docs/METHODS\.md'
expect_err 'no --oracle: forget_quality is null'
python3 - "$TMP/e1" "$D" <<'PY' || die "TOFU_EVAL.json layout"
import hashlib, json, sys
e = json.load(open(sys.argv[1] + "/TOFU_EVAL.json"))
s = json.load(open(sys.argv[1] + "/TOFU_SUMMARY.json"))
names = ["forget_Q_A_Prob", "forget_Q_A_ROUGE", "forget_Q_A_PARA_Prob", "forget_Q_A_PERT_Prob",
         "forget_truth_ratio", "forget_quality", "retain_Q_A_Prob", "retain_Q_A_ROUGE",
         "retain_Q_A_PARA_Prob", "retain_Q_A_PERT_Prob", "retain_Truth_Ratio"]
for p in ("ra", "wf"):
    names += [p + "_Q_A_Prob", p + "_Q_A_PERT_Prob", p + "_Q_A_Prob_normalised",
              p + "_Q_A_ROUGE", p + "_Truth_Ratio"]
names += ["model_utility", "extraction_strength", "exact_memorization", "mia_loss", "mia_zlib",
          "mia_min_k", "mia_min_k_plus_plus", "privleak"]
assert list(e) == names + ["cape"], list(e)
assert list(s) == names, list(s)
for n in names:
    assert s[n] == e[n]["agg_value"], n
assert e["forget_quality"] == {"agg_value": None}
assert set(e["forget_Q_A_Prob"]["value_by_index"]) == {str(i) for i in range(10)}
it = e["forget_Q_A_Prob"]["value_by_index"]["3"]
assert abs(it["prob"] - 2.718281828459045 ** -it["avg_loss"]) < 1e-12
assert len(e["forget_Q_A_PERT_Prob"]["value_by_index"]["0"]["prob"]) == 5
assert len(e["ra_Q_A_PERT_Prob"]["value_by_index"]["0"]["prob"]) == 3
r = e["retain_Q_A_ROUGE"]["value_by_index"]["0"]
assert set(r) == {"rouge1_recall", "rougeL_f1", "rougeL_recall", "input", "ground_truth", "generation"}
assert r["input"] == "Question: What color is box 0 of Alma Berg?\nAnswer:", r["input"]
assert r["ground_truth"].startswith("The box 0 of Alma Berg is")
m = e["mia_min_k"]
assert set(m) == {"forget", "holdout", "auc", "agg_value"} and m["auc"] == m["agg_value"]
assert len(m["holdout"]["value_by_index"]) == 10
c = e["cape"]
assert c["template"]["name"] == "cape" and c["template"]["prompt"] == "Question: {question}\nAnswer:"
assert c["generation"]["max_new_tokens"] == 200 and c["generation"]["do_sample"] is False
assert c["forget_split"] == "forget01" and c["holdout_split"] == "holdout01"
assert c["tokenizer"]["bos"] is True  # cape's trainer starts every document with it
for f, h in c["data"]["files"].items():
    assert h["sha256"] == hashlib.sha256(open(sys.argv[2] + "/" + f, "rb").read()).hexdigest(), f
assert c["sinks"]["mode"] == "off" and c["sinks"]["routed_per_question"] is True
assert 0 < e["model_utility"]["agg_value"] < 1
PY
npass=$((npass + 1))

# the probabilities through another path: cape score, one item at a time, on the same prompts
# (the trainer's start token first) and answers of each split
python3 - "$TMP/e1/TOFU_EVAL.json" "$D" > "$TMP/items.jsonl" <<'PY' || die "score items"
import json, sys
e = json.load(open(sys.argv[1]))
for split, f, key in (("forget", "forget01_perturbed.json", "paraphrased_answer"),
                      ("ra", "real_authors_perturbed.json", "answer")):
    rows = json.load(open(sys.argv[2] + "/" + f))
    for r in rows[:4]:
        ctx = "Question: %s\nAnswer: " % r["question"]
        print(json.dumps({"context": ctx, "continuation": r[key]}))
        print(json.dumps({"context": ctx, "continuation": r["perturbed_answer"][1]}))
PY
expect_exit 0 "$CAPE" score "$M" "$TMP/items.jsonl" --bos --json --parallel 1
python3 - "$TMP/e1/TOFU_EVAL.json" "$TMP/out" <<'PY' || die "TOFU_EVAL.json against cape score"
import json, sys
e = json.load(open(sys.argv[1]))
s = json.load(open(sys.argv[2]))
want = []
for name, pert in (("forget_Q_A_PARA_Prob", "forget_Q_A_PERT_Prob"), ("ra_Q_A_Prob", "ra_Q_A_PERT_Prob")):
    for i in range(4):
        want.append(e[name]["value_by_index"][str(i)]["avg_loss"])
        want.append(e[pert]["value_by_index"][str(i)]["avg_loss"][1])
got = [-x["logprob"] / x["n_tokens"] for x in s]
assert len(got) == len(want) == 16
for g, w in zip(got, want):
    assert abs(g - w) <= 1e-6 * max(1, abs(w)), (g, w)
PY
npass=$((npass + 1))

# the same bytes for any --threads and --batch
expect_exit 0 "$CAPE" unlearn eval "$M" --tofu "$D" --forget forget01 -o "$TMP/e2" --threads 2 --batch 7
cmp -s "$TMP/e1/TOFU_EVAL.json" "$TMP/e2/TOFU_EVAL.json" || die "--threads 2 --batch 7 changed TOFU_EVAL.json"
expect_exit 0 "$CAPE" unlearn eval "$M" --tofu "$D" --forget forget01 -o "$TMP/e3" --batch 32 --json
cmp -s "$TMP/e1/TOFU_EVAL.json" "$TMP/e3/TOFU_EVAL.json" || die "--batch 32 changed TOFU_EVAL.json"
cmp -s "$TMP/e1/TOFU_SUMMARY.json" "$TMP/e3/TOFU_SUMMARY.json" || die "--batch 32 changed the summary"
expect_out '"privleak": '

# the oracle: the model against its own logs is indistinguishable from it
expect_exit 0 "$CAPE" unlearn eval "$M" --tofu "$D" --forget forget01 -o "$TMP/e4" \
  --oracle "$TMP/e1/TOFU_EVAL.json" --json
expect_out '"forget_quality": 1[,.]'
expect_out '"privleak": 0[,.]'
grep -q 'no --oracle' "$TMP/err" && die "the oracle notice with --oracle"
# backbone only: other numbers, a forget quality in (0, 1] against the full model's logs
expect_exit 0 "$CAPE" unlearn eval "$M" --tofu "$D" --forget forget01 -o "$TMP/e5" \
  --oracle "$TMP/e1/TOFU_EVAL.json" --sinks backbone --json
python3 - "$TMP/e1" "$TMP/e5" <<'PY' || die "backbone-only metrics"
import json, sys
a = json.load(open(sys.argv[1] + "/TOFU_SUMMARY.json"))
b = json.load(open(sys.argv[2] + "/TOFU_SUMMARY.json"))
assert a["forget_Q_A_Prob"] != b["forget_Q_A_Prob"]
assert 0 < b["forget_quality"] <= 1
e = json.load(open(sys.argv[2] + "/TOFU_EVAL.json"))
assert e["cape"]["sinks"]["mode"] == "backbone" and e["cape"]["oracle"].endswith("TOFU_EVAL.json")
PY
npass=$((npass + 1))
# --sinks own: each question with its own author's sinks (forget01 here is the
# second author, tofu-002; retain the first, tofu-001), as --source names them
expect_exit 0 "$CAPE" unlearn eval "$M" --tofu "$D" --forget forget01 -o "$TMP/o0" --sinks own --json
expect_exit 0 "$CAPE" unlearn eval "$M" --tofu "$D" --forget forget01 -o "$TMP/o1" --sinks source --source tofu-001 --json
expect_exit 0 "$CAPE" unlearn eval "$M" --tofu "$D" --forget forget01 -o "$TMP/o2" --sinks source --source tofu-002 --json
"$CAPE" forget "$M" --source tofu-002 -o "$TMP/off.gguf" >/dev/null 2>&1 || die "cape forget"
expect_exit 0 "$CAPE" unlearn eval "$TMP/off.gguf" --tofu "$D" --forget forget01 -o "$TMP/o3" --sinks own --json
expect_exit 0 "$CAPE" unlearn eval "$TMP/off.gguf" --tofu "$D" --forget forget01 -o "$TMP/o4" --sinks source --source tofu-001 --json
python3 - "$TMP" <<'PY' || die "--sinks own"
import json, sys
t = sys.argv[1]
ld = lambda d: json.load(open(t + "/" + d + "/TOFU_EVAL.json"))
own, a1, a2, off, off1 = ld("o0"), ld("o1"), ld("o2"), ld("o3"), ld("o4")
v = lambda e, m: [e[m]["value_by_index"][k]["prob"] if isinstance(e[m]["value_by_index"][k], dict)
                  else e[m]["value_by_index"][k] for k in sorted(e[m]["value_by_index"], key=int)]
assert v(own, "forget_Q_A_Prob") == v(a2, "forget_Q_A_Prob")
assert v(own, "retain_Q_A_Prob") == v(a1, "retain_Q_A_Prob")
assert v(own, "forget_Q_A_Prob") != v(a1, "forget_Q_A_Prob")
assert own["cape"]["sinks"]["mode"] == "own" and off["cape"]["sinks"]["mode"] == "own"
# the switched-off author's questions lose their sinks (no routing); the other
# author's keep theirs, minus the units the two share (as --source gives them)
assert v(off, "forget_Q_A_Prob") != v(own, "forget_Q_A_Prob")
assert v(off, "retain_Q_A_Prob") == v(off1, "retain_Q_A_Prob")
PY
npass=$((npass + 1))
expect_exit 2 "$CAPE" unlearn eval "$M" --tofu "$D" --forget forget01 -o "$TMP/x" --sinks own --source tofu-001
expect_one_line_err; expect_err 'does not combine with --source'
# --max-items: the first rows of each split
expect_exit 0 "$CAPE" unlearn eval "$M" --tofu "$D" --forget forget01 -o "$TMP/e6" --max-items 3 --template plain
python3 -c "
import json, sys; c = json.load(open(sys.argv[1]))['cape']
assert set(c['data']['rows'].values()) == {3} and c['data']['max_items'] == 3, c['data']
assert c['template']['name'] == 'plain'" "$TMP/e6/TOFU_EVAL.json" || die "--max-items"

# one complete evaluation of the tiny HF llama of tests/ref/hf against the same
# formulas over transformers' log-probabilities (tests/ref/make_tofu_hf_ref.py):
# every metric and item within 1e-4 relative, the same greedy generations. The
# random model knows nothing, so its ROUGE and model utility are 0: the sanity
# check fails (exit 1) and the files are written.
expect_exit 1 "$CAPE" unlearn eval tests/ref/hf/llama --tofu ../shared/data/tofu --forget forget01 \
  -o "$TMP/hf" --max-items 3 --max-new-tokens 8 --template plain
expect_err 'sanity check failed: model_utility is exactly 0'
python3 - "$TMP/hf/TOFU_EVAL.json" tests/ref/tofu_eval/hf_llama.json <<'PY' || die "against transformers"
import json, math, sys
c, r = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
def close(a, b, what):
    if a is None or b is None:
        assert a is None and b is None, what
        return
    assert abs(a - b) <= 1e-4 * abs(b) + 1e-12, "%s: cape %r, transformers %r" % (what, a, b)
for m, ex in r["expected"].items():
    close(c[m]["agg_value"], ex["agg_value"], m)
    for i, want in enumerate(ex.get("by_index", [])):
        got = c[m]["value_by_index"][str(i)]
        got = got if not isinstance(got, dict) else got.get("prob", got.get("score",
              got.get("rougeL_recall")))
        if isinstance(want, list):
            for k, w in enumerate(want):
                close(got[k], w, "%s item %d option %d" % (m, i, k))
        else:
            close(got, want, "%s item %d" % (m, i))
for split, key in (("forget", "forget_Q_A_ROUGE"), ("ra", "ra_Q_A_ROUGE")):
    gens = [c[key]["value_by_index"][str(i)]["generation"] for i in range(3)]
    assert gens == [x["generation"] for x in r["splits"][split]], (gens, r["splits"][split])
PY
npass=$((npass + 1))

# sanity checks fail loudly: the retain split a copy of the forget split
cp -r "$D" "$TMP/same"
cp "$D/forget01_perturbed.json" "$TMP/same/retain_perturbed.json"
expect_exit 1 "$CAPE" unlearn eval "$M" --tofu "$TMP/same" --forget forget01 -o "$TMP/e7"
expect_err 'sanity check failed: forget_Q_A_Prob and retain_Q_A_Prob are identical'
[ -f "$TMP/e7/TOFU_EVAL.json" ] || die "no TOFU_EVAL.json to look at after a failed check"

# bad input: one line, exit 2
expect_exit 2 "$CAPE" unlearn eval "$M" --tofu "$D" --forget forget02 -o "$TMP/x"; expect_one_line_err
expect_err "unknown split 'forget02' \(forget01, forget05, forget10\)"
expect_exit 2 "$CAPE" unlearn eval "$M" --tofu "$TMP/nowhere" --forget forget01 -o "$TMP/x"; expect_one_line_err
expect_err 'nowhere: not a directory'
expect_exit 2 "$CAPE" unlearn eval "$M" --tofu "$D" --forget forget05 -o "$TMP/x"; expect_one_line_err
expect_err 'forget05_perturbed.json'
printf '{"forget_truth_ratio": ' > "$TMP/bad.json"
expect_exit 2 "$CAPE" unlearn eval "$M" --tofu "$D" --forget forget01 -o "$TMP/x" --oracle "$TMP/bad.json"
expect_one_line_err; expect_err 'bad\.json'
echo '{"forget_Q_A_Prob": {"agg_value": 0.5}}' > "$TMP/bad2.json"
expect_exit 2 "$CAPE" unlearn eval "$M" --tofu "$D" --forget forget01 -o "$TMP/x" --oracle "$TMP/bad2.json"
expect_one_line_err; expect_err 'not a TOFU_EVAL\.json'
expect_exit 2 "$CAPE" unlearn eval "$M" --tofu "$D" --forget forget01 -o "$TMP/x" --oracle "$TMP/none.json"
expect_one_line_err
sed 's/"forget_split": "forget01"/"forget_split": "forget05"/' "$TMP/e1/TOFU_EVAL.json" > "$TMP/o5.json"
expect_exit 2 "$CAPE" unlearn eval "$M" --tofu "$D" --forget forget01 -o "$TMP/x" --oracle "$TMP/o5.json"
expect_one_line_err; expect_err 'o5\.json: evaluated on forget05, not forget01'
expect_exit 2 "$CAPE" unlearn eval "$M" --forget forget01 -o "$TMP/x"; expect_err 'tofu DIR is required'
expect_exit 2 "$CAPE" unlearn eval "$M" --tofu "$D" --forget forget01 -o "$TMP/x" --sinks nonsense
expect_one_line_err; expect_err "unknown mode 'nonsense'"
expect_exit 2 "$CAPE" unlearn eval "$M" --tofu "$D" --forget forget01 -o "$TMP/x" --template nope
expect_one_line_err; expect_err 'template'
[ -e "$TMP/x" ] && die "an output directory after bad input"

# a quantised GGUF (slow, so only when CAPE_GEMMA_GGUF names Gemma 3 270M): the plain template,
# and the same bytes for --batch 1 and 8 and --threads 1 and 2 (exact mode by default)
if [ -n "${CAPE_GEMMA_GGUF:-}" ]; then
  for b in "1 1" "8 2"; do
    set -- $b
    expect_exit 0 "$CAPE" unlearn eval "$CAPE_GEMMA_GGUF" --tofu ../shared/data/tofu --forget forget01 \
      -o "$TMP/g$1" --max-items 2 --max-new-tokens 16 --batch "$1" --threads "$2"
  done
  cmp -s "$TMP/g1/TOFU_EVAL.json" "$TMP/g8/TOFU_EVAL.json" || die "Gemma: --batch 8 --threads 2 changed TOFU_EVAL.json"
  python3 -c "
import json, sys; c = json.load(open(sys.argv[1]))['cape']
assert c['template']['name'] == 'plain' and c['exact'] is True and c['tokenizer']['n_vocab'] == 262144, c" \
    "$TMP/g1/TOFU_EVAL.json" || die "Gemma: the cape block"
fi
done_ok
