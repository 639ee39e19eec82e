#!/usr/bin/env bash
# The sink-layout sweep of the unlearning demonstration: how the sink units
# per source (--sink-k) and the backbone fraction (--p-gen, which sets the
# pool's size) trade forget quality against collateral on TOFU forget10.
#
#   scripts/tofu_sink_sweep.sh [TOFU_DIR] [OUT_DIR]
#
# OUT_DIR is scripts/tofu_unlearn_demo.sh's: the sweep reads its forget10
# oracle evaluation (OUT/eval/forget10/oracle/TOFU_EVAL.json), so run the demo
# first (SPLITS=10 is enough). Each layout (LAYOUTS, "K:PGEN" pairs) is a sink
# model trained with the demo's recipe (OUT/models/sweep-kK-pP), then scored
# three ways: every author on (own ids), the 20 forget authors switched off
# (routed), and the placebo (20 random other authors off, own ids, the demo's
# draw). The demo's own sink model (k 32, p-gen 0.5) is the first point.
# Writes OUT/sweep.md and OUT/sweep.svg. Steps whose output exists are skipped,
# so a killed run continues where it stopped.
# Environment: LAYOUTS, THREADS, MAX_ITEMS.
set -euo pipefail
cd "$(dirname "$0")/.."
tofu=${1:-../shared/data/tofu}
out=${2:-tofu-unlearn-demo}
cape=${CAPE:-./build/rel/cape}
layouts=${LAYOUTS:-4:0.5 8:0.5 16:0.5 8:0.25}
threads=${THREADS:-2}
items=()
[ -n "${MAX_ITEMS:-}" ] && items=(--max-items "$MAX_ITEMS")
m=$out/models
oracle=$out/eval/forget10/oracle/TOFU_EVAL.json
[ -f "$m/sinks/model.gguf" ] || { echo "$m/sinks/model.gguf: run scripts/tofu_unlearn_demo.sh first" >&2; exit 2; }

common=(--tofu "$tofu" --arch llama --dim 128 --layers 4 --heads 4 --kv-heads 2 --hidden 512
        --batch 16 --steps 2800 --lr 3e-3 --min-lr 3e-4 --warmup 100 --wd 0.01
        --val-frac 0 --ckpt-every 500 --seed 1 --quiet --json)
forget=$(seq -f "tofu-%03g" 181 200 | paste -sd,)
placebo=$(python3 -c "import random; n=20; r=random.Random(1000+n)
print(','.join('tofu-%03d' % a for a in sorted(r.sample(range(1, 201 - n), n))))")

evaluate() { # dir, model, flags...
  local dir=$1 model=$2; shift 2
  [ -f "$dir/TOFU_SUMMARY.json" ] && return 0
  echo "== eval $dir"
  mkdir -p "$(dirname "$dir")"
  local rc=0
  "$cape" unlearn eval "$model" --tofu "$tofu" --forget forget10 -o "$dir" --oracle "$oracle" \
    --threads "$threads" "${items[@]}" "$@" --json > /dev/null || rc=$?
  [ "$rc" = 0 ] || [ "$rc" = 1 ] || exit "$rc" # 1: utility 0 (see the demo)
}

names=(sinks)
for l in $layouts; do
  k=${l%%:*} p=${l##*:}
  name=sweep-k$k-p$p
  names+=("$name")
  if [ ! -f "$m/$name/model.gguf" ]; then
    echo "== train $name"
    "$cape" train "${common[@]}" --threads "$threads" --sinks --sink-k "$k" --p-gen "$p" \
      --tokenizer-from "$m/sinks/model.gguf" -o "$m/$name" > "$m/$name.json"
  fi
done
[ -f "$oracle" ] || { echo "$oracle: run scripts/tofu_unlearn_demo.sh (SPLITS=10) first" >&2; exit 2; }
for name in "${names[@]}"; do
  model=$m/$name/model.gguf
  [ -f "$m/$name-off10.gguf" ] ||
    "$cape" forget "$model" --source "$forget" -o "$m/$name-off10.gguf" --json > "$m/$name-off10.json"
  [ -f "$m/$name-placebo10.gguf" ] ||
    "$cape" forget "$model" --source "$placebo" -o "$m/$name-placebo10.gguf" --json \
      > "$m/$name-placebo10.json"
  evaluate "$out/sweep/$name/on" "$model" --sinks own
  evaluate "$out/sweep/$name/off" "$m/$name-off10.gguf"
  evaluate "$out/sweep/$name/placebo" "$m/$name-placebo10.gguf" --sinks own
done
python3 scripts/tofu_sweep_summary.py "$out" "${names[@]}"
