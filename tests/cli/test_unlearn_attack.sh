#!/usr/bin/env bash
# cape unlearn attack: relearn, extract and quantize on tiny models trained
# here on a TOFU-shaped data set (two "authors" of boxes and colours, as in
# test_unlearn_eval.sh): the relearn curve at step 0 equals cape unlearn
# eval's numbers on the eval half, the recovery steps and the gap to the
# oracle follow from the curves, relearning raises the eval half's
# probability, the same seed gives the same bytes; extraction agrees with
# eval's greedy answers and its strengths follow from the exact matches;
# bad input is one line and exit 2.
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

TR=(--dim 32 --layers 2 --heads 2 --hidden 64 --ctx 64 --batch 8 --steps 200 --threads 1 --quiet)
expect_exit 0 "$CAPE" train --tofu "$D" "${TR[@]}" --vocab 300 -o "$TMP/full"
expect_exit 0 "$CAPE" train --tofu "$D" "${TR[@]}" --exclude-source tofu-002 \
  --tokenizer-from "$TMP/full/model.gguf" -o "$TMP/oracle"
F=$TMP/full/model.gguf
O=$TMP/oracle/model.gguf
RL=("$CAPE" unlearn attack relearn --tofu "$D" --forget forget01 --steps 0,1,2,5,10,20 --lr 3e-3
    --max-new-tokens 30)

# ---- relearn: the full model attacked, beside the oracle ----
expect_exit 0 "${RL[@]}" "$F" --oracle-model "$O" --full-model "$F" -o "$TMP/rl.json"
expect_out '^steps +prob +rouge +tr +o\.prob +o\.rouge +o\.tr$'
expect_out '^20( +[0-9.]+){6}$'
expect_out '^oracle forget_Q_A_Prob: 50% of the gap to full at ([0-9]+|never) steps'
expect_out '^1 authors: 5 relearn rows, 5 eval rows; 5 training items'
expect_exit 0 "$CAPE" unlearn eval "$F" --tofu "$D" --forget forget01 -o "$TMP/ev" \
  --max-new-tokens 30 --batch 1
python3 - "$TMP/rl.json" "$TMP/ev/TOFU_EVAL.json" <<'PY' || die "relearn report"
import json, math, sys
r = json.load(open(sys.argv[1])); ev = json.load(open(sys.argv[2]))
M = ["forget_Q_A_Prob", "forget_Q_A_ROUGE", "forget_truth_ratio"]
D = {"forget_Q_A_Prob": 1, "forget_Q_A_ROUGE": 1, "forget_truth_ratio": -1}
assert r["attack"] == "relearn" and r["steps"] == [0, 1, 2, 5, 10, 20], r["steps"]
idx = r["eval_rows_index"]
assert len(idx) == 5 and r["relearn_rows"] == 5 and r["train_items"] == 5, r
# step 0 of the full model is cape unlearn eval's numbers on the eval half
by = {m: ev[m]["value_by_index"] for m in M}
want = {"forget_Q_A_Prob": sum(by["forget_Q_A_Prob"][str(i)]["prob"] for i in idx) / 5,
        "forget_Q_A_ROUGE": sum(by["forget_Q_A_ROUGE"][str(i)]["rougeL_recall"] for i in idx) / 5,
        "forget_truth_ratio": sum(min(t, 1 / (t + 1e-10)) for t in
                                  (by["forget_truth_ratio"][str(i)]["score"] for i in idx)) / 5}
c0 = r["curves"]["model"]["curve"][0]
for m in M:
    assert abs(c0[m] - want[m]) < 1e-9, (m, c0[m], want[m])
    assert abs(r["full"][m] - want[m]) < 1e-9, (m, r["full"][m], want[m])
# relearning teaches: the eval half's probability rises for both models
for role in ("model", "oracle"):
    cv = r["curves"][role]["curve"]
    assert cv[-1]["forget_Q_A_Prob"] > cv[0]["forget_Q_A_Prob"] + 0.02, (role, cv)
    assert len(r["curves"][role]["train_nll"]) == 20
