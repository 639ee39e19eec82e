#!/usr/bin/env bash
# cape train --init: fine-tuning the tiny llama, qwen2, qwen3 and gemma3
# models of tests/ref/hf/ and llama2.c's stories260K converted to GGUF. --steps 0 writes the model unchanged (the same
# logits in cape run); a few steps lower the loss; the output loads in
# cape run and in llama.cpp (llama-cpp-python, when installed), which
# continue a prompt greedily the same way; bad input exits 2 with one line
# and leaves no output directory.
. "$(dirname "$0")/lib.sh"

for i in $(seq 1 24); do
  echo "{\"source\": \"s$((i % 3))\", \"text\": \"Once upon a time, the quick fox said hello $i times. The lazy dog slept.\"}"
done >"$TMP/c.jsonl"
common=(--data "$TMP/c.jsonl" --quiet --val-frac 0 --seq 16 --batch 4 --precision fp32)

# the tiny HF models, and a llama2.c checkpoint converted by llama.cpp (SentencePiece vocabulary)
models="llama qwen2 qwen3 gemma3"
[ -f ../shared/data/models/stories260K/stories260K.gguf ] && models="$models stories260K"
for a in $models; do
  src=tests/ref/hf/$a.gguf
  [ "$a" = stories260K ] && src=../shared/data/models/stories260K/stories260K.gguf
  # identity: the initial model, written again, gives the same logits
  expect_exit 0 "$CAPE" train --init "$src" -o "$TMP/id-$a" --steps 0 "${common[@]}"
  expect_out "unchanged"
  expect_exit 0 "$CAPE" run "$src" -p "Once upon a time" -n 0 --dump-logits "$TMP/a.bin"
  expect_exit 0 "$CAPE" run "$TMP/id-$a/model.gguf" -p "Once upon a time" -n 0 --dump-logits "$TMP/b.bin"
  cmp -s "$TMP/a.bin" "$TMP/b.bin" || die "$a: --steps 0 changed the logits"
  npass=$((npass + 1))
  # fine-tuning lowers the loss on the corpus
  expect_exit 0 "$CAPE" train --init "$src" -o "$TMP/ft-$a" --steps 30 --lr 1e-2 "${common[@]}"
  first=$(head -1 "$TMP/ft-$a/log.jsonl" | sed 's/.*"loss":\([0-9.e+-]*\).*/\1/')
  last=$(tail -1 "$TMP/ft-$a/log.jsonl" | sed 's/.*"loss":\([0-9.e+-]*\).*/\1/')
  awk -v f="$first" -v l="$last" 'BEGIN { exit !(l < 0.7 * f) }' ||
    die "$a: loss went from $first to $last"
  npass=$((npass + 1))
  expect_exit 0 "$CAPE" run "$TMP/ft-$a/model.gguf" -p "Once upon" -n 4 --temp 0
done

