#!/usr/bin/env python3
"""PyTorch CPU peer for bench/train_speed.sh: a GPT-2-style decoder (same
parameterisation as cape's: LayerNorm, learned positions, tanh-GELU, tied
head) trained with AdamW on random tokens. Prints the median step time.

    python3 bench/torch_train.py L C NH V B T STEPS THREADS
    python3 bench/torch_train.py --peak THREADS    # fp32 matmul GFLOP/s of this machine
"""
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, C, NH):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(C), nn.LayerNorm(C)
        self.qkv, self.proj = nn.Linear(C, 3 * C), nn.Linear(C, C)
        self.fc, self.fcproj = nn.Linear(C, 4 * C), nn.Linear(4 * C, C)
        self.NH = NH

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(C, dim=-1)
        sh = lambda t: t.view(B, T, self.NH, C // self.NH).transpose(1, 2)
        y = F.scaled_dot_product_attention(sh(q), sh(k), sh(v), is_causal=True)
        x = x + self.proj(y.transpose(1, 2).reshape(B, T, C))
        return x + self.fcproj(F.gelu(self.fc(self.ln2(x)), approximate="tanh"))


class GPT(nn.Module):
    def __init__(self, L, C, NH, V, T):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(V, C), nn.Embedding(T, C)
        self.blocks = nn.ModuleList(Block(C, NH) for _ in range(L))
        self.lnf = nn.LayerNorm(C)

    def forward(self, idx, tgt):
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1]))
        for b in self.blocks:
            x = b(x)
        logits = self.lnf(x) @ self.wte.weight.T
        return F.cross_entropy(logits.view(-1, logits.shape[-1]), tgt.view(-1))


def peak(threads):
    """fp32 matrix-product rate of this machine (n = 2048, best of 5)."""
    torch.set_num_threads(threads)
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    a @ b
    best = min(timed(lambda: a @ b) for _ in range(5))
    print(f"peak_gflops {2 * 2048 ** 3 / best / 1e9:.1f}")


def timed(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main():
    if sys.argv[1] == "--peak":
        return peak(int(sys.argv[2]))
    L, C, NH, V, B, T, steps, threads = map(int, sys.argv[1:9])
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = GPT(L, C, NH, V, T)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.0)
    x = torch.randint(0, V, (B, T))
    y = torch.randint(0, V, (B, T))
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = model(x, y)
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t0)
    med = statistics.median(times[1:])
    n = sum(p.numel() for p in model.parameters())
    print(f"torch {torch.__version__} params {n} step_s {med:.4f} tok_per_s {B * T / med:.1f}")


if __name__ == "__main__":
    main()