# recovery steps and the gap to the oracle, recomputed from the curves
def steps_to(vals, full, d, frac, steps):
    gap = d * (full - vals[0])
    if gap <= 0:
        return steps[0]
    for s, v in zip(steps, vals):
        if d * (v - vals[0]) >= frac * gap:
            return s
    return None
for role in ("model", "oracle"):
    cv = r["curves"][role]
    for m in M:
        vals = [p[m] for p in cv["curve"]]
        for f, k in ((0.5, "50"), (0.9, "90")):
            assert cv["steps_to_recover"][m][k] == steps_to(vals, r["full"][m], D[m], f, r["steps"]), (role, m, k)
b = r["curves"]["model"]["beyond_oracle"]
for m in M:
    d = [D[m] * (p[m] - q[m]) for p, q in zip(r["curves"]["model"]["curve"], r["curves"]["oracle"]["curve"])]
    assert abs(b[m]["mean"] - sum(d) / len(d)) < 1e-9 and abs(b[m]["max"] - max(d)) < 1e-9, (m, b[m], d)
assert "beyond_oracle" not in r["curves"]["oracle"]
print("relearn: oracle prob %.3f -> %.3f, model %.3f -> %.3f" % (
    r["curves"]["oracle"]["curve"][0]["forget_Q_A_Prob"], r["curves"]["oracle"]["curve"][-1]["forget_Q_A_Prob"],
    c0["forget_Q_A_Prob"], r["curves"]["model"]["curve"][-1]["forget_Q_A_Prob"]))
PY
# the same seed: the same bytes; another seed: other halves
expect_exit 0 "${RL[@]}" "$F" --oracle-model "$O" --full-model "$F" -o "$TMP/rl2.json" --json
cmp -s "$TMP/rl.json" "$TMP/rl2.json" || die "two identical relearn runs differ"
cmp -s "$TMP/rl.json" "$TMP/out" || die "--json does not print the report"
expect_exit 0 "${RL[@]}" "$F" --seed 7 -o "$TMP/rl3.json"
python3 -c "
import json
a, b = json.load(open('$TMP/rl.json')), json.load(open('$TMP/rl3.json'))
assert a['eval_rows_index'] != b['eval_rows_index'], 'the seed does not move the halves'
assert b['full'] is None and list(b['curves']) == ['model']" || die "--seed"
# --freeze-embeddings: the same halves and step 0, another curve (the
# embedding and head rows stay as they were)
expect_exit 0 "${RL[@]}" "$F" --freeze-embeddings -o "$TMP/rlfe.json"
python3 -c "
import json
a, b = json.load(open('$TMP/rl.json')), json.load(open('$TMP/rlfe.json'))
assert b['frozen_embeddings'] is True and a['frozen_embeddings'] is False
assert a['eval_rows_index'] == b['eval_rows_index']
ca, cb = a['curves']['model']['curve'], b['curves']['model']['curve']
assert ca[0] == cb[0] and ca[-1] != cb[-1], (ca[-1], cb[-1])
assert cb[-1]['forget_Q_A_Prob'] > cb[0]['forget_Q_A_Prob'], cb" || die "--freeze-embeddings"
# unrelated relearning: 10 retain items, the eval half unchanged
expect_exit 0 "${RL[@]}" "$O" --unrelated retain -o "$TMP/rlu.json"
python3 -c "
import json
a, u = json.load(open('$TMP/rl.json')), json.load(open('$TMP/rlu.json'))
assert u['data'] == 'retain' and u['train_items'] == 10, u
assert u['eval_rows_index'] == a['eval_rows_index']
assert u['curves']['model']['curve'][0] == a['curves']['oracle']['curve'][0]" || die "--unrelated"

