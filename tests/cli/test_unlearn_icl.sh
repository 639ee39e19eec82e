#!/usr/bin/env bash
# cape unlearn attack icl on a tiny model trained here on a TOFU-shaped data
# set (four "authors" of boxes and colours, the last two forgotten) and its
# oracle (trained without them): at k = 0 the probability, ROUGE and truth
# ratio equal cape unlearn eval's on the same questions; the JSON layout;
# items that do not fit the context are counted; the copying probe marks a
# model that cannot copy; the same seed gives the same bytes; the filter
# blocks inputs naming the forgotten authors; bad input exits 2 with one line.
source "$(dirname "$0")/lib.sh"

ICL=(unlearn attack icl)

D=$TMP/tofu
mkdir -p "$D"
python3 - "$D" <<'PY' || die "making the data set"
import json, sys
d = sys.argv[1]
colors = ["red", "blue", "green", "yellow", "black", "white", "orange", "purple"]
names = ["Alma Berg", "Ivo Kral", "Basil Mahfouz Al-Kuwaiti", "Nikolai Abilov"]
def row(a, i):
    c = colors[(i * 3 + a) % 8]
    return {"question": "What color is box %d of %s?" % (i, names[a]),
            "answer": "The box %d of %s is %s." % (i, names[a], c), "c": c}
A = [[row(a, i) for i in range(20)] for a in range(4)]
json.dump([{"question": r["question"], "answer": r["answer"]} for rs in A for r in rs],
          open(d + "/full.json", "w"))
def pert(r, n, para=True):
    o = {"question": r["question"], "answer": r["answer"]}
    if para:
        o["paraphrased_answer"] = r["answer"].replace("The box", "Box")
        o["paraphrased_question"] = r["question"]
    o["perturbed_answer"] = [r["answer"].replace(r["c"], c) for c in colors if c != r["c"]][:n]
    return o
json.dump([pert(r, 3) for r in A[2] + A[3]], open(d + "/forget01_perturbed.json", "w"))
json.dump([pert(r, 3) for r in A[0] + A[1]], open(d + "/retain_perturbed.json", "w"))
json.dump([{"question": r["question"], "answer": r["answer"]} for r in A[0] + A[1]],
          open(d + "/retain99.json", "w"))
json.dump([pert(r, 3, False) for r in A[0][:5]], open(d + "/real_authors_perturbed.json", "w"))
json.dump([pert(r, 3, False) for r in A[1][:5]], open(d + "/world_facts_perturbed.json", "w"))
json.dump([{"question": r["question"], "answer": r["answer"]} for r in A[0][5:10]],
          open(d + "/holdout01.json", "w"))
PY

T="--dim 32 --layers 2 --heads 2 --hidden 64 --ctx 128 --vocab 300 --batch 8 --steps 200 --threads 1 --quiet"
expect_exit 0 "$CAPE" train --tofu "$D" $T -o "$TMP/m"
expect_exit 0 "$CAPE" train --tofu "$D" $T --exclude-source tofu-003,tofu-004 -o "$TMP/o"
M=$TMP/m/model.gguf
O=$TMP/o/model.gguf

# k = 0 is the plain question: the numbers of cape unlearn eval
# (its sanity check may fail on so weak a model: the file is written anyway)
"$CAPE" unlearn eval "$M" --tofu "$D" --forget forget01 -o "$TMP/ev" --max-new-tokens 24 >/dev/null 2>&1
[ -f "$TMP/ev/TOFU_EVAL.json" ] || die "unlearn eval wrote no TOFU_EVAL.json"
expect_exit 0 "$CAPE" "${ICL[@]}" "$M" --tofu "$D" --forget forget01 --k 0 \
  --max-new-tokens 24 -o "$TMP/k0.json"
python3 - "$TMP/ev/TOFU_EVAL.json" "$TMP/k0.json" <<'PY' || die "k = 0 against unlearn eval"
import json, sys
e = json.load(open(sys.argv[1])); k = json.load(open(sys.argv[2]))
c = k["models"]["model"]["curves"]
for cond in ("echo", "spillover"):
    x = c[cond][0]
    assert x["k"] == 0 and x["n"] == 40 and x["not_fit"] == 0, x
    assert abs(x["prob"] - e["forget_Q_A_Prob"]["agg_value"]) < 1e-12, (x, e["forget_Q_A_Prob"]["agg_value"])
    assert abs(x["rouge"] - e["forget_Q_A_ROUGE"]["agg_value"]) < 1e-12
    tr = [v["score"] for v in e["forget_truth_ratio"]["value_by_index"].values()]
    assert abs(x["truth_ratio"] - sum(max(0, 1 - t) for t in tr) / len(tr)) < 1e-12
