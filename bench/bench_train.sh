#!/usr/bin/env bash
# Training throughput of cape train beside its peers, measured in the same
# run at identical configurations (GPT-2 family, random tokens, AdamW):
#   llm.c's CPU trainer train_gpt2.c: give a binary that takes
#     "L C NH V maxT B T STEPS" and prints "... tok_per_s X" as $LLMC_BENCH
#     (built outside this repository; without it llm.c is skipped);
#   PyTorch on CPU (bench/torch_train.py; needs `pip install torch`; $PYTHON).
# Each trainer runs $REPEAT times, interleaved with the others, and the best
# run counts (the machine may be shared). Prints tokens/s (median step of a
# run, first step excluded), the ratio to each peer, model FLOP utilisation
# (6 * params * tokens/s) against the nominal fp32 AVX-512 peak of 2 cores
# ($PEAK_GFLOPS, default 430) and against the fp32 matmul rate measured here,
# and peak resident memory per million parameters.
#
# BENCH_ISA=avx2 (or scalar, avx512, vnni) limits every trainer to that
# instruction set, so an AVX-512 machine measures what an AVX2 one would
# run: cape through CAPE_ISA, PyTorch through ATEN_CPU_CAPABILITY (with MKL's
# MKL_ENABLE_INSTRUCTIONS and oneDNN's ONEDNN_MAX_CPU_ISA), OpenBLAS through
# OPENBLAS_CORETYPE (Haswell: its AVX2 sgemm). Below amx, cape's bf16 kernels
# do not exist, so only fp32 runs (PRECISIONS overrides). The nominal peak
# then halves (8-lane FMA).
set -uo pipefail
cd "$(dirname "$0")/.."
CAPE=${CAPE:-./build/rel/cape}
PYTHON=${PYTHON:-python3}
THREADS=${THREADS:-2}
BENCH_ISA=${BENCH_ISA:-}
PRECISIONS=${PRECISIONS:-fp32 bf16}
case "$BENCH_ISA" in
  "" | amx) ;;
  avx2 | scalar)
    export CAPE_ISA=$BENCH_ISA ATEN_CPU_CAPABILITY=${BENCH_ISA/scalar/default}
    export MKL_ENABLE_INSTRUCTIONS=AVX2 ONEDNN_MAX_CPU_ISA=AVX2 OPENBLAS_CORETYPE=Haswell
    [ "$BENCH_ISA" = scalar ] && export MKL_ENABLE_INSTRUCTIONS=SSE4_2 ONEDNN_MAX_CPU_ISA=SSE41 \
      OPENBLAS_CORETYPE=Nehalem
    PRECISIONS=${PRECISIONS/bf16/}
    PEAK_GFLOPS=${PEAK_GFLOPS:-215} ;;
  avx512 | vnni)
    export CAPE_ISA=$BENCH_ISA ATEN_CPU_CAPABILITY=avx512
    PRECISIONS=${PRECISIONS/bf16/} ;;
  *) echo "BENCH_ISA: unknown level '$BENCH_ISA' (scalar, avx2, avx512, vnni, amx)" >&2; exit 2 ;;
esac
PEAK=${PEAK_GFLOPS:-430}
# first line: the ISA this host has and the level cape runs at
"$CAPE" version | sed -n 's/^isa: /ISA: /p'
[ -n "$BENCH_ISA" ] && echo "limited to $BENCH_ISA: CAPE_ISA=${CAPE_ISA:-} ATEN_CPU_CAPABILITY=${ATEN_CPU_CAPABILITY:-}" \
  "MKL_ENABLE_INSTRUCTIONS=${MKL_ENABLE_INSTRUCTIONS:-} ONEDNN_MAX_CPU_ISA=${ONEDNN_MAX_CPU_ISA:-}" \
  "OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-}"