# retrofitted sinks: --steps 0 adds units whose down-projection columns are
# zero, so every mask gives the source's logits; with the backbone frozen,
# training leaves the backbone-only function exactly the source's while the
# source masks change it; with nothing frozen, the backbone moves too
for a in llama gemma3; do
  src=tests/ref/hf/$a.gguf
  sk=(--sinks --sink-units 16 --sink-k 4)
  expect_exit 0 "$CAPE" run "$src" -p "Once upon a time" -n 0 --dump-logits "$TMP/a.bin"
  expect_exit 0 "$CAPE" train --init "$src" -o "$TMP/rf0-$a" --steps 0 "${sk[@]}" "${common[@]}"
  expect_out "16 sink units"
  expect_exit 0 "$CAPE" info "$TMP/rf0-$a/model.gguf"
  expect_out "backbone 64 \+ pool 16 units"
  for mode in "--sinks backbone" "--sinks source --source s1" "--sinks off"; do
    # shellcheck disable=SC2086
    expect_exit 0 "$CAPE" run "$TMP/rf0-$a/model.gguf" -p "Once upon a time" -n 0 $mode \
      --dump-logits "$TMP/b.bin"
    cmp -s "$TMP/a.bin" "$TMP/b.bin" || die "$a: retrofit at step 0 changed the logits ($mode)"
  done
  for fz in backbone none; do
    expect_exit 0 "$CAPE" train --init "$src" -o "$TMP/rf-$a-$fz" --steps 30 --lr 1e-2 "${sk[@]}" \
      --freeze "$fz" "${common[@]}"
    first=$(head -1 "$TMP/rf-$a-$fz/log.jsonl" | sed 's/.*"loss":\([0-9.e+-]*\).*/\1/')
    last=$(tail -1 "$TMP/rf-$a-$fz/log.jsonl" | sed 's/.*"loss":\([0-9.e+-]*\).*/\1/')
    awk -v f="$first" -v l="$last" 'BEGIN { exit !(l < 0.95 * f) }' ||
      die "$a --freeze $fz: loss went from $first to $last"
    expect_exit 0 "$CAPE" run "$TMP/rf-$a-$fz/model.gguf" -p "Once upon a time" -n 0 \
      --sinks backbone --dump-logits "$TMP/b.bin"
    expect_exit 0 "$CAPE" run "$TMP/rf-$a-$fz/model.gguf" -p "Once upon a time" -n 0 \
      --sinks source --source s1 --dump-logits "$TMP/c.bin"
    ! cmp -s "$TMP/a.bin" "$TMP/c.bin" || die "$a --freeze $fz: the sink units did not train"
    if [ "$fz" = backbone ]; then
      cmp -s "$TMP/a.bin" "$TMP/b.bin" || die "$a --freeze backbone: the backbone changed"
    else
      ! cmp -s "$TMP/a.bin" "$TMP/b.bin" || die "$a --freeze none: the backbone did not train"
    fi
  done
  # a retrofitted source switches off as a from-scratch one does
  expect_exit 0 "$CAPE" forget "$TMP/rf-$a-backbone/model.gguf" --source s1 -o "$TMP/rf-off-$a.gguf"
  expect_exit 0 "$CAPE" run "$TMP/rf-off-$a.gguf" -p "Once upon a time" -n 4 --temp 0
  expect_err "sinks off"
done
# a frozen-backbone run resumes to the same model
r=(--init tests/ref/hf/llama.gguf --steps 8 --lr 1e-2 --ckpt-every 4 --sinks --sink-units 16
   --freeze backbone "${common[@]}")
expect_exit 0 "$CAPE" train "${r[@]}" -o "$TMP/rr1"
expect_exit 0 "$CAPE" train "${r[@]}" -o "$TMP/rr2" --stop-after 4
# the optimizer state keeps only the blocks of moments that moved: with the
# backbone frozen it is a fraction of a run that trains everything
cp -r "$TMP/rr2" "$TMP/rr3"
cp -r "$TMP/rr2" "$TMP/rr4"
expect_exit 0 "$CAPE" train "${r[@]/backbone/none}" -o "$TMP/rrn" --stop-after 4
sf=$(stat -c %s "$TMP/rr2/ckpt-00000004.opt") sn=$(stat -c %s "$TMP/rrn/ckpt-00000004.opt")
[ $((sf * 3)) -lt "$sn" ] || die "frozen-backbone optimizer state $sf bytes, not well below $sn"
npass=$((npass + 1))
expect_exit 0 "$CAPE" train "${r[@]}" -o "$TMP/rr2" --resume
cmp -s "$TMP/rr1/model.gguf" "$TMP/rr2/model.gguf" || die "resumed retrofit differs"
npass=$((npass + 1))
# the older layout (every moment stored: OPT1) still resumes to the same model,
# and a damaged state file is refused in one line
python3 - "$TMP/rr3/ckpt-00000004.opt" "$TMP/rr4/ckpt-00000004.opt" <<'PY' || die "rewriting the state"
import struct, sys
b = open(sys.argv[1], "rb").read()
assert b[:8] == b"CAPEOPT2", b[:8]
step, t, n, h = struct.unpack("<4Q", b[8:40])
nb = (n + 1023) // 1024
table, q, out = b[40:40 + 2 * nb], 40 + 2 * nb, []
for k in range(2 * nb):
    ln = min(1024, n - (k % nb) * 1024)
    if table[k]:
        out.append(b[q:q + 4 * ln]); q += 4 * ln
    else:
        out.append(bytes(4 * ln))