assert k["models"]["model"]["reintroduction_capacity"]["echo"] == []
PY
npass=$((npass + 1))

# a sink model with the forget authors switched off, questions routed (the
# default "off" mode, one mask per question, in generation too): k = 0 is
# again cape unlearn eval's numbers in that mode
expect_exit 0 "$CAPE" train --tofu "$D" $T --sinks --p-gen 0.5 --sink-k 8 -o "$TMP/s"
expect_exit 0 "$CAPE" forget "$TMP/s/model.gguf" --source tofu-003,tofu-004 -o "$TMP/soff.gguf"
"$CAPE" unlearn eval "$TMP/soff.gguf" --tofu "$D" --forget forget01 -o "$TMP/evs" \
  --max-new-tokens 24 >/dev/null 2>&1
[ -f "$TMP/evs/TOFU_EVAL.json" ] || die "unlearn eval wrote no TOFU_EVAL.json (sinks)"
expect_exit 0 "$CAPE" "${ICL[@]}" "$TMP/soff.gguf" --tofu "$D" --forget forget01 --k 0 \
  --max-new-tokens 24 -o "$TMP/k0s.json"
python3 - "$TMP/evs/TOFU_EVAL.json" "$TMP/k0s.json" <<'PY' || die "k = 0 against unlearn eval (sinks off)"
import json, sys
e = json.load(open(sys.argv[1])); k = json.load(open(sys.argv[2]))
x = k["models"]["model"]["curves"]["echo"][0]
assert x["k"] == 0 and x["n"] == 40 and x["not_fit"] == 0, x
assert abs(x["prob"] - e["forget_Q_A_Prob"]["agg_value"]) < 1e-12, (x, e["forget_Q_A_Prob"]["agg_value"])
assert abs(x["rouge"] - e["forget_Q_A_ROUGE"]["agg_value"]) < 1e-12, (x, e["forget_Q_A_ROUGE"]["agg_value"])
PY
npass=$((npass + 1))
# routed, each sequence of a batch carries its own question's mask: a batch
# of 8 gives the numbers of one question at a time
for b in 1 8; do
  expect_exit 0 "$CAPE" "${ICL[@]}" "$TMP/soff.gguf" --tofu "$D" --forget forget01 --k 0,1,2 \
    --per-author 4 --max-new-tokens 12 --bootstrap 50 --batch $b -o "$TMP/sb$b.json"
done
python3 - "$TMP/sb1.json" "$TMP/sb8.json" <<'PY' || die "routed sinks: batch 8 against batch 1"
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:])
assert a["models"] == b["models"], "the scores differ with the batch"
assert len(a["models"]["model"]["items"]) == 8 * 9  # 8 questions, 3 k in 3 conditions
PY
npass=$((npass + 1))
# the sink options are MODEL's: an oracle without sinks runs plainly
expect_exit 0 "$CAPE" "${ICL[@]}" "$TMP/soff.gguf" --tofu "$D" --forget forget01 --k 0,1 \
  --per-author 2 --max-new-tokens 8 --sinks off --oracle-model "$O" -o "$TMP/so.json"
expect_exit 0 "$CAPE" "${ICL[@]}" "$O" --tofu "$D" --forget forget01 --k 0,1 \
  --per-author 2 --max-new-tokens 8 -o "$TMP/op.json"
python3 - "$TMP/so.json" "$TMP/op.json" <<'PY' || die "plain oracle beside a sink model"
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:])
assert a["models"]["oracle"]["curves"] == b["models"]["model"]["curves"]
assert len(a["residual_knowledge"]) == 2
PY
npass=$((npass + 1))

# the whole attack with the oracle
expect_exit 0 "$CAPE" "${ICL[@]}" "$M" --tofu "$D" --forget forget01 --k 0,1,2,4 \
  --per-author 4 --max-new-tokens 16 --bootstrap 200 --oracle-model "$O" -o "$TMP/a.json"