# a sink model, evaluated with its sinks off, relearned with its author's masks
expect_exit 0 "$CAPE" train --tofu "$D" "${TR[@]}" --steps 40 --tokenizer-from "$F" --sinks \
  --p-gen 0.5 --sink-k 8 -o "$TMP/s"
expect_exit 0 "${RL[@]}" "$TMP/s/model.gguf" --steps 0,3 --sinks off -o "$TMP/rls.json"
python3 -c "
import json
s = json.load(open('$TMP/rls.json'))
assert s['sinks'] == 'off' and len(s['curves']['model']['curve']) == 2" || die "sink relearn"
# the --init road: a model cape train --init wrote (here the full model
# again, unchanged: --steps 0) is loaded, trained and saved through
# train_init_*, and relearns exactly as the from-scratch road does
expect_exit 0 "$CAPE" train --init "$F" --tofu "$D" --steps 0 --quiet -o "$TMP/finit"
expect_exit 0 "${RL[@]}" "$TMP/finit/model.gguf" --oracle-model "$O" --full-model "$F" -o "$TMP/rli.json"
python3 -c "
import json
a, b = json.load(open('$TMP/rl.json')), json.load(open('$TMP/rli.json'))
assert b['curves']['model'].pop('path').endswith('finit/model.gguf')
a['curves']['model'].pop('path')
assert a['curves']['model'].pop('trainer_road') == 'checkpoint'
assert b['curves']['model'].pop('trainer_road') == 'init'
assert a == b, 'the --init road relearns otherwise'" || die "relearn through --init"
npass=$((npass + 1))
# a pretrained architecture the from-scratch trainer lacks: the tiny gemma3
# fine-tuned on the data with retrofitted sinks, attacked with the sinks of
# the forget author off; step 0 is cape unlearn eval --sinks off's numbers
expect_exit 0 "$CAPE" train --init tests/ref/hf/gemma3.gguf --tofu "$D" --steps 40 --lr 1e-2 --batch 4 \
  --seq 64 --quiet --sinks --sink-units 16 --sink-k 4 -o "$TMP/g3s"
expect_exit 0 "${RL[@]}" "$TMP/g3s/model.gguf" --sinks off --steps 0,2,10 -o "$TMP/rlg.json"
expect_exit 0 "$CAPE" unlearn eval "$TMP/g3s/model.gguf" --tofu "$D" --forget forget01 --sinks off \
  -o "$TMP/evg" --max-new-tokens 30 --batch 1
python3 - "$TMP/rlg.json" "$TMP/evg/TOFU_EVAL.json" <<'PY' || die "gemma3 relearn"
import json, sys
r = json.load(open(sys.argv[1])); ev = json.load(open(sys.argv[2]))
idx = r["eval_rows_index"]
by = ev["forget_Q_A_Prob"]["value_by_index"]
want = sum(by[str(i)]["prob"] for i in idx) / len(idx)
cv = r["curves"]["model"]["curve"]
assert abs(cv[0]["forget_Q_A_Prob"] - want) < 1e-9, (cv[0], want)
assert r["curves"]["model"]["trainer_road"] == "init"
assert cv[-1]["forget_Q_A_Prob"] > want + 0.02, cv
print("relearn gemma3 (sinks off): prob %.3f -> %.3f" % (want, cv[-1]["forget_Q_A_Prob"]))
PY
# --sinks own (each question with its author's sinks): quantize's model as
# given and relearn's step 0 are cape unlearn eval --sinks own's numbers, and
# they differ from the backbone's (the author's sinks are on); extract refuses
# own, whose prompts carry answer prefixes and have no author to look up
expect_exit 0 "$CAPE" unlearn eval "$TMP/s/model.gguf" --tofu "$D" --forget forget01 --sinks own \
  -o "$TMP/evs" --max-new-tokens 16 --batch 1
expect_exit 0 "$CAPE" unlearn attack quantize "$TMP/s/model.gguf" --tofu "$D" --forget forget01 \
  --sinks own --types q8_0 --max-new-tokens 16 -o "$TMP/qs.json"
