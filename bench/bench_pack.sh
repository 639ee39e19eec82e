#!/usr/bin/env bash
# Row packing on TOFU: useful (non-padding) training tokens per second with
# packed rows against one document per row (--no-pack), at the TOFU
# demonstration's configuration (scripts/tofu_demo.sh), one thread. Runs
# alternate so both see the same load; each prints its median.
#   REPEAT=3 STEPS=200 bash bench/bench_pack.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cape=${CAPE:-./build/rel/cape}
tofu=${TOFU:-../shared/data/tofu}
repeat=${REPEAT:-3}
steps=${STEPS:-200}
[ -f "$tofu/full.json" ] || { echo "bench_pack: no TOFU data in $tofu, skipped"; exit 0; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cfg=(--tofu "$tofu" --arch llama --dim 128 --layers 4 --heads 4 --kv-heads 2 --hidden 512
     --vocab 2048 --batch 16 --steps "$steps" --lr 3e-3 --val-frac 0 --ckpt-every 0
     --threads 1 --seed 1 --quiet --json)
field() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$1" "$2"; }
for i in $(seq 1 "$repeat"); do
  for mode in packed unpacked; do
    extra=(); [ "$mode" = unpacked ] && extra=(--no-pack)
    "$cape" train "${cfg[@]}" "${extra[@]}" -o "$tmp/$mode-$i" >"$tmp/$mode-$i.json"
    printf '%-9s run %d: %8.0f positions/s %8.0f useful tokens/s (fill %.3f, %s rows)\n' "$mode" "$i" \
      "$(field "$tmp/$mode-$i.json" tok_per_s)" "$(field "$tmp/$mode-$i.json" useful_tok_per_s)" \
      "$(field "$tmp/$mode-$i.json" fill)" "$(field "$tmp/$mode-$i.json" train_rows)"
  done
done
python3 - "$tmp" "$repeat" <<'PY'
import json, statistics, sys
d, n = sys.argv[1], int(sys.argv[2])
med = {}
for mode in ("packed", "unpacked"):
    v = [json.load(open(f"{d}/{mode}-{i}.json"))["useful_tok_per_s"] for i in range(1, n + 1)]
    med[mode] = statistics.median(v)
    print(f"{mode:9s} median {med[mode]:8.0f} useful tokens/s (min {min(v):.0f}, max {max(v):.0f})")
print(f"packing: {med['packed'] / med['unpacked']:.2f}x useful tokens/s")
PY
