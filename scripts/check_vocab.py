#!/usr/bin/env python3
"""Compares cape's tokenizer with llama.cpp's test vectors.

usage: scripts/check_vocab.py DIR [--cape PATH] [--verbose]

DIR is a directory such as llama.cpp's models/: every ggml-vocab-NAME.gguf
that has ggml-vocab-NAME.gguf.inp and .out beside it is checked. The .inp file
holds the test strings separated by "\\n__ggml_vocab_test__\\n"; the .out file
the expected ids, one line per string. Each string is tokenized with
`cape tokenize --ids --no-bos` (special-token text is parsed, as llama.cpp's
test does). Nothing is fetched.

Prints one line per vocabulary (cases passed / cases) and the first
differences; exits 1 when any case differs, 2 on bad usage.
"""
import glob
import os
import subprocess
import sys

SEP = "\n__ggml_vocab_test__\n"


def cape_ids(cape, vocab, text):
    r = subprocess.run([cape, "tokenize", vocab, "--ids", "--no-bos"], input=text,
                       capture_output=True)
    if r.returncode != 0:
        return None, r.stderr.decode(errors="replace").strip()
    out = r.stdout.decode().strip().strip("[]")
    return [int(x) for x in out.split(",") if x.strip()], None


def main():
    args = [a for a in sys.argv[1:]]
    cape = os.environ.get("CAPE", "./cape")
    verbose = "--verbose" in args
    if verbose:
        args.remove("--verbose")
    if "--cape" in args:
        i = args.index("--cape")
        if i + 1 >= len(args):
            print("check_vocab: --cape needs a path", file=sys.stderr)
            return 2
        cape = args[i + 1]
        del args[i:i + 2]
    if len(args) != 1 or not os.path.isdir(args[0]):
        print("usage: scripts/check_vocab.py DIR [--cape PATH] [--verbose]", file=sys.stderr)
        return 2
    vocabs = sorted(v for v in glob.glob(os.path.join(args[0], "ggml-vocab-*.gguf"))
                    if os.path.exists(v + ".inp") and os.path.exists(v + ".out"))
    if not vocabs:
        print(f"check_vocab: no ggml-vocab-*.gguf with .inp/.out in {args[0]}", file=sys.stderr)
        return 2
    failed = 0
    for v in vocabs:
        with open(v + ".inp", "rb") as f:
            inp = f.read().split(SEP.encode())
        with open(v + ".out", encoding="utf-8") as f:
            out = f.read().split("\n")
        cases = inp[:-1]  # the file ends with a separator
        ok, shown = 0, 0
        for k, text in enumerate(cases):
            want = [int(x) for x in out[k].split()] if k < len(out) else None
            got, err = cape_ids(cape, v, text)
            if got == want:
                ok += 1
                continue
            if shown < 3 or verbose:
                shown += 1
                print(f"  {os.path.basename(v)} case {k} {text[:60]!r}\n"
                      f"    cape      {err or got}\n    llama.cpp {want}")
        print(f"{os.path.basename(v)}: {ok}/{len(cases)}")
        failed += ok != len(cases)
    print(f"{len(vocabs) - failed} of {len(vocabs)} vocabularies match")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
