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


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "quantize":
        quantize(*sys.argv[2:])
    elif cmd == "compare":
        compare(*sys.argv[2:])
    elif cmd == "greedy":
        greedy(*sys.argv[2:])
    else:
        sys.exit("unknown command " + cmd)