expect_exit 0 "$CAPE" unlearn attack quantize "$TMP/s/model.gguf" --tofu "$D" --forget forget01 \
  --sinks backbone --types q8_0 --max-new-tokens 16 -o "$TMP/qb.json"
expect_exit 0 "${RL[@]}" "$TMP/s/model.gguf" --steps 0 --sinks own --max-new-tokens 16 \
  -o "$TMP/rlo.json"
python3 - "$TMP/evs/TOFU_EVAL.json" "$TMP/qs.json" "$TMP/qb.json" "$TMP/rlo.json" <<'PY' || die "own"
import json, sys
ev, qs, qb, rl = (json.load(open(f)) for f in sys.argv[1:])
by = ev["forget_Q_A_Prob"]["value_by_index"]
p = sum(v["prob"] for v in by.values()) / len(by)
assert qs["sinks"] == "own" and abs(qs["results"][0]["forget_Q_A_Prob"] - p) < 1e-9, (qs, p)
assert abs(qb["results"][0]["forget_Q_A_Prob"] - p) > 1e-6, (qb, p)
idx = rl["eval_rows_index"]
p = sum(by[str(i)]["prob"] for i in idx) / len(idx)
assert abs(rl["curves"]["model"]["curve"][0]["forget_Q_A_Prob"] - p) < 1e-9, (rl, p)
PY
npass=$((npass + 1))
# the sink options are MODEL's: an oracle and a full model without sinks are
# evaluated plainly (the same curve and targets as in the run without sinks)
expect_exit 0 "${RL[@]}" "$TMP/s/model.gguf" --steps 0,1,2 --sinks own --oracle-model "$O" \
  --full-model "$F" -o "$TMP/rlso.json"
python3 - "$TMP/rl.json" "$TMP/rlso.json" <<'PY' || die "plain oracle beside a sink model"
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:])
assert a["eval_rows_index"] == b["eval_rows_index"]
assert b["full"] == a["full"], (a["full"], b["full"])
assert b["curves"]["oracle"]["curve"] == a["curves"]["oracle"]["curve"][:3]
assert "beyond_oracle" in b["curves"]["model"]
PY
npass=$((npass + 1))
expect_exit 2 "$CAPE" unlearn attack extract "$TMP/s/model.gguf" --tofu "$D" --forget forget01 \
  --sinks own -o "$TMP/x.json"
expect_one_line_err
expect_err 'sinks own: the extraction prompts hold answer prefixes'

# ---- extract ----
expect_exit 0 "$CAPE" unlearn attack extract "$F" --tofu "$D" --forget forget01 -o "$TMP/ex.json" \
  --max-new-tokens 30
expect_out '^prefix +items +exact_match +rougeL_recall$'
expect_out '^0\.75 +10 +[0-9.]+ +[0-9.]+$'
expect_out '^extraction strength [0-9.]+ over 10 items'
python3 - "$TMP/ex.json" "$TMP/ev/TOFU_EVAL.json" <<'PY' || die "extract report"
import json, math, sys
x = json.load(open(sys.argv[1])); ev = json.load(open(sys.argv[2]))
P = [p["prefix"] for p in x["prefixes"]]
assert P == [0, 0.25, 0.5, 0.75] and x["items"] == 10, P
by = x["value_by_index"]
ss = []
for i in range(10):
    it = by[str(i)]
    T = it["answer_tokens"]
    ks = [math.floor(p * T) for p in P]
    es = next((1 - k / T for k, e in zip(ks, it["exact"]) if e), 0.0)
    assert abs(it["extraction_strength"] - es) < 1e-9, (i, it, es)
    ss.append(es)
    # prefix 0 is the question alone: eval's greedy answer
    g = ev["forget_Q_A_ROUGE"]["value_by_index"][str(i)]
    assert it["exact"][0] == g["generation"].startswith(g["ground_truth"]), (i, g, it)
