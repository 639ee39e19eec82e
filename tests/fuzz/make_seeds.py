#!/usr/bin/env python3
"""Writes the generated fuzz seeds: in tests/fuzz/seeds/llama2c/ a tiny
llama2.c checkpoint (shared and separate output weights, dim 8, 2 layers,
2 heads, 1 KV head, vocabulary 32, context 8) and a 32-token tokenizer.bin
in the layout of karpathy/llama2.c (run.c's read_checkpoint and
build_tokenizer); in tests/fuzz/seeds/cvec/ a control vector with cape's own
keys (cape.chosen_block, cape.residual_norm) and gaps between its slots.
Standard library only; the output is deterministic."""
import os
import random
import struct

here = os.path.dirname(os.path.abspath(__file__))
out = os.path.join(here, "seeds", "llama2c")


def checkpoint(shared):
    dim, hidden, layers, heads, kv_heads, vocab, seq = 8, 16, 2, 2, 1, 32, 8
    head = dim // heads
    kv = kv_heads * head
    rng = random.Random(1)

    def w(n, one=False):
        return [1.0 if one else rng.uniform(-0.5, 0.5) for _ in range(n)]

    floats = w(vocab * dim)                      # token embedding
    floats += w(layers * dim, True)              # rms_att
    floats += w(layers * dim * dim)              # wq
    floats += w(layers * dim * kv)               # wk
    floats += w(layers * dim * kv)               # wv
    floats += w(layers * dim * dim)              # wo
    floats += w(layers * dim, True)              # rms_ffn
    floats += w(layers * dim * hidden)           # w1 (gate)
    floats += w(layers * hidden * dim)           # w2 (down)
    floats += w(layers * dim * hidden)           # w3 (up)
    floats += w(dim, True)                       # rms_final
    floats += w(seq * head // 2) + w(seq * head // 2)  # freq_cis real, imaginary (unused)
    if not shared:
        floats += w(vocab * dim)                 # classifier
    hdr = struct.pack("<7i", dim, hidden, layers, heads, kv_heads, vocab if shared else -vocab, seq)
    return hdr + struct.pack("<%df" % len(floats), *floats)


def tokenizer(n):
    b = struct.pack("<i", 16)
    for i in range(n):
        s = ["<unk>", "\n<s>\n", "\n</s>\n"][i] if i < 3 else ("<0x%02X>" % (i - 3) if i < 19 else
                                                             [" a", " once", "on", "time", " ", "e",
                                                              "o", "n", "ce", " up", "up", "t", "i"][i - 19])
        s = s.encode()
        b += struct.pack("<fi", -float(i), len(s)) + s
    return b


def gguf_str(s):
    s = s.encode()
    return struct.pack("<Q", len(s)) + s


def control_vector():
    """GGUF v3: direction.2 and direction.5 of width 4, alignment 32."""
    kv = [("general.architecture", 8, gguf_str("controlvector")),
          ("controlvector.model_hint", 8, gguf_str("llama")),
          ("controlvector.layer_count", 5, struct.pack("<i", 2)),
          ("cape.chosen_block", 5, struct.pack("<i", 5)),
          ("cape.residual_norm", 9, struct.pack("<IQ6f", 6, 6, 0, 1.5, 2.5, 3.5, 4.5, 5.5))]
    vecs = {2: [0.5, -0.5, 0.25, 0.0], 5: [1.0, 2.0, -3.0, 0.125]}
    b = b"GGUF" + struct.pack("<IQQ", 3, len(vecs), len(kv))
    for k, t, v in kv:
        b += gguf_str(k) + struct.pack("<I", t) + v
    off = 0
    for slot in vecs:
        b += gguf_str("direction.%d" % slot) + struct.pack("<IQIQ", 1, 4, 0, off)
        off += 32
    b += b"\0" * (-len(b) % 32)
    for slot, v in vecs.items():
        b += struct.pack("<4f", *v) + b"\0" * 16
    return b


os.makedirs(out, exist_ok=True)
for name, data in [("tiny_shared.bin", checkpoint(True)), ("tiny_unshared.bin", checkpoint(False)),
                   ("tok32.bin", tokenizer(32))]:
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
with open(os.path.join(here, "seeds", "cvec", "cape_keys.gguf"), "wb") as f:
    f.write(control_vector())


def quantize_seed():
    """seeds/quantize/tiny.bin: one byte (the fuzz_quantize harness picks the
    target type from it), then a small llama GGUF with F32, F16 and Q8_0
    tensors of 1, 2 and 3 dimensions."""
    rnd = random.Random(13)
    kv = [("general.architecture", 8, gguf_str("llama")),
          ("llama.block_count", 4, struct.pack("<I", 2)),
          ("llama.attention.head_count", 4, struct.pack("<I", 4)),
          ("llama.attention.head_count_kv", 4, struct.pack("<I", 1))]
    f32 = lambda n: struct.pack("<%df" % n, *[rnd.gauss(0, 1) for _ in range(n)])
    f16 = lambda n: struct.pack("<%de" % n, *[rnd.gauss(0, 1) for _ in range(n)])
    q80 = lambda nb: b"".join(struct.pack("<e", 0.01) + bytes(rnd.randrange(256) for _ in range(32))
                             for _ in range(nb))
    tensors = [("token_embd.weight", [256, 4], 0, f32(1024)),
               ("output_norm.weight", [256], 0, f32(256)),
               ("blk.0.attn_v.weight", [256, 2], 0, f32(512)),
               ("blk.0.ffn_down.weight", [512, 2], 1, f16(1024)),
               ("blk.1.attn_v.weight", [64, 2], 8, q80(4)),
               ("blk.1.ffn_up_exps.weight", [32, 2, 2], 0, f32(128))]
    b = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kv))
    for k, t, v in kv:
        b += gguf_str(k) + struct.pack("<I", t) + v
    off = 0
    for name, ne, t, data in tensors:
        b += gguf_str(name) + struct.pack("<I", len(ne)) + struct.pack("<%dQ" % len(ne), *ne)
        b += struct.pack("<IQ", t, off)
        off += len(data) + (-len(data) % 32)
    b += b"\0" * (-len(b) % 32)
    for _, _, _, data in tensors:
        b += data + b"\0" * (-len(data) % 32)
    return b"\x05" + b


os.makedirs(os.path.join(here, "seeds", "quantize"), exist_ok=True)
with open(os.path.join(here, "seeds", "quantize", "tiny.bin"), "wb") as f:
    f.write(quantize_seed())


def opt_seeds():
    """seeds/opt/: optimizer-state files for fuzz_opt in both layouts, for a
    state of n = 2000 moments (the harness reads n - 1 from bytes 24-25 and
    writes n and a zero hash into the header, then the checksum)."""
    n, nb = 2000, 2
    hdr = struct.pack("<4Q", 3, 3, n - 1, 0)
    m = [struct.pack("<f", 0.5 + i) for i in range(n)]
    block = lambda k: b"".join(m[k * 1024:(k + 1) * 1024])
    v2 = b"CAPEOPT2" + hdr + bytes([1, 0, 0, 1]) + block(0) + block(1) + b"\0" * 8
    v1 = b"CAPEOPT1" + hdr + b"".join(m) + bytes(4 * n) + b"\0" * 8
    return {"v2.opt": v2, "v1.opt": v1}


os.makedirs(os.path.join(here, "seeds", "opt"), exist_ok=True)
for name, data in opt_seeds().items():
    with open(os.path.join(here, "seeds", "opt", name), "wb") as f:
        f.write(data)
