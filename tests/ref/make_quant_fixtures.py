#!/usr/bin/env python3
"""Reference dequantisations for cape's block formats, from the numpy
implementation in the `gguf` package (pip install gguf).

Writes tests/ref/quant.bin: for each type, int32 ggml type id, int32 n
(values), int32 nbytes, the raw blocks, then n float32 values. Blocks come
from gguf's quantiser where it has one, else from random bytes with sane
f16 scales.
"""
import os
import struct

import numpy as np
import gguf
from gguf import quants

N = 512
# (name, offsets of f16 scale fields within a block) for random K-quant blocks
RANDOM = {"Q2_K": (80, 82), "Q3_K": (108,), "Q4_K": (0, 2), "Q5_K": (0, 2), "Q6_K": (208,)}
QUANTISED = ["F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0"]


def main():
    rng = np.random.default_rng(7)
    out = bytearray()
    x = rng.standard_normal((1, N)).astype(np.float32)
    for name in QUANTISED + list(RANDOM):
        qt = gguf.GGMLQuantizationType[name]
        if name in RANDOM:
            bs, ts = gguf.GGML_QUANT_SIZES[qt]
            raw = bytearray(rng.integers(0, 256, size=(N // bs) * ts, dtype=np.uint8).tobytes())
            for b in range(N // bs):
                for off in RANDOM[name]:
                    struct.pack_into("<e", raw, b * ts + off, float(rng.uniform(-0.1, 0.1)))
            q = np.frombuffer(bytes(raw), dtype=np.uint8).reshape(1, -1)
        else:
            q = quants.quantize(x, qt)
        y = quants.dequantize(q, qt).astype(np.float32).reshape(-1)
        assert y.size == N
        raw = q.tobytes()
        out += struct.pack("<iii", int(qt), N, len(raw)) + raw + y.astype("<f4").tobytes()
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "quant.bin"), "wb") as f:
        f.write(out)


if __name__ == "__main__":
    main()