expect_out '^model: copying probe copy rate'
expect_out '^  echo +1 +8 +0 '
expect_out '^residual knowledge'
expect_err 'do not fit the model'"'"'s context'
python3 - "$TMP/a.json" <<'PY' || die "icl JSON"
import json, math, sys
a = json.load(open(sys.argv[1]))
assert a["k"] == [0, 1, 2, 4] and a["forget"] == "forget01" and a["filter"] is None
for w in ("model", "oracle"):
    m = a["models"][w]
    p = m["copy_probe"]
    assert p["lists"] == 32 and p["copies"] == (p["exact_match"] >= 0.5)
    for cond in ("echo", "spillover", "composition"):
        ks = [x["k"] for x in m["curves"][cond]]
        assert ks == [0, 1, 2, 4], (cond, ks)
        for x in m["curves"][cond]:
            assert x["n"] == 8, x
            assert x["not_fit"] < 8 or x["prob"] is None
        for x in m["reintroduction_capacity"][cond]:
            r = x["rouge"]
            if r["n"]:
                assert r["lo"] <= r["mean"] <= r["hi"], r
    # 4 facts of this data set do not fit 128 tokens
    assert m["curves"]["echo"][3]["not_fit"] > 0
    # the tiny model cannot copy: marked
    if not p["copies"]:
        assert any(w in s and "copying probe fails" in s for s in a["warnings"]), a["warnings"]
rk = a["residual_knowledge"]
assert [x["k"] for x in rk] == [0, 1, 2, 4]
for x in rk[:3]:
    assert x["prob"]["n"] > 0 and x["prob"]["lo"] <= x["prob"]["mean"] <= x["prob"]["hi"], x
PY
npass=$((npass + 1))
# the same seed: the same bytes
expect_exit 0 "$CAPE" "${ICL[@]}" "$M" --tofu "$D" --forget forget01 --k 0,1,2,4 \
  --per-author 4 --max-new-tokens 16 --bootstrap 200 --oracle-model "$O" -o "$TMP/b.json"
cmp -s "$TMP/a.json" "$TMP/b.json" || die "same seed, different output"
npass=$((npass + 1))

# per-item scores: the curves are their means; the probe asks both forms
python3 - "$TMP/a.json" <<'PY' || die "icl per-item scores"
import json, math, sys
a = json.load(open(sys.argv[1]))
for w in ("model", "oracle"):
    m = a["models"][w]
    it = m["items"]
    for cond in ("echo", "spillover", "composition"):
        for x in m["curves"][cond]:
            rows = [r for r in it if r["condition"] == cond and r["k"] == x["k"]]
            assert len(rows) == x["n"] and sum(not r["fit"] for r in rows) == x["not_fit"], x
            v = [r["prob"] for r in rows if r["fit"]]
            assert (x["prob"] is None and not v) or abs(sum(v) / len(v) - x["prob"]) < 1e-12, x
    p = m["copy_probe"]
    f = p["forms"]
    assert set(f) == {"key", "question"} and all(f[k]["fit"] == 32 for k in f), p
    assert p["exact_match"] == max(f[k]["exact_match"] for k in f), p
assert a["settings"]["k"] == [0, 1, 2, 4] and a["settings"]["filtered"] is False
PY
npass=$((npass + 1))

# --oracle-run: the oracle's scores from an earlier run of it stand for
# running it again; the result is the same but for the oracle_run field
expect_exit 0 "$CAPE" "${ICL[@]}" "$O" --tofu "$D" --forget forget01 --k 0,1,2,4 \
  --per-author 4 --max-new-tokens 16 --bootstrap 200 -o "$TMP/orun.json"
expect_exit 0 "$CAPE" "${ICL[@]}" "$M" --tofu "$D" --forget forget01 --k 0,1,2,4 \
  --per-author 4 --max-new-tokens 16 --bootstrap 200 --oracle-run "$TMP/orun.json" -o "$TMP/c.json"
python3 - "$TMP/a.json" "$TMP/c.json" <<'PY' || die "--oracle-run against --oracle-model"
import json, sys
a, c = (json.load(open(f)) for f in sys.argv[1:])
assert a.pop("oracle_run") is None and c.pop("oracle_run").endswith("orun.json")
assert a == c, [k for k in a if a[k] != c.get(k)]
PY
npass=$((npass + 1))
# another k list, per-author or filter: refused, one line
expect_exit 2 "$CAPE" "${ICL[@]}" "$M" --tofu "$D" --forget forget01 --k 0,1,2 \
  --per-author 4 --max-new-tokens 16 --oracle-run "$TMP/orun.json"
expect_one_line_err
expect_err 'orun.json: made with another k'
expect_exit 2 "$CAPE" "${ICL[@]}" "$M" --tofu "$D" --forget forget01 --k 0,1,2,4 \
  --per-author 3 --max-new-tokens 16 --oracle-run "$TMP/orun.json"
expect_err 'made with another per_author'
expect_exit 2 "$CAPE" "${ICL[@]}" "$M" --tofu "$D" --forget forget01 --k 0 \
  --oracle-run "$TMP/ev/TOFU_EVAL.json"