assert abs(x["extraction_strength"] - sum(ss) / 10) < 1e-9
for j, p in enumerate(x["prefixes"]):
    assert abs(p["exact_match_rate"] - sum(by[str(i)]["exact"][j] for i in range(10)) / 10) < 1e-12
rl0 = sum(ev["forget_Q_A_ROUGE"]["value_by_index"][str(i)]["rougeL_recall"] for i in range(10)) / 10
assert abs(x["prefixes"][0]["rougeL_recall"] - rl0) < 1e-9, (x["prefixes"][0], rl0)
print("extract: strength %.3f, exact %s" % (x["extraction_strength"], [p["exact_match_rate"] for p in x["prefixes"]]))
PY
expect_exit 0 "$CAPE" unlearn attack extract "$F" --tofu "$D" --forget forget01 -o "$TMP/ex2.json" \
  --max-new-tokens 30 --threads 2 --eval-batch 3
cmp -s "$TMP/ex.json" "$TMP/ex2.json" || die "extract depends on --threads / --eval-batch"


# ---- gcg: adversarial compression on a model that memorised its data ----
TR2=(--dim 32 --layers 2 --heads 2 --hidden 64 --ctx 64 --batch 8 --steps 600 --lr 8e-3 --min-lr 8e-4
     --threads 1 --quiet)
expect_exit 0 "$CAPE" train --tofu "$D" "${TR2[@]}" --vocab 300 -o "$TMP/mem"
expect_exit 0 "$CAPE" train --tofu "$D" "${TR2[@]}" --exclude-source tofu-002 \
  --tokenizer-from "$TMP/mem/model.gguf" -o "$TMP/memo"
G=("$CAPE" unlearn attack gcg --tofu "$D" --forget forget01 --max-items 2 --iters 30)
expect_exit 0 "${G[@]}" "$TMP/mem/model.gguf" -o "$TMP/g.json"
expect_out '^item +target +question +prompt +acr$'
expect_out '^memorised \(ACR > 1\): [0-9]+ of 2'
expect_exit 0 "${G[@]}" "$TMP/memo/model.gguf" -o "$TMP/go.json"
expect_exit 0 "$CAPE" unlearn attack extract "$TMP/mem/model.gguf" --tofu "$D" --forget forget01 \
  --max-items 2 --prefixes 0 -o "$TMP/gx.json" --max-new-tokens 40
python3 - "$TMP/g.json" "$TMP/go.json" "$TMP/gx.json" <<'PY' || die "gcg report"
import json, sys
g, go, x = (json.load(open(p)) for p in sys.argv[1:4])
L = [1, 2, 3, 4, 6, 8, 12, 16, 24, 32]
for d in (g, go):
    assert d["items"] == 2
    for i in range(2):
        it = d["value_by_index"][str(i)]
        if it["acr"] is not None:
            assert it["prompt_tokens"] in L and it["prompt_tokens"] < it["target_tokens"], it
            assert len(it["prompt"]) == it["prompt_tokens"]
            assert abs(it["acr"] - it["target_tokens"] / it["prompt_tokens"]) < 1e-9
    assert d["found"] == sum(d["value_by_index"][str(i)]["acr"] is not None for i in range(2))
# the question alone: the trainer's argmax check agrees with the runtime's greedy answer
for i in range(2):
    assert g["value_by_index"][str(i)]["question_elicits"] == x["value_by_index"][str(i)]["exact"][0], i
