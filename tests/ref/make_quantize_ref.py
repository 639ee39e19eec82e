#!/usr/bin/env python3
"""Reference quantisations for cape's weight quantisers (src/tensor/quantize.c).

Two independent references, compared with each other where both exist:
  - the numpy quantisers of the `gguf` package (pip install gguf): F16, BF16,
    Q4_0, Q4_1, Q5_0, Q5_1, Q8_0;
  - ggml's reference quantisers (quantize_row_*_ref) in the libggml-base
    shared library bundled with llama-cpp-python (pip install
    llama-cpp-python), called through ctypes: every type, the K-quants
    included (gguf has no K-quant quantiser).

Writes tests/ref/quantize.bin:
  int32 rows, int32 n (values per row), rows*n float32 inputs,
  then per type: int32 ggml type id, int32 nbytes, the quantised bytes.
"""
import ctypes
import glob
import os
import struct

import numpy as np
import gguf
from gguf import quants
import llama_cpp

N = 512
TYPES = ["F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0",
         "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"]
NUMPY = {"F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0"}


def inputs(rng):
    rows = []
    rows.append(rng.standard_normal(N))                       # plain Gaussian weights
    r = rng.standard_normal(N) * 1e-3                         # small weights with outliers
    r[rng.integers(0, N, 12)] *= 50
    rows.append(r)
    r = np.zeros(N)                                           # zeros, constants, lone values
    r[64:96] = 0.25
    r[160] = -3.0
    r[300:512] = rng.uniform(-1, 1, 212)
    rows.append(r)
    r = rng.standard_normal(N) * 1e-20                        # below the all-zero threshold
    r[:200] = 0
    rows.append(r)
    rows.append(np.clip(rng.standard_t(2, N), -40, 40))       # heavy tails
    rows.append(rng.uniform(0, 1, N))                         # all positive
    rows.append(-rng.uniform(0.5, 2, N))                      # all negative
    rows.append(rng.integers(-8, 8, N) * 0.5)                 # exact ties in rounding
    x = np.array(rows, dtype=np.float32)
    # sub-blocks of very different magnitudes inside one super-block
    x[0, 256:512] *= np.repeat(np.float32([1, 0.01, 3, 0.2, 1e-4, 8, 0.5, 2]), 32)
    return x


def ggml_lib():
    libdir = os.path.join(os.path.dirname(llama_cpp.__file__), "lib")
    paths = sorted(glob.glob(os.path.join(libdir, "libggml-base.so*")))
    if not paths:
        raise SystemExit("libggml-base.so not found in " + libdir)
    return ctypes.CDLL(paths[0])


def ggml_ref(lib, name, x):
    qt = gguf.GGMLQuantizationType[name]
    bs, ts = gguf.GGML_QUANT_SIZES[qt]
    out = bytearray()
    for row in x:
        buf = (ctypes.c_uint8 * (N // bs * ts))()
        if name in ("F16", "BF16"):
            return None
        fn = getattr(lib, "quantize_row_%s_ref" % name.lower().replace("_k", "_K"))
        fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
        fn.restype = None
        row = np.ascontiguousarray(row, dtype=np.float32)
        fn(row.ctypes.data, ctypes.addressof(buf), N)
        out += bytes(buf)
    return bytes(out)


def main():
    rng = np.random.default_rng(13)
    x = inputs(rng)
    lib = ggml_lib()
    out = bytearray(struct.pack("<ii", x.shape[0], N) + x.astype("<f4").tobytes())
    for name in TYPES:
        qt = gguf.GGMLQuantizationType[name]
        ref = ggml_ref(lib, name, x)
        if name in NUMPY:
            py = quants.quantize(x, qt).tobytes()
            if ref is not None and ref != py:
                raise SystemExit("%s: gguf-py and ggml disagree" % name)
            ref = py
        out += struct.pack("<ii", int(qt), len(ref)) + ref
        print("%-5s %6d bytes" % (name, len(ref)))
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "quantize.bin")
    with open(path, "wb") as f:
        f.write(out)


if __name__ == "__main__":
    main()
