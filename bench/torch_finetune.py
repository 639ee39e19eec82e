#!/usr/bin/env python3
"""PyTorch + transformers fine-tuning throughput on CPU, the peer of
bench/bench_finetune.sh: the model of a GGUF file (transformers dequantises it
to float32), random token rows of B x T, AdamW, STEPS steps. Prints one line:
"tok_per_s X step_s Y peak_rss_kb Z params P" (median step, first excluded).

    python3 bench/torch_finetune.py MODEL.gguf B T STEPS THREADS [freeze]
"""
import os
import resource
import statistics
import sys
import time

import torch
import torch.nn.functional as F
import transformers as tf


def main():
    path, B, T, steps, threads = sys.argv[1], *map(int, sys.argv[2:6])
    freeze = len(sys.argv) > 6 and sys.argv[6] == "freeze"
    torch.set_num_threads(threads)
    d, f = os.path.split(os.path.abspath(path))
    model = tf.AutoModelForCausalLM.from_pretrained(d, gguf_file=f, dtype=torch.float32)
    model.train()
    if freeze:
        model.get_input_embeddings().weight.requires_grad_(False)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=2e-5, betas=(0.9, 0.95), weight_decay=0.1)
    V = model.config.vocab_size
    g = torch.Generator().manual_seed(1)
    times = []
    for _ in range(steps):
        ids = torch.randint(0, V, (B, T + 1), generator=g)
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        logits = model(ids[:, :-1]).logits
        loss = F.cross_entropy(logits.reshape(-1, V), ids[:, 1:].reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        times.append(time.perf_counter() - t0)
    med = statistics.median(times[1:]) if len(times) > 1 else times[0]
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    n = sum(p.numel() for p in model.parameters())
    print(f"tok_per_s {B * T / med:.2f} step_s {med:.3f} peak_rss_kb {rss} params {n}")


if __name__ == "__main__":
    main()
