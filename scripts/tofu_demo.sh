#!/usr/bin/env bash
# The TOFU demonstration of per-source sinks: trains one llama-style model
# with sinks (one source per fictitious author, 200 in all) and one without,
# same recipe, then prints per-author answer loss with the author's sinks on,
# backbone only, all sinks scaled, and the author switched off (routed), and
# the same authors for the model without sinks. Both runs go side by side,
# one thread each.
#   scripts/tofu_demo.sh [TOFU_DIR] [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
tofu=${1:-../shared/data/tofu}
out=${2:-tofu-demo}
cape=${CAPE:-./build/rel/cape}
authors=${AUTHORS:-tofu-001,tofu-050,tofu-100,tofu-150,tofu-199,tofu-200}
mkdir -p "$out"
common=(--tofu "$tofu" --arch llama --dim 128 --layers 4 --heads 4 --kv-heads 2 --hidden 512
        --vocab 2048 --batch 16 --steps 2800 --lr 3e-3 --min-lr 3e-4 --warmup 100 --wd 0.01
        --val-frac 0 --ckpt-every 500 --threads 1 --seed 1 --quiet --json)
"$cape" train "${common[@]}" --sinks --p-gen 0.5 --sink-k 32 -o "$out/sinks" >"$out/sinks.json" &
"$cape" train "${common[@]}" -o "$out/nosinks" >"$out/nosinks.json" &
wait
cat "$out/sinks.json" "$out/nosinks.json"
echo "== with sinks: per-author answer loss by mode"
"$cape" forget "$out/sinks/model.gguf" --eval --tofu "$tofu" --source "$authors"
echo "== with sinks: all 200 authors"
"$cape" forget "$out/sinks/model.gguf" --eval --tofu "$tofu" --json | tail -n 8
echo "== without sinks"
"$cape" forget "$out/nosinks/model.gguf" --eval --tofu "$tofu" --source "$authors"
"$cape" forget "$out/nosinks/model.gguf" --eval --tofu "$tofu" --json | tail -n 4
echo "== forget01 (the last 2 authors) switched off; every author evaluated"
"$cape" forget "$out/sinks/model.gguf" --source tofu-199,tofu-200 -o "$out/forget01.gguf"
"$cape" forget "$out/forget01.gguf" --eval --tofu "$tofu" --source "$authors"