assert q == len(b) - 8 and any(x == 0 for x in table) and any(table)
body = b"CAPEOPT1" + b[8:40] + b"".join(out)
s = 0xcbf29ce484222325
for c in body:
    s = ((s ^ c) * 0x100000001b3) & (2**64 - 1)
open(sys.argv[1], "wb").write(body + struct.pack("<Q", s))
d = bytearray(b); d[40 + 2 * nb + 5] ^= 0x40
open(sys.argv[2], "wb").write(bytes(d))
PY
expect_exit 0 "$CAPE" train "${r[@]}" -o "$TMP/rr3" --resume
cmp -s "$TMP/rr1/model.gguf" "$TMP/rr3/model.gguf" || die "a run resumed from an OPT1 state differs"
npass=$((npass + 1))
expect_exit 2 "$CAPE" train "${r[@]}" -o "$TMP/rr4" --resume
expect_one_line_err
expect_err "checksum mismatch"
for bad in "--sinks" "--sink-units 8" "--sinks --sink-units 8 --p-gen 0.5" "--freeze backbone"; do
  # shellcheck disable=SC2086
  expect_exit 2 "$CAPE" train --init tests/ref/hf/llama.gguf -o "$TMP/bad0" $bad "${common[@]}"
  expect_one_line_err
  [ ! -e "$TMP/bad0" ] || die "an output directory was left behind ($bad)"
done

# an interrupted fine-tuning run resumes to the same model
r=(--init tests/ref/hf/gemma3.gguf --steps 8 --lr 1e-2 --ckpt-every 4 --freeze embeddings "${common[@]}")
expect_exit 0 "$CAPE" train "${r[@]}" -o "$TMP/r1"
expect_exit 0 "$CAPE" train "${r[@]}" -o "$TMP/r2" --stop-after 4
expect_exit 0 "$CAPE" train "${r[@]}" -o "$TMP/r2" --resume
cmp -s "$TMP/r1/model.gguf" "$TMP/r2/model.gguf" || die "resumed fine-tuning differs"
npass=$((npass + 1))
# resuming without the frozen embeddings the run had is refused
expect_exit 2 "$CAPE" train --init tests/ref/hf/gemma3.gguf --steps 12 --lr 1e-2 --ckpt-every 4 \
  "${common[@]}" -o "$TMP/r2" --resume
expect_one_line_err
expect_err "another configuration"

# smaller output types load and stay close to the f32 model
expect_exit 0 "$CAPE" run tests/ref/hf/gemma3.gguf -p "Once upon a time" -n 0 --dump-logits "$TMP/g.bin"
for ty in f16 bf16 q8_0; do
  expect_exit 0 "$CAPE" train --init tests/ref/hf/gemma3.gguf -o "$TMP/ty-$ty" --steps 0 \
    --out-type "$ty" "${common[@]}"
  expect_exit 0 "$CAPE" info "$TMP/ty-$ty/model.gguf"
  expect_out "gemma3"
  expect_exit 0 "$CAPE" run "$TMP/ty-$ty/model.gguf" -p "Once upon a time" -n 0 --dump-logits "$TMP/c.bin"
  python3 - "$TMP/g.bin" "$TMP/c.bin" "$ty" <<'PY' || die "$ty output: logits too far from f32"
import struct, sys
a = open(sys.argv[1], "rb").read(); b = open(sys.argv[2], "rb").read()
x = struct.unpack(f"<{len(a)//4}f", a); y = struct.unpack(f"<{len(b)//4}f", b)
scale = max(abs(v) for v in x)
err = max(abs(p - q) for p, q in zip(x, y)) / scale
sys.exit(0 if err < {"f16": 2e-3, "bf16": 2e-2, "q8_0": 3e-2}[sys.argv[3]] else 1)
PY
  npass=$((npass + 1))
