#!/usr/bin/env python3
"""Reference fixtures for post-hoc unlearning (src/unlearn/posthoc.c), computed
with PyTorch (CPU, in float64 from float32 initial weights).

For a tiny llama-style and a tiny GPT-2-style decoder with per-source sink
masks, and a batch of forget items, refusals paired with them, and retain
items, it records for every method: the loss of the first step, its
gradients, and the losses and weights after three AdamW steps (Hugging
Face's defaults as open-unlearning uses them: betas 0.9/0.999, eps 1e-8,
weight decay 0.01 on matrices and embeddings, clipping at norm 1). The
frozen reference model is the initial model with every weight scaled by
0.95 (see REF_SCALE).

The losses are written from open-unlearning's definitions
(src/trainer/unlearn/*.py and src/trainer/utils.py of locuslab/open-unlearning),
not from the C code: per-sequence summed NLL of the answer tokens
(compute_batch_nll), the DPO/NPO loss -2/beta * logsigmoid(...).mean(),
SimNPO's length-normalised variant, RMU's masked activation MSE at one
block's output, GradDiff's NLL or KL retain term. Two choices of cape's are
spelled out here too: the KL retain term averages over the real positions
of the retain items (open-unlearning's "batchmean" also counts padding), and
the sink masks are those of src/unlearn/sink.c (backbone units and the
source's k pool units with the smallest keyed hash).

    pip install torch numpy
    python3 tests/ref/make_posthoc_ref.py   # writes tests/ref/posthoc_{llama,gpt2}.json
"""
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_train_ref import attention, rope, tensor_names  # noqa: E402

torch.set_num_threads(1)
# The reference is computed in float64 from float32 initial weights: the
# C code (float32) is then compared with the exact values, not with
# another float32 computation's rounding (DPO's gradient is a difference of
# two larger gradients, where two float32 computations differ by ~1e-6).
torch.set_default_dtype(torch.float64)
HERE = os.path.dirname(os.path.abspath(__file__))
M64 = (1 << 64) - 1


def mix64(z):
    z = (z + 0x9E3779B97F4A7C15) & M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def sink_mask(hidden, p_gen, k, seed, source):
    nb = int(math.floor(hidden * p_gen))
    keys = [mix64(mix64(seed ^ mix64(source)) ^ j) for j in range(hidden - nb)]
    mask = np.zeros(hidden, dtype=np.float32)
    mask[:nb] = 1.0
    for j in sorted(range(hidden - nb), key=lambda j: keys[j])[:k]:
        mask[nb + j] = 1.0
    return mask


def forward(cfg, P, tokens, masks):
    """Logits (B,T,V) and the output of every block (list of (B,T,C))."""
    arch, C, L = cfg["arch"], cfg["dim"], cfg["layers"]
    nh, kvh, eps = cfg["heads"], cfg["kv_heads"], cfg["norm_eps"]
    hs = C // nh
    B, T = tokens.shape
    x = P["token_embd.weight"][tokens]
    if arch == "gpt2":
        x = x + P["position_embd.weight"][:T][None]
    m = masks[:, None, :]
    outs = []
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
            x = x + attention(q, k, v, nh, nh, hs) @ p("attn_output.weight").T + p("attn_output.bias")
            h = F.layer_norm(x, (C,), p("ffn_norm.weight"), p("ffn_norm.bias"), eps)
            a = F.gelu(h @ p("ffn_up.weight").T + p("ffn_up.bias"), approximate="tanh") * m
            x = x + a @ p("ffn_down.weight").T + p("ffn_down.bias")
        outs.append(x)
    if arch == "llama":
        y = x * torch.rsqrt((x * x).mean(-1, keepdim=True) + eps) * P["output_norm.weight"]
        logits = y @ P["output.weight"].T
    else:
        y = F.layer_norm(x, (C,), P["output_norm.weight"], P["output_norm.bias"], eps)
        logits = y @ P["token_embd.weight"].T
    return logits, outs


class Batch:
    """Items padded to T: input ids, HF-style labels (answer tokens, -100
    elsewhere, not shifted), the real length of each row, sink masks."""

    def __init__(self, items, T, sink):
        B = len(items)
        self.ids = torch.zeros(B, T, dtype=torch.long)
        self.labels = torch.full((B, T), -100, dtype=torch.long)
        self.lens = []
        self.masks = torch.tensor(np.stack([sink_mask(*sink, it["source"]) for it in items])).double()
        for b, it in enumerate(items):
            toks = it["tokens"]
            self.ids[b, : len(toks)] = torch.tensor(toks)
            self.labels[b, it["scored_from"]: len(toks)] = torch.tensor(toks[it["scored_from"]:])
            self.lens.append(len(toks))