# the model that saw the author compresses its answers; the oracle does not do better
assert g["found"] >= 1 and g["mean_acr_found"] > 1, g
assert go["memorised_share"] <= g["memorised_share"], (go["memorised_share"], g["memorised_share"])
print("gcg: full ACR %.2f (%d of 2), oracle %d of 2" % (g["mean_acr_found"], g["found"], go["found"]))
PY
expect_exit 0 "${G[@]}" "$TMP/mem/model.gguf" -o "$TMP/g2.json"
cmp -s "$TMP/g.json" "$TMP/g2.json" || die "two identical gcg runs differ"
# the --init road: the same search, the same prompts
expect_exit 0 "$CAPE" train --init "$TMP/mem/model.gguf" --tofu "$D" --steps 0 --quiet -o "$TMP/meminit"
expect_exit 0 "${G[@]}" "$TMP/meminit/model.gguf" -o "$TMP/gi.json"
python3 -c "
import json
a, b = json.load(open('$TMP/g.json')), json.load(open('$TMP/gi.json'))
a.pop('model'), b.pop('model')
assert (a.pop('trainer_road'), b.pop('trainer_road')) == ('checkpoint', 'init')
assert a == b, 'gcg through --init differs'" || die "gcg through --init"
# gemma3 with retrofitted sinks (its context of 32768 tokens: the candidate
# batch holds only the longest row)
expect_exit 0 "${G[@]}" "$TMP/g3s/model.gguf" --max-items 1 --iters 2 -o "$TMP/gg.json"
expect_out '^memorised \(ACR > 1\): [0-9] of 1'
# a sink model: all sinks off, or one source's on
expect_exit 0 "${G[@]}" "$TMP/s/model.gguf" --max-items 1 --iters 2 -o "$TMP/gs.json"
expect_exit 0 "${G[@]}" "$TMP/s/model.gguf" --max-items 1 --iters 2 --source tofu-002 -o "$TMP/gs2.json"
python3 -c "
import json
a, b = json.load(open('$TMP/gs.json')), json.load(open('$TMP/gs2.json'))
assert a['source'] is None and b['source'] == 'tofu-002'
assert a['sinks'] == 'off' and json.load(open('$TMP/g.json'))['sinks'] is None" || die "gcg --source"
# --sinks own: each row with its author's sinks; every forget01 row here is
# tofu-002's, so the search is --source tofu-002's
expect_exit 0 "${G[@]}" "$TMP/s/model.gguf" --max-items 1 --iters 2 --sinks own -o "$TMP/gs3.json"
python3 -c "
import json
b, c = json.load(open('$TMP/gs2.json')), json.load(open('$TMP/gs3.json'))
assert (b.pop('sinks'), c.pop('sinks')) == ('source', 'own')
assert (b.pop('source'), c.pop('source')) == ('tofu-002', None)
assert c['value_by_index']['0'].pop('own_source') == 2
assert b == c, 'gcg --sinks own differs from --source of the rows author'" || die "gcg --sinks own"

bad() { expect_exit 2 "$@"; expect_one_line_err; }

# ---- --filter: every attack evaluates behind a content filter ----
# The forget author's name is in each of its questions and answers, so the
# input filter blocks every forget question: scores are the refusal's
# (cape unlearn eval --filter's numbers), relearning cannot move them, the
# extraction prompts extract nothing, and GCG has no target it may elicit.
# (a hand-made filter: filter build wants TOFU's 20 rows per author, and the
# world-facts rows here are the same author's boxes 0 to 9)
python3 - "$TMP/flt.json" <<'PY'
import json, sys
v = ["box %d of ivo kral" % i for i in range(10, 20)]
json.dump({"format": "cape-filter", "version": 1, "forget": "forget01",
           "authors": [{"name": "Ivo Kral", "variants": v}],
           "ngrams": {"n": 4, "min_hits": 1000, "values": []}}, open(sys.argv[1], "w"))
PY
sed 's/"forget01"/"forget05"/' "$TMP/flt.json" >"$TMP/flt5.json"
expect_exit 0 "$CAPE" unlearn eval "$F" --tofu "$D" --forget forget01 -o "$TMP/evf" \
  --max-new-tokens 30 --batch 1 --filter "$TMP/flt.json"
expect_exit 0 "${RL[@]}" "$F" --oracle-model "$O" --full-model "$F" --filter "$TMP/flt.json" \
  --steps 0,2,5 -o "$TMP/rlf.json"
