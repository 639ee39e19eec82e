#!/usr/bin/env python3
"""Builds the small reference fixtures of cape's model tests.

For each architecture cape runs (llama, qwen2, qwen3, gemma3, gpt-neox, gpt2)
this makes a tiny randomly initialised Hugging Face `transformers` model,
saves it as safetensors (config.json, model.safetensors, tokenizer.json) and
as a GGUF file written with the `gguf` package following llama.cpp's
conversion conventions, and records the reference logits that transformers
computes in float32 for a few prompts. A tiny byte-level BPE tokenizer is
trained with `tokenizers` and its encodings are recorded too.

    pip install torch transformers==4.57.6 gguf tokenizers
    python3 tests/ref/make_fixtures.py      # rewrites tests/ref/hf/

Reference file format (<arch>.ref): int32 n_tokens, int32 n_vocab,
int32 ids[n_tokens], float32 logits[n_tokens][n_vocab] (little-endian).
"""
import json
import os
import shutil
import struct

import numpy as np
import torch
import gguf
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
import transformers as tf

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "hf")
CORPUS = [
    "Once upon a time, there was a little girl named Lily. She loved to play outside.",
    "The quick brown fox jumps over the lazy dog 1234567 times!",
    "In 2024 the model's weights were 3.5 GB; now they're smaller.",
    "    indented code: def f(x): return x ** 2  # comment\n\n\tTabs too.",
    "Ünïcödé wörds, emojis 🙂 and 日本語 text.",
] * 20
PROMPT = "Once upon a time, the quick fox said: 'hello' 42 times."
TOK_TESTS = [PROMPT, "", " ", "Hello world", " Hello  World!", "x = 12345;\n\n  y", "日本語 🙂 Ünïcödé",
             "don't they'll we've", "a\tb\r\nc"]


def make_tokenizer():
    t = Tokenizer(models.BPE())
    t.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    t.decoder = decoders.ByteLevel()
    tr = trainers.BpeTrainer(vocab_size=320, special_tokens=["<|endoftext|>"],
                             initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    t.train_from_iterator(CORPUS, tr)
    return t


# Split rules of Llama 3 and Qwen2 tokenizers (their tokenizer.json Split patterns)
SPLITS = {
    "llama3": r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
    "qwen2": r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
}
SPLIT_TESTS = TOK_TESTS + ["12345678 apples, 3.14159!", "  \n\n  x\r\n", "I'M HERE, YOU'LL SEE", "\u00e9t\u00e9 2024\t\t\u4f60\u597d"]


def make_split_tokenizer(pattern):
    from tokenizers import Regex
    t = Tokenizer(models.BPE())
    t.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(pattern), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    t.decoder = decoders.ByteLevel()
    tr = trainers.BpeTrainer(vocab_size=320, special_tokens=["<|endoftext|>"],
                             initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    t.train_from_iterator(CORPUS, tr)
    return t


def write_vocab_gguf(path, tok, pre):
    """A vocabulary-only GGUF as llama.cpp's converter writes one (no tensors)."""
    w = gguf.GGUFWriter(path, "llama")
    vocab = tok.get_vocab()
    toks = [None] * len(vocab)
    for t, i in vocab.items():
        toks[i] = t
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre(pre)
    w.add_token_list(toks)
    w.add_token_types([3 if t == "<|endoftext|>" else 1 for t in toks])
    merges = json.loads(tok.to_str())["model"]["merges"]
    w.add_token_merges([m if isinstance(m, str) else " ".join(m) for m in merges])
    w.add_bool("tokenizer.ggml.add_bos_token", False)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.close()


def randomize(model, gemma):
    g = torch.Generator().manual_seed(1234)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=g, dtype=p.dtype)
            is_norm = "norm" in name or ".ln_" in name or "ln_f" in name
            if is_norm and name.endswith("weight") and not gemma:
                p.copy_(1.0 + 0.1 * noise)
            elif is_norm:
                p.copy_(0.1 * noise)
            else:
                p.copy_(0.15 * noise)


def configs(vocab):
    common = dict(vocab_size=vocab, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                  intermediate_size=64, max_position_embeddings=128)
    return {
        "llama": (tf.LlamaConfig(num_key_value_heads=2, rms_norm_eps=1e-5, rope_theta=10000.0,
                                 tie_word_embeddings=False, **common), tf.LlamaForCausalLM),
        "qwen2": (tf.Qwen2Config(num_key_value_heads=2, rms_norm_eps=1e-6, rope_theta=1e6,
                                 tie_word_embeddings=False, **common), tf.Qwen2ForCausalLM),
        "qwen3": (tf.Qwen3Config(num_key_value_heads=2, head_dim=16, rms_norm_eps=1e-6,
                                 rope_theta=1e6, tie_word_embeddings=True, **common),
                  tf.Qwen3ForCausalLM),
        "gemma3": (tf.Gemma3TextConfig(num_key_value_heads=1, head_dim=16, rms_norm_eps=1e-6,
                                       rope_theta=1e6, rope_local_base_freq=10000.0,
                                       sliding_window=5, sliding_window_pattern=2,
                                       query_pre_attn_scalar=16, tie_word_embeddings=True,
                                       hidden_activation="gelu_pytorch_tanh",
                                       **dict(common, num_hidden_layers=3)),
                   tf.Gemma3ForCausalLM),
        "gptneox": (tf.GPTNeoXConfig(vocab_size=vocab, hidden_size=32, num_hidden_layers=2,
                                     num_attention_heads=4, intermediate_size=64,
                                     max_position_embeddings=128, rotary_pct=0.25,
                                     use_parallel_residual=True, hidden_act="gelu",
                                     tie_word_embeddings=False, layer_norm_eps=1e-5),
                    tf.GPTNeoXForCausalLM),
        "gpt2": (tf.GPT2Config(vocab_size=vocab, n_embd=32, n_layer=2, n_head=4, n_positions=64,
                               activation_function="gelu_new", layer_norm_epsilon=1e-5),
                 tf.GPT2LMHeadModel),
    }


def permute_qk(w, n_head):
    """llama.cpp's convert_hf_to_gguf permutation: HF rotate-half -> adjacent pairs."""
    return (w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:])
            .swapaxes(1, 2).reshape(w.shape))


