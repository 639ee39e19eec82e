#!/usr/bin/env python3
"""Reference fixture for fine-tuning (cape train --init), computed with
PyTorch and Hugging Face transformers (CPU, float32, eager attention).

For the tiny llama, qwen2, qwen3 and gemma3 models of tests/ref/hf/ (made by
make_fixtures.py; the C test loads the GGUF copies, this script the
safetensors ones) it records, for one fixed batch: the loss, the gradients
of that loss, and the losses and weights after three AdamW steps (clipping,
warmup + cosine learning rate, weight decay on matrices and embeddings).
Tensors are named and laid out as in the GGUF files (llama's q/k rows
permuted as llama.cpp's converter does; Gemma's norm weights are stored as
1 + w there, which changes neither gradients nor AdamW steps, as norms are
not decayed). To keep the file small each tensor is recorded by its L2 norm
and 32 values at fixed random positions.

    pip install torch transformers==4.57.6 gguf tokenizers
    python3 tests/ref/make_train_init_ref.py   # writes tests/ref/train_init.json
"""
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
import transformers as tf

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from make_fixtures import permute_qk  # noqa: E402

torch.set_num_threads(1)
ARCHS = ("llama", "qwen2", "qwen3", "gemma3")


def gguf_name(arch, k):
    top = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight",
           "lm_head.weight": "output.weight"}
    if k in top:
        return top[k]
    l, rest = k[len("model.layers."):].split(".", 1)
    post_attn = "post_attention_norm.weight" if arch == "gemma3" else "ffn_norm.weight"
    m = {"input_layernorm.weight": "attn_norm.weight",
         "self_attn.q_proj.weight": "attn_q.weight", "self_attn.q_proj.bias": "attn_q.bias",
         "self_attn.k_proj.weight": "attn_k.weight", "self_attn.k_proj.bias": "attn_k.bias",
         "self_attn.v_proj.weight": "attn_v.weight", "self_attn.v_proj.bias": "attn_v.bias",
         "self_attn.o_proj.weight": "attn_output.weight",
         "self_attn.q_norm.weight": "attn_q_norm.weight", "self_attn.k_norm.weight": "attn_k_norm.weight",
         "post_attention_layernorm.weight": post_attn, "pre_feedforward_layernorm.weight": "ffn_norm.weight",
         "post_feedforward_layernorm.weight": "post_ffw_norm.weight",
         "mlp.gate_proj.weight": "ffn_gate.weight", "mlp.up_proj.weight": "ffn_up.weight",
         "mlp.down_proj.weight": "ffn_down.weight"}
    return f"blk.{l}.{m[rest]}"


def to_gguf(arch, cfg, k, v, weights):
    """Layout of tensor k in the GGUF; weights adds Gemma's + 1 to norms."""
    v = v.detach().double().numpy()
    if arch == "llama" and k.endswith("q_proj.weight"):
        v = permute_qk(v, cfg.num_attention_heads)
    if arch == "llama" and k.endswith("k_proj.weight"):
        v = permute_qk(v, cfg.num_key_value_heads)
    if weights and arch == "gemma3" and k.endswith("norm.weight"):
        v = v + 1.0
    return v.reshape(-1)


def lr_at(step, warmup, total, lr, lr_min):
    if step < warmup:
        return lr * (step + 1) / warmup
    span = total - warmup
    prog = (step - warmup) / (span - 1) if span > 1 else 1.0
    return lr_min + 0.5 * (lr - lr_min) * (1 + math.cos(math.pi * min(prog, 1.0)))


def make(arch, rs):
    d = os.path.join(HERE, "hf", arch)
    model = tf.AutoModelForCausalLM.from_pretrained(d, torch_dtype=torch.float32,
                                                    attn_implementation="eager")
    model.train()  # dropout is 0 in these configs
    cfg = model.config
    V = cfg.vocab_size
    B, T = 2, 8
    tokens = torch.tensor(rs.randint(0, V, size=(B, T)), dtype=torch.long)
    targets = torch.tensor(rs.randint(0, V, size=(B, T)), dtype=torch.long)
    targets[0, 3] = -1
    named = [(k, p) for k, p in model.named_parameters()]
    h = dict(lr=0.01, lr_min=0.001, warmup=2, steps=3, beta1=0.9, beta2=0.95, eps=1e-8,
             weight_decay=0.1, clip=1.0)
    decay = [p.ndim == 2 for _, p in named]
    params = [p for _, p in named]
    opt = torch.optim.AdamW(
        [{"params": [p for p, dd in zip(params, decay) if dd], "weight_decay": h["weight_decay"]},
         {"params": [p for p, dd in zip(params, decay) if not dd], "weight_decay": 0.0}],
        lr=h["lr"], betas=(h["beta1"], h["beta2"]), eps=h["eps"], foreach=False)

    def loss_fn():
        logits = model(tokens).logits
        return F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1), ignore_index=-1)

    losses, norms, grads = [], [], None
    for step in range(h["steps"]):
        for g in opt.param_groups:
            g["lr"] = lr_at(step, h["warmup"], h["steps"], h["lr"], h["lr_min"])
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        if step == 0:
            grads = {k: to_gguf(arch, cfg, k, p.grad, False) for k, p in named}
        norms.append(float(torch.nn.utils.clip_grad_norm_(params, h["clip"])))
        losses.append(float(loss))
        opt.step()
    with torch.no_grad():
        final_loss = float(loss_fn())
    final = {k: to_gguf(arch, cfg, k, p, True) for k, p in named}

    def sample(d):
        out = {}
        for k, _ in named:
            v = d[k]
            idx = sorted(rs.choice(v.size, size=min(32, v.size), replace=False).tolist())
            out[gguf_name(arch, k)] = {"norm": float(np.sqrt((v * v).sum())),
                                       "idx": idx, "val": [float(v[i]) for i in idx]}
        return out

    return {"batch": B, "seq": T, "hparams": h, "tokens": tokens.reshape(-1).tolist(),
            "targets": targets.reshape(-1).tolist(), "losses": losses, "grad_norms": norms,
            "final_loss": final_loss, "grads": sample(grads), "final": sample(final)}


def main():
    rs = np.random.RandomState(13)
    torch.manual_seed(0)
    out = {arch: make(arch, rs) for arch in ARCHS}
    path = os.path.join(HERE, "train_init.json")
    with open(path, "w") as f:
        json.dump(out, f, separators=(",", ":"))
    for a, r in out.items():
        print(a, "loss", r["losses"][0], "->", r["final_loss"])


if __name__ == "__main__":
    main()