done

expect_exit 0 "$CAPE" train --init tests/ref/hf/qwen2.gguf -o "$TMP/q8" --steps 30 --lr 1e-2 \
  --out-type q8_0 "${common[@]}"

# frozen embeddings: still trains (the rest of the model)
expect_exit 0 "$CAPE" train --init tests/ref/hf/qwen3.gguf -o "$TMP/fz" --steps 5 --freeze embeddings \
  "${common[@]}"

# llama.cpp loads the outputs and continues a prompt as cape does
if python3 -c "import llama_cpp" 2>/dev/null; then
  python3 - "$CAPE" "Once upon a time" "$TMP"/ft-*/model.gguf "$TMP"/ty-*/model.gguf "$TMP/q8/model.gguf" <<'PY' \
    >"$TMP/out" 2>"$TMP/err" || die "llama.cpp and cape differ: $(cat "$TMP/out")"
import subprocess, sys
import llama_cpp
cape, prompt, n = sys.argv[1], sys.argv[2], 12
bad = 0
for p in sys.argv[3:]:
    ours = subprocess.run([cape, "run", p, "-p", prompt, "-n", str(n), "--temp", "0", "--ignore-eos"],
                          capture_output=True, check=True).stdout.rstrip(b"\n")
    m = llama_cpp.Llama(model_path=p, verbose=False, n_ctx=64)
    theirs = m.create_completion(prompt, max_tokens=n, temperature=0.0, top_k=1)["choices"][0]["text"]
    # llama-cpp-python drops the bytes of incomplete UTF-8 sequences
    ok = len(theirs) > 0 and ours.decode("utf-8", "ignore") == prompt + theirs
    print(p, "same" if ok else "DIFFERENT", repr(ours), repr(theirs))
    bad += not ok
sys.exit(1 if bad else 0)
PY
  npass=$((npass + 1))
else
  echo "   skipped the llama.cpp comparison: llama_cpp (llama-cpp-python) is not installed"
fi

# bad input: exit 2, one line, nothing written
expect_exit 2 "$CAPE" train --init tests/ref/hf/gptneox.gguf -o "$TMP/bad1" "${common[@]}"
expect_one_line_err
expect_err "gptneox.*llama, qwen2, qwen3, gemma3"
[ ! -e "$TMP/bad1" ] || die "an output directory was left behind"
cp tests/ref/hf/gemma3.gguf "$TMP/wrong.gguf"
python3 tests/cli/gguf_patch.py "$TMP/wrong.gguf" kv gemma3.feed_forward_length 48 >/dev/null
expect_exit 2 "$CAPE" train --init "$TMP/wrong.gguf" -o "$TMP/bad2" "${common[@]}"
expect_one_line_err
expect_err "ffn_gate.weight"
[ ! -e "$TMP/bad2" ] || die "an output directory was left behind"
expect_exit 2 "$CAPE" train --init tests/ref/hf/llama.gguf -o "$TMP/bad3" --max-mem 0.0001 "${common[@]}"
expect_one_line_err
expect_err "max-mem"
[ ! -e "$TMP/bad3" ] || die "an output directory was left behind"
expect_exit 2 "$CAPE" train --init tests/ref/hf/llama.gguf -o "$TMP/bad4" --dim 64 "${common[@]}"
expect_one_line_err
expect_exit 2 "$CAPE" train --data "$TMP/c.jsonl" -o "$TMP/bad5" --steps 0
expect_one_line_err
expect_exit 2 "$CAPE" train --init tests/ref/hf/llama.gguf -o "$TMP/bad6" --out-type q4_k "${common[@]}"
expect_one_line_err
[ ! -e "$TMP/bad4" ] && [ ! -e "$TMP/bad5" ] && [ ! -e "$TMP/bad6" ] || die "output left behind"
done_ok
