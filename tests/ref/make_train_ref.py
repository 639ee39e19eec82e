#!/usr/bin/env python3
"""Reference fixtures for the trainer, computed with PyTorch (CPU, float32).

For a tiny llama-style and a tiny GPT-2-style decoder, both with per-row sink
masks in every MLP, it records: the initial weights, the loss of one batch,
the gradients of that loss, and the losses and weights after three AdamW
steps (gradient clipping, warmup + cosine learning rate, weight decay on
matrices and embeddings only). The models are written here from the
definitions in docs/TRAINER.md, independently of the C code.

    pip install torch numpy
    python3 tests/ref/make_train_ref.py      # writes tests/ref/train_{llama,gpt2}.json
"""
import json
import math
import os

import numpy as np
import torch
import torch.nn.functional as F

torch.set_num_threads(1)
HERE = os.path.dirname(os.path.abspath(__file__))


def tensor_names(cfg):
    C, I, V, L = cfg["dim"], cfg["hidden"], cfg["vocab"], cfg["layers"]
    hs = C // cfg["heads"]
    KV = cfg["kv_heads"] * hs
    out = [("token_embd.weight", (V, C))]
    if cfg["arch"] == "gpt2":
        out.append(("position_embd.weight", (cfg["ctx"], C)))
    for l in range(L):
        p = f"blk.{l}."
        if cfg["arch"] == "llama":
            out += [(p + "attn_norm.weight", (C,)), (p + "attn_q.weight", (C, C)),
                    (p + "attn_k.weight", (KV, C)), (p + "attn_v.weight", (KV, C)),
                    (p + "attn_output.weight", (C, C)), (p + "ffn_norm.weight", (C,)),
                    (p + "ffn_gate.weight", (I, C)), (p + "ffn_up.weight", (I, C)),
                    (p + "ffn_down.weight", (C, I))]
        else:
            out += [(p + "attn_norm.weight", (C,)), (p + "attn_norm.bias", (C,)),
                    (p + "attn_qkv.weight", (3 * C, C)), (p + "attn_qkv.bias", (3 * C,)),
                    (p + "attn_output.weight", (C, C)), (p + "attn_output.bias", (C,)),
                    (p + "ffn_norm.weight", (C,)), (p + "ffn_norm.bias", (C,)),
                    (p + "ffn_up.weight", (I, C)), (p + "ffn_up.bias", (I,)),
                    (p + "ffn_down.weight", (C, I)), (p + "ffn_down.bias", (C,))]
    out.append(("output_norm.weight", (C,)))
    if cfg["arch"] == "gpt2":
        out.append(("output_norm.bias", (C,)))
    else:
        out.append(("output.weight", (V, C)))
    return out


def rope(x, nh, hs, theta):
    B, T, _ = x.shape
    half = hs // 2
    freq = torch.tensor([theta ** (-2.0 * i / hs) for i in range(half)], dtype=torch.float64)
    ang = torch.arange(T, dtype=torch.float64)[:, None] * freq[None, :]
    cos, sin = ang.cos().float(), ang.sin().float()
    x = x.view(B, T, nh, half, 2)
    x0, x1 = x[..., 0], x[..., 1]
    c, s = cos[None, :, None, :], sin[None, :, None, :]
    return torch.stack((x0 * c - x1 * s, x0 * s + x1 * c), dim=-1).reshape(B, T, nh * hs)