def batch_nll(cfg, P, bt):
    """compute_batch_nll: summed answer-token NLL per row, and its count."""
    logits, outs = forward(cfg, P, bt.ids, bt.masks)
    lab = bt.labels[:, 1:]
    ce = F.cross_entropy(logits[:, :-1].transpose(-1, -2), lab, ignore_index=-100, reduction="none")
    return ce.sum(-1), (lab != -100).sum(-1), logits, outs


def mean_nll(cfg, P, bt):
    """model(**inputs).loss: the token mean over the whole batch."""
    s, n, _, _ = batch_nll(cfg, P, bt)
    return s.sum() / n.sum()


def retain_term(cfg, P, R, bt, h):
    if not h["retain_kl"]:
        return h["alpha"] * mean_nll(cfg, P, bt)
    _, _, cur, _ = batch_nll(cfg, P, bt)
    with torch.no_grad():
        _, _, ref, _ = batch_nll(cfg, R, bt)
    sel = torch.cat([torch.arange(L) + b * cur.shape[1] for b, L in enumerate(bt.lens)])
    V = cur.shape[-1]
    c = F.log_softmax(cur, -1).view(-1, V)[sel]
    r = F.log_softmax(ref, -1).view(-1, V)[sel]
    return h["alpha"] * F.kl_div(c, r, reduction="batchmean", log_target=True)


def dpo(cfg, P, R, win, lose, beta):
    """compute_dpo_loss"""
    wr = 0.0
    if win is not None:
        wl, _, _, _ = batch_nll(cfg, P, win)
        with torch.no_grad():
            wref, _, _, _ = batch_nll(cfg, R, win)
        wr = -(wl - wref)
    ll, _, _, _ = batch_nll(cfg, P, lose)
    with torch.no_grad():
        lref, _, _, _ = batch_nll(cfg, R, lose)
    lr = -(ll - lref)
    return -2 / beta * F.logsigmoid(beta * (wr - lr)).mean()


def act_loss(a1, a2, labels):
    """RMU's compute_activation_loss"""
    mask = (labels != -100).float()
    sq = F.mse_loss(a1, a2, reduction="none")
    s = (sq * mask.unsqueeze(-1)).mean(dim=2).sum(dim=1)
    return (s / mask.sum(-1)).mean()


def method_loss(name, cfg, P, R, bf, bi, br, h, u):
    if name == "ga":
        return -mean_nll(cfg, P, bf)
    if name.startswith("graddiff"):
        return h["gamma"] * -mean_nll(cfg, P, bf) + retain_term(cfg, P, R, br, h)
    if name == "npo":
        return h["gamma"] * dpo(cfg, P, R, None, bf, h["beta"]) + retain_term(cfg, P, R, br, h)
    if name == "simnpo":
        s, n, _, _ = batch_nll(cfg, P, bf)
        x = s / n - h["delta"]
        lf = -F.logsigmoid(h["beta"] * x).mean() * 2 / h["beta"]
        return h["gamma"] * lf + retain_term(cfg, P, R, br, h)
    if name == "idkdpo":
        return h["gamma"] * dpo(cfg, P, R, bi, bf, h["beta"]) + retain_term(cfg, P, R, br, h)
    if name == "rmu":
        lay = h["layer"]
        _, _, _, outs = batch_nll(cfg, P, bf)
        cv = (torch.tensor(u).double() * h["steering"]).view(1, 1, -1).expand_as(outs[lay])
        lf = act_loss(outs[lay], cv, bf.labels)
        _, _, _, ro = batch_nll(cfg, P, br)
        with torch.no_grad():
            _, _, _, rr = batch_nll(cfg, R, br)
        lr = act_loss(ro[lay], rr[lay], br.labels)
        return h["gamma"] * lf + h["alpha"] * lr
    raise ValueError(name)


REF_SCALE = 0.95

METHODS = {
    "ga": dict(beta=0.1, alpha=1.0, gamma=1.0, delta=0.0, steering=2.0, retain_kl=0),
    "graddiff": dict(beta=0.1, alpha=1.0, gamma=1.0, delta=0.0, steering=2.0, retain_kl=0),
    "graddiff_kl": dict(beta=0.1, alpha=0.7, gamma=1.3, delta=0.0, steering=2.0, retain_kl=1),
    "npo": dict(beta=0.1, alpha=1.0, gamma=1.0, delta=0.0, steering=2.0, retain_kl=0),
    "simnpo": dict(beta=4.5, alpha=1.0, gamma=0.125, delta=0.3, steering=2.0, retain_kl=0),
    "rmu": dict(beta=0.1, alpha=1.0, gamma=1.0, delta=0.0, steering=2.0, retain_kl=0),
    "idkdpo": dict(beta=0.1, alpha=1.0, gamma=1.0, delta=0.0, steering=2.0, retain_kl=0),
}


def fl(values):
    """floats to 8 significant digits (float32 holds about 7)"""
    return [float("%.8g" % float(v)) for v in values]


