#!/usr/bin/env python3
"""Helpers for tests/cli/test_quantize.sh and bench/bench_quantize.sh.

  quantize_peer.py quantize IN OUT FTYPE [THREADS]
      llama.cpp's llama_model_quantize (llama-cpp-python) on IN; FTYPE is the
      llama_ftype number; prints the wall time in seconds. Exit 3 when
      llama_cpp is not installed.
  quantize_peer.py compare A B
      the tensors of two GGUF files: same names, shapes, types and bytes;
      the metadata of B holds every key of A with the same value. Prints one
      line per difference and exits 1 when there is one.
  quantize_peer.py greedy MODEL PROMPT N
      llama.cpp's greedy continuation of PROMPT (N tokens), as text.
  quantize_peer.py synth TOKSRC OUT
      a random f32 llama model (dim 256, 8 layers, 4 query heads sharing one
      key/value head, tied embeddings) with the tokenizer of TOKSRC: rows
      long enough for the K-quants, so that their recipe rules apply.
"""
import sys
import time


def quantize(src, dst, ftype, threads=0):
    try:
        import llama_cpp
    except ImportError:
        sys.exit(3)
    p = llama_cpp.llama_model_quantize_default_params()
    p.ftype = int(ftype)
    p.nthread = int(threads)
    p.allow_requantize = True
    t0 = time.perf_counter()
    rc = llama_cpp.llama_model_quantize(src.encode(), dst.encode(), p)
    dt = time.perf_counter() - t0
    if rc != 0:
        sys.exit("llama_model_quantize failed: %d" % rc)
    print("%.4f" % dt)


def field_value(f):
    import gguf
    if not f.types:
        return None
    if f.types[0] == gguf.GGUFValueType.ARRAY:
        return [bytes(f.parts[i]).hex() for i in f.data]
    return bytes(f.parts[f.data[0]]).hex() if f.data else None


def compare(a, b):
    import gguf
    ra, rb = gguf.GGUFReader(a), gguf.GGUFReader(b)
    ta = {t.name: t for t in ra.tensors}
    tb = {t.name: t for t in rb.tensors}
    bad = 0
    if set(ta) != set(tb):
        print("tensor names differ: only in A %s, only in B %s" %
              (sorted(set(ta) - set(tb))[:5], sorted(set(tb) - set(ta))[:5]))
        bad += 1
    for name in sorted(set(ta) & set(tb)):
        x, y = ta[name], tb[name]
        if x.tensor_type != y.tensor_type or list(x.shape) != list(y.shape):
            print("%s: %s %s vs %s %s" % (name, x.tensor_type.name, list(x.shape),
                                          y.tensor_type.name, list(y.shape)))
            bad += 1
        elif bytes(x.data.tobytes()) != bytes(y.data.tobytes()):
            print("%s (%s): bytes differ" % (name, x.tensor_type.name))
            bad += 1
    for k, f in ra.fields.items():
        if k.startswith("GGUF."):
            continue
        g = rb.fields.get(k)
        if g is None or field_value(f) != field_value(g):
            print("metadata %s differs" % k)
            bad += 1
    print("%d tensors compared, %d differences" % (len(set(ta) & set(tb)), bad))
    sys.exit(1 if bad else 0)


def greedy(model, prompt, n):
    try:
        import llama_cpp
    except ImportError:
        sys.exit(3)
    llm = llama_cpp.Llama(model_path=model, n_ctx=256, n_threads=1, verbose=False, seed=0)
    out = llm(prompt, max_tokens=int(n), temperature=0.0, top_k=1)
    sys.stdout.write(out["choices"][0]["text"])


def synth(toksrc, out):
    import numpy as np
    import gguf
    src = gguf.GGUFReader(toksrc)
    w = gguf.GGUFWriter(out, "llama")
    dim, ffn, n_layer, n_head, n_kv = 256, 512, 8, 4, 1
    for k, f in src.fields.items():
        if k.startswith("tokenizer."):
            t = f.types[0]
            if t == gguf.GGUFValueType.ARRAY:
                w.add_key_value(k, f.contents(), t, sub_type=f.types[1])
            else:
                w.add_key_value(k, f.contents(), t)
    n_vocab = len(src.fields["tokenizer.ggml.tokens"].data)
    w.add_context_length(128)
    w.add_embedding_length(dim)
    w.add_feed_forward_length(ffn)
    w.add_block_count(n_layer)
    w.add_head_count(n_head)
    w.add_head_count_kv(n_kv)
    w.add_rope_dimension_count(dim // n_head)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_file_type(0)
    rng = np.random.default_rng(13)

    def mat(rows, cols, scale=0.05):
        x = rng.standard_normal((rows, cols)).astype(np.float32) * scale
        x[:, rng.integers(0, cols, 3)] *= 8  # a few outlier columns
        return x

    w.add_tensor("token_embd.weight", mat(n_vocab, dim, 0.5))
    w.add_tensor("output_norm.weight", np.ones(dim, np.float32))
    hd = dim // n_head
    for i in range(n_layer):
        b = "blk.%d." % i
        w.add_tensor(b + "attn_norm.weight", np.ones(dim, np.float32))
        w.add_tensor(b + "attn_q.weight", mat(dim, dim))
        w.add_tensor(b + "attn_k.weight", mat(n_kv * hd, dim))
        w.add_tensor(b + "attn_v.weight", mat(n_kv * hd, dim))
        w.add_tensor(b + "attn_output.weight", mat(dim, dim))
        w.add_tensor(b + "ffn_norm.weight", np.ones(dim, np.float32))
        w.add_tensor(b + "ffn_gate.weight", mat(ffn, dim))
        w.add_tensor(b + "ffn_up.weight", mat(ffn, dim))
        w.add_tensor(b + "ffn_down.weight", mat(dim, ffn))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "quantize":
        quantize(*sys.argv[2:])
    elif cmd == "compare":
        compare(*sys.argv[2:])
    elif cmd == "synth":
        synth(*sys.argv[2:])
    elif cmd == "greedy":
        greedy(*sys.argv[2:])
    else:
        sys.exit("unknown command " + cmd)