def gguf_tensors(arch, cfg, sd):
    out = {}
    L = cfg.num_hidden_layers
    for k, v in sd.items():
        v = v.float().numpy()
        name = None
        if arch == "gpt2":
            k2 = k.replace("transformer.", "")
            top = {"wte.weight": "token_embd.weight", "wpe.weight": "position_embd.weight",
                   "ln_f.weight": "output_norm.weight", "ln_f.bias": "output_norm.bias"}
            if k2 in top:
                name = top[k2]
            elif k2.startswith("h."):
                l, rest = k2[2:].split(".", 1)
                m = {"ln_1.weight": "attn_norm.weight", "ln_1.bias": "attn_norm.bias",
                     "ln_2.weight": "ffn_norm.weight", "ln_2.bias": "ffn_norm.bias",
                     "attn.c_attn.weight": "attn_qkv.weight", "attn.c_attn.bias": "attn_qkv.bias",
                     "attn.c_proj.weight": "attn_output.weight", "attn.c_proj.bias": "attn_output.bias",
                     "mlp.c_fc.weight": "ffn_up.weight", "mlp.c_fc.bias": "ffn_up.bias",
                     "mlp.c_proj.weight": "ffn_down.weight", "mlp.c_proj.bias": "ffn_down.bias"}
                if rest in m:
                    name = f"blk.{l}.{m[rest]}"
                    if v.ndim == 2:
                        v = v.T.copy()  # Conv1D stores [in, out]
        elif arch == "gptneox":
            top = {"gpt_neox.embed_in.weight": "token_embd.weight", "embed_out.weight": "output.weight",
                   "gpt_neox.final_layer_norm.weight": "output_norm.weight",
                   "gpt_neox.final_layer_norm.bias": "output_norm.bias"}
            if k in top:
                name = top[k]
            elif k.startswith("gpt_neox.layers."):
                l, rest = k[len("gpt_neox.layers."):].split(".", 1)
                m = {"input_layernorm.weight": "attn_norm.weight", "input_layernorm.bias": "attn_norm.bias",
                     "post_attention_layernorm.weight": "ffn_norm.weight",
                     "post_attention_layernorm.bias": "ffn_norm.bias",
                     "attention.query_key_value.weight": "attn_qkv.weight",
                     "attention.query_key_value.bias": "attn_qkv.bias",
                     "attention.dense.weight": "attn_output.weight", "attention.dense.bias": "attn_output.bias",
                     "mlp.dense_h_to_4h.weight": "ffn_up.weight", "mlp.dense_h_to_4h.bias": "ffn_up.bias",
                     "mlp.dense_4h_to_h.weight": "ffn_down.weight", "mlp.dense_4h_to_h.bias": "ffn_down.bias"}
                if rest in m:
                    name = f"blk.{l}.{m[rest]}"
                    if "query_key_value" in rest:  # [head][q,k,v][hd] -> [q;k;v]
                        nh, hd = cfg.num_attention_heads, cfg.hidden_size // cfg.num_attention_heads
                        v = v.reshape((nh, 3, hd) + v.shape[1:])
                        v = np.concatenate([v[:, i] .reshape((nh * hd,) + v.shape[3:]) for i in range(3)], 0)
        else:
            top = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight",
                   "lm_head.weight": "output.weight"}
            if k in top:
                name = top[k]
            elif k.startswith("model.layers."):
                l, rest = k[len("model.layers."):].split(".", 1)
                post_attn = "post_attention_norm.weight" if arch == "gemma3" else "ffn_norm.weight"
                m = {"input_layernorm.weight": "attn_norm.weight",
                     "self_attn.q_proj.weight": "attn_q.weight", "self_attn.q_proj.bias": "attn_q.bias",
                     "self_attn.k_proj.weight": "attn_k.weight", "self_attn.k_proj.bias": "attn_k.bias",
                     "self_attn.v_proj.weight": "attn_v.weight", "self_attn.v_proj.bias": "attn_v.bias",
                     "self_attn.o_proj.weight": "attn_output.weight",
                     "self_attn.q_norm.weight": "attn_q_norm.weight",
                     "self_attn.k_norm.weight": "attn_k_norm.weight",
                     "post_attention_layernorm.weight": post_attn,
                     "pre_feedforward_layernorm.weight": "ffn_norm.weight",
                     "post_feedforward_layernorm.weight": "post_ffw_norm.weight",
                     "mlp.gate_proj.weight": "ffn_gate.weight", "mlp.up_proj.weight": "ffn_up.weight",
                     "mlp.down_proj.weight": "ffn_down.weight"}
                if rest in m:
                    name = f"blk.{l}.{m[rest]}"
                    if arch == "llama" and rest == "self_attn.q_proj.weight":
                        v = permute_qk(v, cfg.num_attention_heads)
                    if arch == "llama" and rest == "self_attn.k_proj.weight":
                        v = permute_qk(v, cfg.num_key_value_heads)
            if arch == "gemma3" and name and name.endswith("norm.weight"):
                v = v + 1.0  # llama.cpp stores Gemma's (1 + w)
        if name is None:
            if k.endswith("attn.bias") or k.endswith("masked_bias") or "rotary_emb" in k or k == "lm_head.weight":
                continue
            raise SystemExit(f"{arch}: unmapped tensor {k}")
        out[name] = np.ascontiguousarray(v.astype(np.float32))
    if arch in ("qwen3", "gemma3", "gpt2"):
        out.pop("output.weight", None)
    return out