def make(cfg, seed, methods):
    rs = np.random.RandomState(seed)
    names = tensor_names(cfg)
    init = {}
    for n, shape in names:
        if len(shape) == 1:
            base = 0.0 if n.endswith(".bias") else 1.0
            init[n] = torch.tensor((base + 0.1 * rs.randn(*shape)).astype(np.float32)).double()
        else:
            init[n] = torch.tensor((0.3 * rs.randn(*shape)).astype(np.float32)).double()
    T, V = cfg["ctx"], cfg["vocab"]
    sink = (cfg["hidden"], 0.5, 2, 7)  # hidden, p_gen, k, seed

    def item(length, prompt, source):
        return {"tokens": [int(t) for t in rs.randint(1, V, size=length)], "scored_from": prompt,
                "source": source}

    forget = [item(8, 3, 3), item(6, 2, 3), item(7, 4, 2)]
    idk = [dict(item(6, f["scored_from"], f["source"])) for f in forget]
    for f, i in zip(forget, idk):  # the same question, another answer
        i["tokens"][: f["scored_from"]] = f["tokens"][: f["scored_from"]]
    retain = [item(8, 2, 1), item(5, 3, 4), item(8, 5, 1)]
    bf, bi, br = Batch(forget, T, sink), Batch(idk, T, sink), Batch(retain, T, sink)
    u = rs.rand(cfg["dim"]).astype(np.float32)
    u = u / np.linalg.norm(u)
    opt_h = dict(lrs=[0.02, 0.05, 0.03], beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01,
                 clip=1.0)
    out = {"config": cfg, "sink": {"p_gen": 0.5, "k": 2, "seed": 7}, "seq": T,
           "forget": forget, "idk": idk, "retain": retain, "u": fl(u),
           "optim": opt_h, "ref_scale": REF_SCALE, "init": {n: fl(init[n].reshape(-1)) for n, _ in names},
           "methods": {}}
    for name in methods:
        h = dict(METHODS[name], layer=cfg["layers"] // 3)
        P = {n: init[n].clone().requires_grad_() for n, _ in names}
        # the frozen reference: the initial weights scaled by REF_SCALE, so
        # that the model and the reference differ from the first step (with
        # equal weights a KL gradient is float32 rounding noise, which
        # Adam's first step turns into lr-sized moves of random sign)
        R = {n: init[n].clone() * REF_SCALE for n, _ in names}
        params = [P[n] for n, _ in names]
        decay = [len(s) == 2 for _, s in names]
        opt = torch.optim.AdamW(
            [{"params": [p for p, d in zip(params, decay) if d], "weight_decay": opt_h["weight_decay"]},
             {"params": [p for p, d in zip(params, decay) if not d], "weight_decay": 0.0}],
            lr=opt_h["lrs"][0], betas=(opt_h["beta1"], opt_h["beta2"]), eps=opt_h["eps"],
            foreach=False)
        losses, norms, grads = [], [], None
        for step, lr in enumerate(opt_h["lrs"]):
            for g in opt.param_groups:
                g["lr"] = lr
            opt.zero_grad(set_to_none=True)
            loss = method_loss(name, cfg, P, R, bf, bi, br, h, u)
            loss.backward()
            if step == 0:
                grads = {n: (P[n].grad if P[n].grad is not None else torch.zeros_like(P[n]))
                         for n, _ in names}
                grads = {n: fl(g.reshape(-1)) for n, g in grads.items()}
            live = [p for p in params if p.grad is not None]
            norms.append(float(torch.nn.utils.clip_grad_norm_(live, opt_h["clip"])))
            losses.append(float(loss.detach()))
            opt.step()
        with torch.no_grad():
            final_loss = float(method_loss(name, cfg, P, R, bf, bi, br, h, u))
        out["methods"][name] = {
            "hparams": h, "losses": losses, "grad_norms": norms, "final_loss": final_loss,
            "grads": grads,
            "final": {n: fl(P[n].detach().reshape(-1)) for n, _ in names}}
        print(cfg["arch"], name, "loss", losses[0], "->", final_loss)
    return out


def main():
    base = dict(vocab=16, dim=8, layers=3, heads=2, hidden=12, ctx=8, norm_eps=1e-5,
                rope_theta=10000.0)
    runs = (("llama", 1, 11, list(METHODS)),
            ("gpt2", 2, 12, ["graddiff_kl", "npo", "rmu", "idkdpo"]))
    for arch, kvh, seed, methods in runs:
        cfg = dict(base, arch=arch, kv_heads=kvh)
        ref = make(cfg, seed, methods)
        path = os.path.join(HERE, f"posthoc_{arch}.json")
        with open(path, "w") as f:
            json.dump(ref, f, separators=(",", ":"))
        print(path, os.path.getsize(path), "bytes")


if __name__ == "__main__":
    main()
