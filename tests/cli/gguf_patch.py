#!/usr/bin/env python3
"""Patches a copy of a GGUF file in place, for tests of bad metadata and weights.

    gguf_patch.py FILE kv KEY VALUE          set an integer/float scalar key (same type)
    gguf_patch.py FILE tensor NAME BYTE HEX  overwrite bytes at BYTE of tensor NAME's data
    gguf_patch.py FILE info NAME             print the type and the shape of tensor NAME
    gguf_patch.py FILE q8 NAME [SCALEHEX]    store F32 tensor NAME as Q8_0 instead; SCALEHEX
                                             (f16, little-endian) replaces its first block scale

Only the standard library; the file layout (GGUF v2/v3) is parsed here.
"""
import struct
import sys

SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
FMT = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<B", 10: "<Q", 11: "<q", 12: "<d"}


def parse(b):
    assert b[:4] == b"GGUF"
    pos = 8
    nt, nkv = struct.unpack_from("<QQ", b, pos)
    pos += 16
    kvs, align = {}, 32

    def rstr(p):
        n = struct.unpack_from("<Q", b, p)[0]
        return b[p + 8:p + 8 + n].decode("utf-8", "replace"), p + 8 + n

    def skip(t, p):
        if t in SIZES:
            return p + SIZES[t]
        if t == 8:
            return rstr(p)[1]
        et, n = struct.unpack_from("<IQ", b, p)
        p += 12
        for _ in range(n):
            p = skip(et, p)
        return p

    for _ in range(nkv):
        k, pos = rstr(pos)
        t = struct.unpack_from("<I", b, pos)[0]
        pos += 4
        kvs[k] = (t, pos)
        if k == "general.alignment":
            align = struct.unpack_from("<I", b, pos)[0]
        pos = skip(t, pos)
    tensors = {}
    kv_end = pos
    for _ in range(nt):
        name, pos = rstr(pos)
        nd = struct.unpack_from("<I", b, pos)[0]
        ne = struct.unpack_from("<%dQ" % nd, b, pos + 4)
        pos += 4 + 8 * nd
        ty, off = struct.unpack_from("<IQ", b, pos)
        pos += 12
        tensors[name] = (ty, list(ne), off)
    data = (pos + align - 1) // align * align
    return kvs, tensors, data, (kv_end, align)


def main():
    path, what, name = sys.argv[1:4]
    b = bytearray(open(path, "rb").read())
    kvs, tensors, data, (kv_end, align) = parse(b)
    if what == "kv":
        t, p = kvs[name]
        v = float(sys.argv[4]) if t in (6, 12) else int(sys.argv[4])
        struct.pack_into(FMT[t], b, p, v)
    elif what == "tensor":
        ty, ne, off = tensors[name]
        at = data + off + int(sys.argv[4])
        raw = bytes.fromhex(sys.argv[5])
        b[at:at + len(raw)] = raw
    elif what == "q8":
        import array
        out = bytearray(b[:kv_end])
        blobs, off = [], 0
        for tn, (ty, ne, o) in tensors.items():
            n = 1
            for d in ne:
                n *= d
            size = {0: 4 * n, 1: 2 * n}.get(ty)
            raw = bytes(b[data + o:data + o + size])
            if tn == name:
                assert ty == 0 and n % 32 == 0
                x = array.array("f", raw)
                q = bytearray()
                for i in range(0, n, 32):
                    blk = x[i:i + 32]
                    d = max(abs(v) for v in blk) / 127 or 1.0
                    scale = struct.pack("<e", d)
                    d = struct.unpack("<e", scale)[0]
                    if i == 0 and len(sys.argv) > 4:
                        scale = bytes.fromhex(sys.argv[4])
                    q += scale + struct.pack("<32b", *[max(-127, min(127, round(v / d))) for v in blk])
                raw, ty = bytes(q), 8
            out += struct.pack("<Q", len(tn.encode())) + tn.encode()
            out += struct.pack("<I", len(ne)) + struct.pack("<%dQ" % len(ne), *ne)
            out += struct.pack("<IQ", ty, off)
            blobs.append((off, raw))
            off = (off + len(raw) + align - 1) // align * align
        out += bytes((-len(out)) % align)
        base = len(out)
        out += bytes(off)
        for o, raw in blobs:
            out[base + o:base + o + len(raw)] = raw
        b = out
    elif what == "info":
        ty, ne, off = tensors[name]
        print(ty, *ne)
        return
    open(path, "wb").write(b)


if __name__ == "__main__":
    main()