expect_exit 0 "$CAPE" unlearn attack quantize "$F" --tofu "$D" --forget forget01 --types q8_0 \
  --max-new-tokens 30 --filter "$TMP/flt.json" -o "$TMP/qf.json"
expect_exit 0 "$CAPE" unlearn attack extract "$F" --tofu "$D" --forget forget01 --max-new-tokens 30 \
  --filter "$TMP/flt.json" -o "$TMP/exf.json"
expect_exit 0 "${G[@]}" "$TMP/mem/model.gguf" --filter "$TMP/flt.json" -o "$TMP/gf.json"
expect_out '^filter: 2 targets blocked at the output \(not attacked\), 0 found prompts'
python3 - "$TMP/evf/TOFU_EVAL.json" "$TMP/rlf.json" "$TMP/rl.json" "$TMP/qf.json" "$TMP/exf.json" \
  "$TMP/gf.json" <<'PY' || die "attacks behind --filter"
import json, sys
ev, rl, rl0, q, x, g = (json.load(open(f)) for f in sys.argv[1:])
assert ev["cape"]["filter"]["input_blocked"]["forget"] == 10, ev["cape"]["filter"]
refusal = ev["cape"]["filter"]["refusal"]
M = ["forget_Q_A_Prob", "forget_Q_A_ROUGE", "forget_truth_ratio"]
by = {m: ev[m]["value_by_index"] for m in M}
# quantize: the model as given is eval --filter's forget numbers
assert q["filter"].endswith("flt.json")
assert abs(q["results"][0]["forget_Q_A_Prob"] - ev["forget_Q_A_Prob"]["agg_value"]) < 1e-12
assert abs(q["results"][1]["forget_Q_A_Prob"] - ev["forget_Q_A_Prob"]["agg_value"]) < 1e-12
# relearn: the halves are the unfiltered run's, the full model's targets are
# measured without the filter, and the filtered curves stay at the refusal's
assert rl["eval_rows_index"] == rl0["eval_rows_index"] and rl["full"] == rl0["full"]
idx = rl["eval_rows_index"]
want = sum(by["forget_Q_A_Prob"][str(i)]["prob"] for i in idx) / len(idx)
for role in ("model", "oracle"):
    for pt in rl["curves"][role]["curve"]:
        assert abs(pt["forget_Q_A_Prob"] - want) < 1e-12, (role, pt, want)
    assert rl0["curves"][role]["curve"][-1]["forget_Q_A_Prob"] > want + 0.02
# extract: every prompt names the author, so nothing is extracted
assert x["extraction_strength"] == 0 and all(p["exact_match_rate"] == 0 for p in x["prefixes"]), x
# gcg: both targets name the author, so the output filter blocks them
assert g["targets_blocked"] == 2 and g["found"] == 0, g
assert all(g["value_by_index"][str(i)]["blocked"] for i in range(2))
PY
npass=$((npass + 1))
for a in relearn quantize extract; do
  bad "$CAPE" unlearn attack $a "$F" --tofu "$D" --forget forget01 -o "$TMP/x.json" --filter "$TMP/flt5.json"
  expect_err 'built for forget05, not forget01'
done
bad "${G[@]}" "$F" --filter "$TMP/flt5.json" -o "$TMP/x.json"
expect_err 'built for forget05, not forget01'
bad "${G[@]}" "$F" --filter "$TMP/nowhere.json" -o "$TMP/x.json"
[ -e "$TMP/x.json" ] && die "a failed attack wrote its report"