def attention(q, k, v, nh, kvh, hs):
    B, T, _ = q.shape
    q = q.view(B, T, nh, hs).transpose(1, 2)
    k = k.view(B, T, kvh, hs).transpose(1, 2).repeat_interleave(nh // kvh, dim=1)
    v = v.view(B, T, kvh, hs).transpose(1, 2).repeat_interleave(nh // kvh, dim=1)
    att = (q @ k.transpose(-1, -2)) / math.sqrt(hs)
    causal = torch.ones(T, T, dtype=torch.bool).tril()
    att = att.masked_fill(~causal, float("-inf")).softmax(-1)
    return (att @ v).transpose(1, 2).reshape(B, T, nh * hs)


def forward(cfg, P, tokens, targets, masks):
    arch, C, L = cfg["arch"], cfg["dim"], cfg["layers"]
    nh, kvh, eps = cfg["heads"], cfg["kv_heads"], cfg["norm_eps"]
    hs = C // nh
    B, T = tokens.shape
    x = P["token_embd.weight"][tokens]
    if arch == "gpt2":
        x = x + P["position_embd.weight"][:T][None]
    m = masks[:, None, :]
    for l in range(L):
        p = lambda n: P[f"blk.{l}.{n}"]
        if arch == "llama":
            h = x * torch.rsqrt((x * x).mean(-1, keepdim=True) + eps) * p("attn_norm.weight")
            q = rope(h @ p("attn_q.weight").T, nh, hs, cfg["rope_theta"])
            k = rope(h @ p("attn_k.weight").T, kvh, hs, cfg["rope_theta"])
            v = h @ p("attn_v.weight").T
            x = x + attention(q, k, v, nh, kvh, hs) @ p("attn_output.weight").T
            h = x * torch.rsqrt((x * x).mean(-1, keepdim=True) + eps) * p("ffn_norm.weight")
            a = F.silu(h @ p("ffn_gate.weight").T) * (h @ p("ffn_up.weight").T) * m
            x = x + a @ p("ffn_down.weight").T
        else:
            h = F.layer_norm(x, (C,), p("attn_norm.weight"), p("attn_norm.bias"), eps)
            qkv = h @ p("attn_qkv.weight").T + p("attn_qkv.bias")
            q, k, v = qkv.split(C, dim=-1)
            y = attention(q, k, v, nh, nh, hs)
            x = x + y @ p("attn_output.weight").T + p("attn_output.bias")
            h = F.layer_norm(x, (C,), p("ffn_norm.weight"), p("ffn_norm.bias"), eps)
            a = F.gelu(h @ p("ffn_up.weight").T + p("ffn_up.bias"), approximate="tanh") * m
            x = x + a @ p("ffn_down.weight").T + p("ffn_down.bias")
    if arch == "llama":
        x = x * torch.rsqrt((x * x).mean(-1, keepdim=True) + eps) * P["output_norm.weight"]
        logits = x @ P["output.weight"].T
    else:
        x = F.layer_norm(x, (C,), P["output_norm.weight"], P["output_norm.bias"], eps)
        logits = x @ P["token_embd.weight"].T
    return F.cross_entropy(logits.reshape(-1, cfg["vocab"]), targets.reshape(-1), ignore_index=-1)


def lr_at(step, warmup, total, lr, lr_min):
    if step < warmup:
        return lr * (step + 1) / warmup
    span = total - warmup
    prog = (step - warmup) / (span - 1) if span > 1 else 1.0
    return lr_min + 0.5 * (lr - lr_min) * (1 + math.cos(math.pi * min(prog, 1.0)))


def make(cfg, seed):
    rs = np.random.RandomState(seed)
    names = tensor_names(cfg)
    P = {}
    for n, shape in names:
        if len(shape) == 1:
            base = 0.0 if n.endswith(".bias") else 1.0
            P[n] = torch.tensor(base + 0.1 * rs.randn(*shape), dtype=torch.float32)
        else:
            P[n] = torch.tensor(0.3 * rs.randn(*shape), dtype=torch.float32)
    init = {n: P[n].detach().clone() for n, _ in names}
    B, T, V, I = 2, cfg["ctx"], cfg["vocab"], cfg["hidden"]
    tokens = torch.tensor(rs.randint(0, V, size=(B, T)), dtype=torch.long)
    targets = torch.tensor(rs.randint(0, V, size=(B, T)), dtype=torch.long)
    targets[0, 2] = -1
    nb = I // 3
    masks = torch.zeros(B, I)
    masks[:, :nb] = 1.0
    for b in range(B):
        masks[b, nb + np.array(sorted(rs.choice(I - nb, size=3, replace=False)))] = 1.0
    params = [P[n].requires_grad_() for n, _ in names]
    decay = [len(s) == 2 for _, s in names]
    h = dict(lr=0.05, lr_min=0.005, warmup=2, steps=3, beta1=0.9, beta2=0.95, eps=1e-8,
             weight_decay=0.1, clip=0.5)
    opt = torch.optim.AdamW(
        [{"params": [p for p, d in zip(params, decay) if d], "weight_decay": h["weight_decay"]},
         {"params": [p for p, d in zip(params, decay) if not d], "weight_decay": 0.0}],
        lr=h["lr"], betas=(h["beta1"], h["beta2"]), eps=h["eps"], foreach=False)
    losses, grads, norms = [], None, []
    for step in range(h["steps"]):
        for g in opt.param_groups:
            g["lr"] = lr_at(step, h["warmup"], h["steps"], h["lr"], h["lr_min"])
        opt.zero_grad()
        loss = forward(cfg, P, tokens, targets, masks)
        loss.backward()
        if step == 0:
            grads = {n: P[n].grad.detach().clone() for n, _ in names}
        norms.append(float(torch.nn.utils.clip_grad_norm_(params, h["clip"])))
        losses.append(float(loss))
        opt.step()
    with torch.no_grad():
        final_loss = float(forward(cfg, P, tokens, targets, masks))
    flat = lambda d: {n: [float(v) for v in d[n].reshape(-1)] for n, _ in names}
    return {
        "config": cfg, "hparams": h,
        "tokens": tokens.reshape(-1).tolist(), "targets": targets.reshape(-1).tolist(),
        "masks": masks.reshape(-1).tolist(), "batch": B, "seq": T,
        "losses": losses, "final_loss": final_loss, "grad_norms": norms,
        "init": flat(init), "grads": flat(grads),
        "final": flat({n: P[n].detach() for n, _ in names}),
    }


def main():
    base = dict(vocab=16, dim=8, layers=2, heads=2, hidden=12, ctx=6, norm_eps=1e-5,
                rope_theta=10000.0)
    for arch, kvh, seed in (("llama", 1, 1), ("gpt2", 2, 2)):
        cfg = dict(base, arch=arch, kv_heads=kvh)
        ref = make(cfg, seed)
        path = os.path.join(HERE, f"train_{arch}.json")
        with open(path, "w") as f:
            json.dump(ref, f, separators=(",", ":"))
        print(path, "loss", ref["losses"][0], "->", ref["final_loss"])


if __name__ == "__main__":
    main()