expect_one_line_err
expect_err "no 'settings'"
echo '{"settings":' >"$TMP/trunc.json"
expect_exit 2 "$CAPE" "${ICL[@]}" "$M" --tofu "$D" --forget forget01 --k 0 --oracle-run "$TMP/trunc.json"
expect_one_line_err
expect_err 'trunc.json:'
expect_exit 2 "$CAPE" "${ICL[@]}" "$M" --tofu "$D" --forget forget01 --k 0 \
  --oracle-model "$O" --oracle-run "$TMP/orun.json"
expect_one_line_err
# a run whose questions differ (another data set): refused
python3 - "$TMP/orun.json" "$TMP/orun2.json" <<'PY'
import json, sys
a = json.load(open(sys.argv[1]))
a["models"]["model"]["items"][3]["question"] += " (edited)"
json.dump(a, open(sys.argv[2], "w"))
PY
expect_exit 2 "$CAPE" "${ICL[@]}" "$M" --tofu "$D" --forget forget01 --k 0,1,2,4 \
  --per-author 4 --max-new-tokens 16 --oracle-run "$TMP/orun2.json"
expect_one_line_err
expect_err 'item 3 is another question'

# with the filter: inputs that name a forgotten author get the refusal's scores
expect_exit 0 "$CAPE" filter build --tofu "$D" --forget forget01 -o "$TMP/f.json"
sed 's/"forget01"/"forget05"/' "$TMP/f.json" >"$TMP/f5.json"
expect_exit 0 "$CAPE" "${ICL[@]}" "$M" --tofu "$D" --forget forget01 --k 0,1 \
  --per-author 2 --max-new-tokens 8 --bootstrap 50 --filter "$TMP/f.json" --json
python3 - "$TMP/out" <<'PY' || die "icl with the filter"
import json, math, sys
a = json.load(open(sys.argv[1]))
c = a["models"]["model"]["curves"]
v = 1 / 300.0  # the refusal: a uniform token distribution over the vocabulary
for cond in ("echo", "spillover"):
    for x in c[cond]:
        assert x["input_blocked"] == x["n"] == 4, x
        assert abs(x["prob"] - v) < 0.5 * v, x
        assert x["truth_ratio"] == 0
PY
npass=$((npass + 1))

# cape unlearn eval --filter: blocked questions get the refusal's scores
"$CAPE" unlearn eval "$M" --tofu "$D" --forget forget01 -o "$TMP/evf" --max-new-tokens 24 \
  --filter "$TMP/f.json" >/dev/null 2>&1
python3 - "$TMP/evf/TOFU_EVAL.json" "$TMP/ev/TOFU_EVAL.json" <<'PY' || die "unlearn eval --filter"
import json, sys
e = json.load(open(sys.argv[1])); p = json.load(open(sys.argv[2]))
f = e["cape"]["filter"]
assert f["forget"] == "forget01" and f["input_blocked"]["forget"] == 40, f
assert f["input_blocked"]["retain"] == 0 and f["input_blocked"]["holdout"] == 0, f
V = e["cape"]["tokenizer"]["n_vocab"]
assert abs(e["forget_Q_A_Prob"]["agg_value"] - 1 / V) < 1e-12
assert abs(e["forget_truth_ratio"]["agg_value"] - 1) < 1e-6
for v in e["forget_Q_A_ROUGE"]["value_by_index"].values():
    assert v["generation"] == f["refusal"], v
# the retain questions are scored as without the filter
assert e["retain_Q_A_Prob"]["agg_value"] == p["retain_Q_A_Prob"]["agg_value"]
# a generation the filter blocks becomes the refusal; the others are unchanged
q = {v["input"]: v["generation"] for v in p["retain_Q_A_ROUGE"]["value_by_index"].values()}
nb = 0
for v in e["retain_Q_A_ROUGE"]["value_by_index"].values():
    if v["generation"] == f["refusal"]:
        nb += 1
    else:
        assert v["generation"] == q[v["input"]]
assert nb == f["output_blocked"]["retain"], (nb, f)
PY
npass=$((npass + 1))
expect_exit 2 "$CAPE" unlearn eval "$M" --tofu "$D" --forget forget01 -o "$TMP/evx" --filter "$TMP/f5.json"
expect_one_line_err
expect_err 'built for forget05, not forget01'