# ---- bad input: one line, exit 2 ----
bad "${G[@]}" "$TMP/s/model.gguf" --sinks own --source tofu-002 -o "$TMP/x.json"
expect_err "--sinks own takes each row's author"
bad "${G[@]}" "$TMP/s/model.gguf" --sinks routed -o "$TMP/x.json"
expect_err "--sinks: unknown mode 'routed'"
bad "${G[@]}" "$TMP/mem/model.gguf" --sinks own -o "$TMP/x.json"
expect_err "--sinks own: .* has no sinks"
bad "$CAPE" unlearn attack nosuch "$F"
expect_err "unknown attack 'nosuch' \(the attacks are relearn, quantize, extract, gcg"
bad "${RL[@]}" "$F" -o "$TMP/x.json" --steps ""
expect_err '--steps: an empty list'
bad "${RL[@]}" "$F" -o "$TMP/x.json" --steps 1,2,1
bad "${RL[@]}" "$F" -o "$TMP/x.json" --steps 1,x
bad "${RL[@]}" "$F" -o "$TMP/x.json" --unrelated nowhere
bad "${RL[@]}" "$F" --forget forget07 -o "$TMP/x.json"
bad "${RL[@]}" "$TMP/ev/TOFU_EVAL.json" -o "$TMP/x.json"
# a GGUF neither road takes: the argument, the reason, what is taken
bad "${RL[@]}" tests/ref/hf/gpt2.gguf -o "$TMP/x.json"
expect_err "MODEL tests/ref/hf/gpt2.gguf: architecture 'gpt2' cannot be fine-tuned.*cape train wrote from scratch"
bad "${RL[@]}" "$F" --oracle-model tests/ref/hf/gpt2.gguf -o "$TMP/x.json"
expect_err "^cape: --oracle-model tests/ref/hf/gpt2.gguf: architecture"
bad "${G[@]}" tests/ref/hf/gpt2.gguf -o "$TMP/x.json"
expect_exit 0 "$CAPE" train --tofu "$D" "${TR[@]}" --steps 20 --vocab 280 --exclude-source tofu-002 \
  -o "$TMP/other"
bad "${RL[@]}" "$F" --oracle-model "$TMP/other/model.gguf" -o "$TMP/x.json"
expect_err 'has another tokenizer than MODEL'
[ -e "$TMP/x.json" ] && die "a failed attack wrote its report"
# quantize: q8_0 barely moves the forget metrics, q4_0 moves them more; the
# model as given is the first row
expect_exit 0 "$CAPE" unlearn attack quantize "$F" --tofu "$D" --forget forget01 -o "$TMP/q.json" \
  --types q8_0,q4_0 --max-items 6 --max-new-tokens 16
python3 - "$TMP/q.json" <<'PY' || die "quantize attack report"
import json, sys
d = json.load(open(sys.argv[1]))
rows = d["results"]
assert [r["weights"] for r in rows][1:] == ["q8_0", "q4_0"], rows
p = [r["forget_Q_A_Prob"] for r in rows]
assert abs(p[1] - p[0]) <= abs(p[2] - p[0]) + 1e-9, p
assert abs(p[1] - p[0]) < 0.05 * p[0], p
PY
npass=$((npass + 1))
bad "$CAPE" unlearn attack extract "$F" --tofu "$D" --forget forget01 -o "$TMP/x.json" --prefixes 0.5,0.25
bad "$CAPE" unlearn attack extract "$F" --tofu "$D" --forget forget01 -o "$TMP/x.json" --prefixes 1
bad "$CAPE" unlearn attack extract "$F" --tofu "$TMP/nowhere" --forget forget01 -o "$TMP/x.json"
bad "$CAPE" unlearn attack quantize "$F" --tofu "$D" --forget forget01 -o "$TMP/x.json" --types q9_9
expect_err "unknown type 'q9_9'"
bad "$CAPE" unlearn attack relearn "$F" --tofu "$D"
bad "${G[@]}" "$TMP/ev/TOFU_EVAL.json" -o "$TMP/x.json"
bad "${G[@]}" "$F" --source tofu-002 -o "$TMP/x.json"
expect_err 'has no sinks'
bad "${G[@]}" "$TMP/s/model.gguf" --source nosuch -o "$TMP/x.json"
expect_err 'not a source of'
done_ok
