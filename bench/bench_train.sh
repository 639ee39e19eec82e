#!/usr/bin/env bash
# Training throughput of cape train beside its peers, measured in the same
# run at identical configurations (GPT-2 family, random tokens, AdamW):
#   llm.c's CPU trainer train_gpt2.c: give a binary that takes
#     "L C NH V maxT B T STEPS" and prints "... tok_per_s X" as $LLMC_BENCH
#     (built outside this repository; without it llm.c is skipped);
#   PyTorch on CPU (bench/torch_train.py; needs `pip install torch`; $PYTHON).
# Prints tokens/s, the ratio to each peer, model FLOP utilisation against the
# fp32 AVX-512 peak of 2 cores ($PEAK_GFLOPS, default 430) and peak resident
# memory per million parameters.
set -uo pipefail
cd "$(dirname "$0")/.."
CAPE=${CAPE:-./build/rel/cape}
PYTHON=${PYTHON:-python3}
THREADS=${THREADS:-2}
PEAK=${PEAK_GFLOPS:-430}
STEPS=${STEPS:-6}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# name L C NH V B T
CONFIGS=${CONFIGS:-"tiny 4 128 4 512 8 128
gpt2-124M 12 768 12 50257 4 64"}

median_step() { # log.jsonl -> median seconds per step, first step excluded
  $PYTHON - "$1" <<'PY'
import json, statistics, sys
e = [json.loads(l)["elapsed_s"] for l in open(sys.argv[1])]
d = [b - a for a, b in zip(e, e[1:])]
print(statistics.median(d))
PY
}

printf '%-10s %-12s %10s %10s %8s %7s %10s\n' config trainer tok/s params MFU% RSS/MP "x peer"
while read -r name L C NH V B T; do
  [ -z "$name" ] && continue
  declare -A tps=()
  for prec in fp32 bf16; do
    d="$out/$name-$prec"
    if ! /usr/bin/time -f '%M' -o "$d.rss" "$CAPE" train --random-data --arch gpt2 --layers "$L" \
        --dim "$C" --heads "$NH" --vocab "$V" --ctx "$T" --seq "$T" --batch "$B" --steps "$STEPS" \
        --val-frac 0 --ckpt-every 0 --threads "$THREADS" --precision "$prec" --quiet --json \
        -o "$d" >"$d.json" 2>"$d.err"; then
      [ "$prec" = bf16 ] && { echo "$name: cape bf16 skipped ($(head -c 120 "$d.err"))"; continue; }
      echo "cape failed: $(cat "$d.err")" >&2; continue
    fi
    params=$($PYTHON -c "import json,sys; print(json.load(open(sys.argv[1]))['parameters'])" "$d.json")
    step=$(median_step "$d/log.jsonl")
    t=$($PYTHON -c "print($B*$T/$step)")
    tps[cape-$prec]=$t
    mfu=$($PYTHON -c "print(f'{100*6*$params*$t/($PEAK*1e9):.1f}')")
    rss=$($PYTHON -c "print(f'{$(cat "$d.rss")/1024/($params/1e6):.1f}')")
    printf '%-10s %-12s %10.1f %10s %8s %7s\n' "$name" "cape-$prec" "$t" "$params" "$mfu" "$rss"
  done
  if [ -n "${LLMC_BENCH:-}" ] && [ -x "$LLMC_BENCH" ]; then
    t=$(OMP_NUM_THREADS=$THREADS "$LLMC_BENCH" "$L" "$C" "$NH" "$V" "$T" "$B" "$T" "$STEPS" 2>/dev/null |
        sed -n 's/.*tok_per_s \([0-9.]*\).*/\1/p')
    [ -n "$t" ] && tps[llm.c]=$t && printf '%-10s %-12s %10.1f\n' "$name" "llm.c" "$t"
  else
    echo "$name: llm.c skipped (set LLMC_BENCH)"
  fi
  if $PYTHON -c 'import torch' 2>/dev/null; then
    t=$($PYTHON bench/torch_train.py "$L" "$C" "$NH" "$V" "$B" "$T" "$STEPS" "$THREADS" |
        sed -n 's/.*tok_per_s \([0-9.]*\).*/\1/p')
    [ -n "$t" ] && tps[torch]=$t && printf '%-10s %-12s %10.1f\n' "$name" "pytorch" "$t"
  else
    echo "$name: PyTorch skipped (pip install torch; or set PYTHON)"
  fi
  for c in cape-fp32 cape-bf16; do
    [ -n "${tps[$c]:-}" ] || continue
    for p in llm.c torch; do
      [ -n "${tps[$p]:-}" ] && printf '%-10s %-12s ratio vs %-6s %6.2fx\n' "$name" "$c" "$p" \
        "$($PYTHON -c "print(${tps[$c]}/${tps[$p]})")"
    done
  done
  unset tps
done <<<"$CONFIGS"