def write_gguf(path, arch, cfg, tensors, tok):
    garch = {"gptneox": "gptneox"}.get(arch, arch)
    w = gguf.GGUFWriter(path, garch)
    hd = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
    w.add_context_length(cfg.max_position_embeddings if arch != "gpt2" else cfg.n_positions)
    w.add_embedding_length(cfg.hidden_size)
    w.add_block_count(cfg.num_hidden_layers)
    w.add_feed_forward_length(cfg.intermediate_size if arch != "gpt2" else 4 * cfg.hidden_size)
    w.add_head_count(cfg.num_attention_heads)
    w.add_head_count_kv(getattr(cfg, "num_key_value_heads", cfg.num_attention_heads))
    if arch in ("llama", "qwen2", "qwen3", "gemma3"):
        w.add_layer_norm_rms_eps(cfg.rms_norm_eps)
        w.add_rope_freq_base(cfg.rope_theta)
        w.add_key_length(hd)
        w.add_value_length(hd)
    else:
        w.add_layer_norm_eps(cfg.layer_norm_eps if arch == "gptneox" else cfg.layer_norm_epsilon)
    if arch == "gptneox":
        w.add_rope_dimension_count(int(hd * cfg.rotary_pct))
        w.add_rope_freq_base(cfg.rotary_emb_base)
        w.add_bool("gptneox.use_parallel_residual", cfg.use_parallel_residual)
    if arch == "gemma3":
        w.add_sliding_window(cfg.sliding_window)
        w.add_uint32("gemma3.attention.sliding_window_pattern", 2)
    vocab = tok.get_vocab()
    toks = [None] * len(vocab)
    for t, i in vocab.items():
        toks[i] = t
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("gpt-2")
    w.add_token_list(toks)
    w.add_token_types([3 if t == "<|endoftext|>" else 1 for t in toks])
    merges = json.loads(tok.to_str())["model"]["merges"]
    w.add_token_merges([m if isinstance(m, str) else " ".join(m) for m in merges])
    eot = vocab["<|endoftext|>"]
    w.add_bos_token_id(eot)
    w.add_eos_token_id(eot)
    for name, arr in tensors.items():
        w.add_tensor(name, arr)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def main():
    torch.manual_seed(0)
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    tok = make_tokenizer()
    tok.save(os.path.join(OUT, "tokenizer.json"))
    with open(os.path.join(OUT, "tokenizer.tests"), "w") as f:
        for s in TOK_TESTS:  # JSON lines: text and ids
            f.write(json.dumps({"text": s, "ids": tok.encode(s).ids}, ensure_ascii=False) + "\n")
    for name, pattern in SPLITS.items():
        st = make_split_tokenizer(pattern)
        st.save(os.path.join(OUT, f"tokenizer-{name}.json"))
        with open(os.path.join(OUT, f"tokenizer-{name}.tests"), "w") as f:
            for s_ in SPLIT_TESTS:
                f.write(json.dumps({"text": s_, "ids": st.encode(s_).ids}, ensure_ascii=False) + "\n")
        write_vocab_gguf(os.path.join(OUT, f"vocab-{name}.gguf"), st,
                         {"llama3": "llama-bpe", "qwen2": "qwen2"}[name])
    ids = tok.encode(PROMPT).ids
    vocab = tok.get_vocab_size()
    for arch, (cfg, cls) in configs(vocab).items():
        cfg.torch_dtype = "float32"
        model = cls(cfg).eval()
        randomize(model, arch == "gemma3")
        d = os.path.join(OUT, arch)
        model.save_pretrained(d, safe_serialization=True)
        for extra in ("generation_config.json",):
            p = os.path.join(d, extra)
            if os.path.exists(p):
                os.remove(p)
        shutil.copy(os.path.join(OUT, "tokenizer.json"), os.path.join(d, "tokenizer.json"))
        with torch.no_grad():
            logits = model(torch.tensor([ids])).logits[0].float().numpy()
        with open(os.path.join(OUT, f"{arch}.ref"), "wb") as f:
            f.write(struct.pack("<ii", len(ids), vocab))
            f.write(np.asarray(ids, dtype="<i4").tobytes())
            f.write(logits.astype("<f4").tobytes())
        sd = {k: v for k, v in model.state_dict().items()}
        write_gguf(os.path.join(OUT, f"{arch}.gguf"), arch, cfg, gguf_tensors(arch, cfg, sd), tok)
        print(arch, len(ids), "tokens, logits range", float(logits.min()), float(logits.max()))


if __name__ == "__main__":
    main()