STEPS=${STEPS:-6}
REPEAT=${REPEAT:-3}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# name L C NH V B T
CONFIGS=${CONFIGS:-"tiny 4 128 4 512 8 128
gpt2-124M 12 768 12 50257 4 64"}

have_torch=0
$PYTHON -c 'import torch' 2>/dev/null && have_torch=1
measured=""
if [ $have_torch = 1 ]; then
  for _ in $(seq "$REPEAT"); do
    m=$($PYTHON bench/torch_train.py --peak "$THREADS" | sed -n 's/peak_gflops //p')
    measured=$($PYTHON -c "print(max(float('$m'), float('${measured:-0}')))")
  done
  echo "fp32 matmul rate measured here (PyTorch, n=2048, $THREADS threads, best of $REPEAT): $measured GFLOP/s"
else
  echo "PyTorch skipped (pip install torch; or set PYTHON)"
fi
[ -n "${LLMC_BENCH:-}" ] && [ -x "$LLMC_BENCH" ] || echo "llm.c skipped (set LLMC_BENCH)"

best() { $PYTHON -c "import sys; print(max([float(x) for x in sys.argv[1:] if x] or [0]))" "$@"; }

run_cape() { # name L C NH V B T prec -> tok/s; leaves params and rss in files
  local d="$out/$1-$8"
  rm -rf "$d"
  /usr/bin/time -f '%M' -o "$d.rss" "$CAPE" train --random-data --arch gpt2 --layers "$2" \
    --dim "$3" --heads "$4" --vocab "$5" --ctx "$7" --seq "$7" --batch "$6" --steps "$STEPS" \
    --val-frac 0 --ckpt-every 0 --threads "$THREADS" --precision "$8" --quiet --json \
    -o "$d" >"$d.json" 2>"$d.err" || return 1
  $PYTHON - "$d/log.jsonl" "$6" "$7" <<'PY'
import json, statistics, sys
e = [json.loads(l)["elapsed_s"] for l in open(sys.argv[1])]
print(int(sys.argv[2]) * int(sys.argv[3]) / statistics.median(b - a for a, b in zip(e, e[1:])))
PY
}

printf '%-10s %-10s %10s %10s %7s %10s %8s\n' config trainer tok/s params MFU% MFU-here% RSS/MP
while read -r name L C NH V B T; do
  [ -z "$name" ] && continue
  declare -A tps=() rss=()
  params=""
  for _ in $(seq "$REPEAT"); do
    for prec in $PRECISIONS; do
      if t=$(run_cape "$name" "$L" "$C" "$NH" "$V" "$B" "$T" "$prec"); then
        tps[cape-$prec]=$(best "$t" "${tps[cape-$prec]:-}")
        params=$($PYTHON -c "import json,sys; print(json.load(open(sys.argv[1]))['parameters'])" "$out/$name-$prec.json")
        rss[cape-$prec]=$(cat "$out/$name-$prec.rss")
      fi
    done
    if [ -n "${LLMC_BENCH:-}" ] && [ -x "$LLMC_BENCH" ]; then
      t=$(OMP_NUM_THREADS=$THREADS "$LLMC_BENCH" "$L" "$C" "$NH" "$V" "$T" "$B" "$T" "$STEPS" 2>/dev/null |
          sed -n 's/.*tok_per_s \([0-9.]*\).*/\1/p')
      tps[llm.c]=$(best "$t" "${tps[llm.c]:-}")
    fi
    if [ $have_torch = 1 ]; then
      t=$($PYTHON bench/torch_train.py "$L" "$C" "$NH" "$V" "$B" "$T" "$STEPS" "$THREADS" |
          sed -n 's/.*tok_per_s \([0-9.]*\).*/\1/p')
      tps[pytorch]=$(best "$t" "${tps[pytorch]:-}")
    fi
  done
  for k in cape-fp32 cape-bf16 llm.c pytorch; do
    [ -n "${tps[$k]:-}" ] || continue
    t=${tps[$k]}
    mfu=$($PYTHON -c "print(f'{100*6*${params:-0}*$t/($PEAK*1e9):.1f}')")
    here=-
    [ -n "$measured" ] && here=$($PYTHON -c "print(f'{100*6*${params:-0}*$t/($measured*1e9):.1f}')")
    r=-
    [ -n "${rss[$k]:-}" ] && r=$($PYTHON -c "print(f'{${rss[$k]}/1024/($params/1e6):.1f}')")
    printf '%-10s %-10s %10.1f %10s %7s %10s %8s\n' "$name" "$k" "$t" "$params" "$mfu" "$here" "$r"
  done
  for c in cape-fp32 cape-bf16; do
    [ -n "${tps[$c]:-}" ] || continue
    for p in llm.c pytorch; do
      [ -n "${tps[$p]:-}" ] && printf '%-10s %-10s vs %-8s %6.2fx\n' "$name" "$c" "$p" \
        "$($PYTHON -c "print(${tps[$c]}/${tps[$p]})")"
    done
  done
  unset tps rss
done <<<"$CONFIGS"
