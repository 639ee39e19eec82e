#!/usr/bin/env bash
# The TOFU demonstration of per-source sinks: trains one llama-style model
# with sinks (one source per fictitious author, 200 in all) and one without,
# same recipe, side by side (one thread each), then the retain-only reference
# (TOFU's forget01 authors tofu-199 and tofu-200 left out, same recipe and
# tokenizer, two threads). Prints each run's wall and CPU time, then the
# per-author answer loss with the author's sinks on, backbone only, all sinks
# scaled, and the author switched off (routed), the same authors for the
# model without sinks and the retain-only model, and the forget01 result.
#   scripts/tofu_demo.sh [TOFU_DIR] [OUT_DIR]
# EXTRA="--no-pack ..." adds training flags; REUSE=1 evaluates the models
# already in OUT_DIR without training.
set -euo pipefail
cd "$(dirname "$0")/.."
tofu=${1:-../shared/data/tofu}
out=${2:-tofu-demo}
cape=${CAPE:-./build/rel/cape}
authors=${AUTHORS:-tofu-001,tofu-050,tofu-100,tofu-150,tofu-199,tofu-200}
read -r -a extra <<<"${EXTRA:-}"
mkdir -p "$out"
common=(--tofu "$tofu" --arch llama --dim 128 --layers 4 --heads 4 --kv-heads 2 --hidden 512
        --batch 16 --steps 2800 --lr 3e-3 --min-lr 3e-4 --warmup 100 --wd 0.01
        --val-frac 0 --ckpt-every 500 --seed 1 --quiet --json "${extra[@]}")
if [ -z "${REUSE:-}" ]; then
t0=$(date +%s)
"$cape" train "${common[@]}" --vocab 2048 --threads 1 --sinks --p-gen 0.5 --sink-k 32 \
  -o "$out/sinks" >"$out/sinks.json" &
"$cape" train "${common[@]}" --vocab 2048 --threads 1 -o "$out/nosinks" >"$out/nosinks.json" &
wait
t1=$(date +%s)
"$cape" train "${common[@]}" --threads 2 --exclude-source tofu-199,tofu-200 \
  --tokenizer-from "$out/sinks/model.gguf" -o "$out/retain" >"$out/retain.json"
t2=$(date +%s)
echo "wall: sinks + nosinks side by side $(( (t1 - t0) / 60 )) min $(( (t1 - t0) % 60 )) s, retain-only $(( (t2 - t1) / 60 )) min $(( (t2 - t1) % 60 )) s"
fi
for r in sinks nosinks retain; do
  python3 - "$out/$r.json" "$r" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
print(f"{sys.argv[2]:8s} loss {d['loss']:.3f}  wall {d['wall_s'] / 60:5.1f} min  "
      f"CPU {d['cpu_s'] / 60:5.1f} min  {d['tok_per_s']:.0f} positions/s, "
      f"{d['useful_tok_per_s']:.0f} useful tokens/s, fill {d['fill']:.3f}")
PY
done
echo "== with sinks: per-author answer loss by mode"
"$cape" forget "$out/sinks/model.gguf" --eval --tofu "$tofu" --source "$authors"
echo "== with sinks: all 200 authors"
"$cape" forget "$out/sinks/model.gguf" --eval --tofu "$tofu" --json | tail -n 8
echo "== without sinks"
"$cape" forget "$out/nosinks/model.gguf" --eval --tofu "$tofu" --source "$authors"
"$cape" forget "$out/nosinks/model.gguf" --eval --tofu "$tofu" --json | tail -n 4
echo "== retain-only (never saw tofu-199, tofu-200)"
"$cape" forget "$out/retain/model.gguf" --eval --tofu "$tofu" --source "$authors"
"$cape" forget "$out/retain/model.gguf" --eval --tofu "$tofu" --json | tail -n 4
echo "== forget01 (the last 2 authors) switched off; every author evaluated"
"$cape" forget "$out/sinks/model.gguf" --source tofu-199,tofu-200 -o "$out/forget01.gguf"
"$cape" forget "$out/forget01.gguf" --eval --tofu "$tofu" --source "$authors"
"$cape" forget "$out/forget01.gguf" --eval --tofu "$tofu" --json | tail -n 8