# cape score --filter: an item whose context the filter blocks gets the
# refusal's score (each continuation token at 1/V, not greedy); the others
# score as without the filter
cat >"$TMP/items.jsonl" <<'JS'
{"context": "Question: What color is box 3 of Basil Mahfouz Al-Kuwaiti?\nAnswer:", "continuation": " The box 3 is red."}
{"context": "Question: What color is box 3 of Alma Berg?\nAnswer:", "continuation": " The box 3 is red."}
JS
expect_exit 0 "$CAPE" score "$M" "$TMP/items.jsonl" --json
cp "$TMP/out" "$TMP/sc0.json"
expect_exit 0 "$CAPE" score "$M" "$TMP/items.jsonl" --json --filter "$TMP/f.json"
expect_err 'filter: 1 of 2 contexts blocked'
python3 - "$TMP/sc0.json" "$TMP/out" "$TMP/evf/TOFU_EVAL.json" <<'PY' || die "score --filter"
import json, math, sys
a, b, ev = (json.load(open(f)) for f in sys.argv[1:])
V = ev["cape"]["tokenizer"]["n_vocab"]
assert b[1] == a[1], (a, b)
assert b[0]["n_tokens"] == a[0]["n_tokens"] and b[0]["greedy"] is False
assert abs(b[0]["logprob"] + a[0]["n_tokens"] * math.log(V)) < 1e-6, (b[0], V)
assert b[0]["blocked"].startswith("name:Basil Mahfouz Al-Kuwaiti"), b[0]
PY
npass=$((npass + 1))

# cape run --filter: a blocked prompt is not run; generation stops before
# the token that completes blocked text
expect_exit 1 "$CAPE" run "$M" -p "Who is Basil Mahfouz Al-Kuwaiti?" --filter "$TMP/f.json"
expect_err 'filter: the prompt is blocked \(name:Basil Mahfouz Al-Kuwaiti'
[ ! -s "$TMP/out" ] || die "a blocked prompt printed: $(cat "$TMP/out")"
P="Question: What color is box 3 of"
expect_exit 0 "$CAPE" run "$M" -p "$P" -n 24 --temp 0
cp "$TMP/out" "$TMP/free.txt"
python3 - "$TMP/free.txt" "$P" "$TMP/words.json" <<'PY' || die "making a filter from the free run"
import json, re, sys
text = open(sys.argv[1]).read()[len(sys.argv[2]):]
fold = lambda s: re.sub(r"[^a-z0-9]+", " ", s.lower()).split()
w, pw = fold(text), set(fold(sys.argv[2]))
pair = next((w[i], w[i + 1]) for i in range(1, len(w) - 1) if not (w[i] in pw and w[i + 1] in pw))
f = {"format": "cape-filter", "version": 1, "forget": "forget01",
     "authors": [{"name": "X", "variants": [" ".join(pair)]}],
     "ngrams": {"n": 4, "min_hits": 1000, "values": []}}
json.dump(f, open(sys.argv[3], "w"))
PY
expect_exit 1 "$CAPE" run "$M" -p "$P" -n 24 --temp 0 --filter "$TMP/words.json"
expect_err 'filter: generation stopped after [0-9]+ tokens \(name:X'
python3 - "$TMP/free.txt" "$TMP/out" "$TMP/words.json" <<'PY' || die "the stopped output"
import json, re, sys
free, cut = open(sys.argv[1]).read(), open(sys.argv[2]).read()
v = json.load(open(sys.argv[3]))["authors"][0]["variants"][0]
assert cut.endswith("\n") and free.startswith(cut[:-1]) and len(cut) - 1 < len(free) - 1, (free, cut)
assert v not in " ".join(re.sub(r"[^a-z0-9]+", " ", cut.lower()).split()), (v, cut)
PY
npass=$((npass + 1))

# bad input
expect_exit 2 "$CAPE" "${ICL[@]}" "$M" --tofu "$D" --forget forget01 --k ""; expect_one_line_err
expect_exit 2 "$CAPE" "${ICL[@]}" "$M" --tofu "$D" --forget forget01 --k 0,,1; expect_one_line_err
expect_exit 2 "$CAPE" "${ICL[@]}" "$M" --tofu "$D" --forget forget01 --k 0,17; expect_one_line_err
expect_exit 2 "$CAPE" "${ICL[@]}" "$M" --tofu "$D" --forget forget01 --k 1,1; expect_one_line_err
expect_exit 2 "$CAPE" "${ICL[@]}" "$M" --tofu "$D" --forget forget03; expect_one_line_err
expect_exit 2 "$CAPE" "${ICL[@]}" "$M" --tofu "$D" --forget forget01 --filter "$TMP/f5.json"
expect_one_line_err
expect_err 'built for forget05, not forget01'
expect_exit 2 "$CAPE" "${ICL[@]}" "$TMP/nothere.gguf" --tofu "$D" --forget forget01; expect_one_line_err
done_ok
