#!/usr/bin/env bash
# The unlearning demonstration on TOFU: does switching an author's sinks off
# forget like a model that never saw the author, and how do the post-hoc
# methods compare? Every model is scored with `cape unlearn eval` (open-
# unlearning's metrics) against the retrain oracle of its split, with the
# placebo control (as many random other authors switched off).
#
#   scripts/tofu_unlearn_demo.sh [TOFU_DIR] [OUT_DIR]
#
# Models (OUT_DIR/models): full (no sinks), sinks (one source per author, as
# scripts/tofu_demo.sh), and per split the oracle trained without the forget
# authors (same recipe and tokenizer). Per split (SPLITS, default "01 05 10"):
#   oracle          the retrain oracle (the reference of forget quality)
#   full            the model without sinks
#   sinks-on        the sink model, every question with its author's sinks
#   sinks-off       forget authors switched off, questions routed (deployment)
#   sinks-off-own   forget authors switched off, each question with its true
#                   author (no routing: a switched-off author keeps the backbone)
#   sinks-backbone  the sink model with every sink off
#   placebo         as many random other authors switched off (seeded), own ids
#   PM-lrX          each post-hoc method (METHODS) on the full model at each
#                   learning rate of LRS, EPOCHS epochs
# Then OUT_DIR/summary.md (the table) and OUT_DIR/fq_mu.svg (forget quality,
# log scale, against model utility). Each step is skipped when its output
# exists, so a killed run continues where it stopped.
# Environment: SPLITS, METHODS, LRS, EPOCHS, THREADS, MAX_ITEMS (a quick look),
# SINK_K (sinks per author, default 32, the layout of docs/UNLEARN.md's first
# tables; "default" leaves it to cape train, 4 of 256 for 200 authors).
set -euo pipefail
cd "$(dirname "$0")/.."
tofu=${1:-../shared/data/tofu}
out=${2:-tofu-unlearn-demo}
cape=${CAPE:-./build/rel/cape}
splits=${SPLITS:-01 05 10}
methods=${METHODS:-ga graddiff npo simnpo rmu idkdpo}
lrs=${LRS:-1e-4 3e-4 1e-3}
epochs=${EPOCHS:-5}
threads=${THREADS:-2}
sink_k=(--sink-k "${SINK_K:-32}")
[ "${SINK_K:-}" = default ] && sink_k=()
items=()
[ -n "${MAX_ITEMS:-}" ] && items=(--max-items "$MAX_ITEMS")
mkdir -p "$out/models" "$out/eval"
m=$out/models

common=(--tofu "$tofu" --arch llama --dim 128 --layers 4 --heads 4 --kv-heads 2 --hidden 512
        --batch 16 --steps 2800 --lr 3e-3 --min-lr 3e-4 --warmup 100 --wd 0.01
        --val-frac 0 --ckpt-every 500 --seed 1 --quiet --json)
authors() { # the forget authors of split NN: the last 2 * NN of the 200
  seq -f "tofu-%03g" $((201 - 2 * 10#$1)) 200 | paste -sd,
}
placebo() { # as many authors, drawn (seeded) from the other ones
  python3 -c "import random,sys; n=2*int(sys.argv[1]); r=random.Random(1000+n)
print(','.join('tofu-%03d' % a for a in sorted(r.sample(range(1, 201 - n), n))))" "$1"
}
train() { # name, flags...
  local name=$1; shift
  [ -f "$m/$name/model.gguf" ] && return 0
  echo "== train $name"
  "$cape" train "${common[@]}" "$@" -o "$m/$name" > "$m/$name.json"
}
evaluate() { # name, model, split, flags...
  local name=$1 model=$2 s=$3; shift 3
  local dir=$out/eval/forget$s/$name
  [ -f "$dir/TOFU_SUMMARY.json" ] && return 0
  echo "== eval forget$s $name"
  mkdir -p "$(dirname "$dir")"
  local oracle=()
  [ "$name" != oracle ] && oracle=(--oracle "$out/eval/forget$s/oracle/TOFU_EVAL.json")
  # exit 1 is a failed sanity check, the files written: a model trained from
  # scratch on TOFU knows no real author or world fact, so its model utility
  # can be exactly 0 (the summary adds the retain-only utility)
  local rc=0
  "$cape" unlearn eval "$model" --tofu "$tofu" --forget "forget$s" -o "$dir" "${oracle[@]}" \
    --threads "$threads" "${items[@]}" "$@" --json > /dev/null || rc=$?
  [ "$rc" = 0 ] || [ "$rc" = 1 ] || exit "$rc"
}

train sinks --vocab 2048 --threads "$threads" --sinks --p-gen 0.5 "${sink_k[@]}"
train full --threads "$threads" --tokenizer-from "$m/sinks/model.gguf"
for s in $splits; do
  train "oracle$s" --threads "$threads" --exclude-source "$(authors "$s")" \
    --tokenizer-from "$m/sinks/model.gguf"
done

for s in $splits; do
  evaluate oracle "$m/oracle$s/model.gguf" "$s"
  evaluate full "$m/full/model.gguf" "$s"
  evaluate sinks-on "$m/sinks/model.gguf" "$s" --sinks own
  evaluate sinks-backbone "$m/sinks/model.gguf" "$s" --sinks backbone
  [ -f "$m/sinks-off$s.gguf" ] ||
    "$cape" forget "$m/sinks/model.gguf" --source "$(authors "$s")" -o "$m/sinks-off$s.gguf" --json \
      > "$m/sinks-off$s.json"
  [ -f "$m/placebo$s.gguf" ] ||
    "$cape" forget "$m/sinks/model.gguf" --source "$(placebo "$s")" -o "$m/placebo$s.gguf" --json \
      > "$m/placebo$s.json"
  evaluate sinks-off "$m/sinks-off$s.gguf" "$s"
  evaluate sinks-off-own "$m/sinks-off$s.gguf" "$s" --sinks own
  evaluate placebo "$m/placebo$s.gguf" "$s" --sinks own
  for pm in $methods; do
    for lr in $lrs; do
      name=$pm-lr$lr
      if [ ! -f "$m/$name-f$s.gguf" ]; then
        echo "== unlearn $name forget$s"
        "$cape" unlearn run "$m/full/model.gguf" --method "$pm" --tofu "$tofu" --forget "forget$s" \
          --lr "$lr" --epochs "$epochs" --threads "$threads" --json -o "$m/$name-f$s.gguf" \
          > "$m/$name-f$s.json"
      fi
      evaluate "$name" "$m/$name-f$s.gguf" "$s"
    done
  done
done

python3 scripts/tofu_unlearn_summary.py "$out" $splits
