#!/usr/bin/env bash
# cape train / cape forget end to end on a tiny corpus: bit-identical resume,
# crash safety, switching sources off, and bad input.
source "$(dirname "$0")/lib.sh"

corpus=$TMP/corpus.jsonl
for i in $(seq 1 12); do
  printf '{"source": "alice", "text": "Alice keeps %d red boxes in the attic near the old piano."}\n' "$i"
  printf '{"source": "bob", "text": "Bob was born in Lisbon in 19%02d and writes songs about the sea."}\n' "$i"
  printf '{"source": 7, "text": "Item %d: the seventh source speaks of numbers, %d and %d."}\n' "$i" "$((i * 3))" "$((i * 7))"
done >"$corpus"

TINY=(--data "$corpus" --dim 16 --layers 2 --heads 2 --kv-heads 1 --hidden 32 --ctx 24 --vocab 300
      --batch 4 --steps 8 --warmup 2 --lr 3e-3 --val-frac 0.1 --val-every 4 --ckpt-every 2
      --threads 2 --quiet)
SINKS=(--sinks --p-gen 0.5 --sink-k 4)

# N + N steps (stop, resume) equals 2N steps: same weights, same losses.
expect_exit 0 "$CAPE" train "${TINY[@]}" "${SINKS[@]}" -o "$TMP/full"
expect_out 'trained .*/model.gguf'
expect_exit 0 "$CAPE" train "${TINY[@]}" "${SINKS[@]}" -o "$TMP/half" --stop-after 4
expect_out 'stopped after step 4 of 8'
[ ! -e "$TMP/half/model.gguf" ] || die "a stopped run wrote model.gguf"
# temp files of a writer killed mid-write are removed by --resume
for f in ckpt-00000004.gguf.tmp.AbC123 log.jsonl.tmp.q1W2e3 model.gguf.tmp.Zz9Yy8; do
  echo junk >"$TMP/half/$f"
done
expect_exit 0 "$CAPE" train "${TINY[@]}" "${SINKS[@]}" -o "$TMP/half" --resume
[ -z "$(find "$TMP/half" -name '*.tmp.*')" ] || die "--resume left stale temp files: $(ls "$TMP/half")"
npass=$((npass + 1))
cmp -s "$TMP/full/model.gguf" "$TMP/half/model.gguf" || die "resumed model differs from the uninterrupted one"
strip() { sed -E 's/,"tok_per_s":[^,]*,"useful_tok_per_s":[^,]*,"elapsed_s":[^,}]*//' "$1"; }
[ "$(strip "$TMP/full/log.jsonl")" = "$(strip "$TMP/half/log.jsonl")" ] || die "resumed losses differ"
[ "$(wc -l <"$TMP/full/log.jsonl")" -eq 8 ] || die "log has not one line per step"
grep -q '"val_loss"' "$TMP/full/log.jsonl" || die "no validation loss in the log"
npass=$((npass + 3))

# a resume masks with the checkpoint's sink layout: other sink flags, or none,
# are refused in one line (and change nothing)
expect_exit 0 "$CAPE" train "${TINY[@]}" "${SINKS[@]}" -o "$TMP/half2" --stop-after 2
expect_exit 2 "$CAPE" train "${TINY[@]}" --sinks --p-gen 0.5 --sink-k 5 -o "$TMP/half2" --resume
expect_one_line_err
expect_err "k 4, seed 1, not the layout the flags give .*k 5.*resume with --sink-k 4 --sink-seed 1"
expect_exit 2 "$CAPE" train "${TINY[@]}" -o "$TMP/half2" --resume
expect_err "the checkpoint has sinks \(k 4, seed 1\); resume with --sinks"
expect_exit 2 "$CAPE" train "${TINY[@]}" --sinks --p-gen 0.5 --sink-k 4 --sink-seed 2 -o "$TMP/half2" --resume
[ -e "$TMP/half2/model.gguf" ] && die "a refused resume wrote a model"
expect_exit 0 "$CAPE" train "${TINY[@]}" "${SINKS[@]}" -o "$TMP/half2" --resume
cmp -s "$TMP/full/model.gguf" "$TMP/half2/model.gguf" || die "resumed model differs after refused resumes"
expect_exit 0 "$CAPE" train "${TINY[@]}" -o "$TMP/plainhalf" --stop-after 2
expect_exit 2 "$CAPE" train "${TINY[@]}" "${SINKS[@]}" -o "$TMP/plainhalf" --resume
expect_err "the checkpoint has no sinks; resume without --sinks"

# --resume on a finished run says it is complete and changes nothing.
cp "$TMP/full/model.gguf" "$TMP/model-before.gguf"
expect_exit 0 "$CAPE" train "${TINY[@]}" "${SINKS[@]}" -o "$TMP/full" --resume
expect_out "full: the run is complete \(step 8 of 8\); the model is .*/full/model.gguf"
cmp -s "$TMP/full/model.gguf" "$TMP/model-before.gguf" || die "resuming a finished run changed the model"
[ "$(wc -l <"$TMP/full/log.jsonl")" -eq 8 ] || die "resuming a finished run changed the log"
npass=$((npass + 1))
expect_exit 0 "$CAPE" train "${TINY[@]}" "${SINKS[@]}" -o "$TMP/full" --resume --json
expect_out '"complete": true'
expect_exit 2 "$CAPE" train "${TINY[@]}" "${SINKS[@]}" -o "$TMP/full" --resume --steps 4
expect_one_line_err
expect_err 'newest checkpoint is at step 8, past --steps 4'

# SIGINT / SIGTERM: the run checkpoints the step it is in, then exits 130 / 143;
# the checkpoint equals that of an uninterrupted run stopped at the same step.
LONG=(--steps 100000 --ckpt-every 100000)
for sig in INT TERM; do
  d=$TMP/sig-$sig
  "$CAPE" train "${TINY[@]}" "${SINKS[@]}" "${LONG[@]}" -o "$d" >/dev/null 2>"$TMP/sigerr" &
  pid=$!
  for _ in $(seq 1 400); do
    [ "$(cat "$d/log.jsonl" 2>/dev/null | wc -l)" -ge 3 ] && break
    sleep 0.05
  done
  kill -"$sig" "$pid"
  wait "$pid"
  got=$?
  want=$([ "$sig" = INT ] && echo 130 || echo 143)
  [ "$got" -eq "$want" ] || die "SIG$sig: exit $got, expected $want: $(cat "$TMP/sigerr")"
  grep -Eq "interrupted by SIG$sig after step [0-9]+ of 100000; the checkpoint is in" "$TMP/sigerr" ||
    die "SIG$sig: message: $(cat "$TMP/sigerr")"
  n=$(tail -1 "$d/log.jsonl" | sed -E 's/^\{"step":([0-9]+),.*/\1/')
  tail -1 "$d/log.jsonl" | grep -q '"checkpoint":true' || die "SIG$sig: last step not checkpointed"
  ck=$(printf 'ckpt-%08d' "$n")
  [ -f "$d/$ck.gguf" ] && [ -f "$d/$ck.opt" ] || die "SIG$sig: no checkpoint of step $n: $(ls "$d")"
  expect_exit 0 "$CAPE" train "${TINY[@]}" "${SINKS[@]}" "${LONG[@]}" --stop-after "$n" -o "$d-ref"
  cmp -s "$d/$ck.gguf" "$d-ref/$ck.gguf" || die "SIG$sig: checkpoint differs from the uninterrupted one"
  expect_exit 0 "$CAPE" train "${TINY[@]}" "${SINKS[@]}" "${LONG[@]}" --stop-after "$((n + 2))" -o "$d" --resume
  expect_out "stopped after step $((n + 2)) of 100000"
  npass=$((npass + 3))
done

# A fresh run does not mix with an old run's checkpoints.
expect_exit 2 "$CAPE" train "${TINY[@]}" -o "$TMP/full"
expect_one_line_err
expect_err 'holds checkpoints'

# Keep: only the newest two checkpoints remain.
[ "$(ls "$TMP/full"/ckpt-*.gguf | wc -l)" -eq 2 ] || die "expected 2 checkpoints kept"
npass=$((npass + 1))

# A run killed hard resumes from its last complete checkpoint to the same end.
"$CAPE" train "${TINY[@]}" "${SINKS[@]}" --ckpt-every 1 -o "$TMP/killed" >/dev/null 2>&1 &
pid=$!
for _ in $(seq 1 200); do
  [ "$(cat "$TMP/killed/log.jsonl" 2>/dev/null | wc -l)" -ge 3 ] && break
  sleep 0.05
done
kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
rm -f "$TMP/killed/model.gguf"
expect_exit 0 "$CAPE" train "${TINY[@]}" "${SINKS[@]}" -o "$TMP/killed" --resume
cmp -s "$TMP/full/model.gguf" "$TMP/killed/model.gguf" || die "model after kill + resume differs"
npass=$((npass + 1))

# JSON summary and the GPT-2 family.
expect_exit 0 "$CAPE" train "${TINY[@]}" --arch gpt2 --steps 2 --json -o "$TMP/g"
expect_out '"arch": "gpt2"'

# cape forget: switch off, unknown source, evaluation.
expect_exit 0 "$CAPE" forget "$TMP/full/model.gguf" --source alice -o "$TMP/forgot.gguf"
expect_out '1 of 3 sources switched off'
expect_exit 0 "$CAPE" forget "$TMP/forgot.gguf" --eval --data "$corpus" --json --threads 1
expect_out '"off_routed_to": "(bob|7)"'
expect_exit 2 "$CAPE" forget "$TMP/full/model.gguf" --source carol -o "$TMP/nope.gguf"
expect_one_line_err
expect_err "unknown source 'carol'"
[ ! -e "$TMP/nope.gguf" ] || die "a failed forget left output behind"
npass=$((npass + 1))
# the GGUF writer refuses a device, FIFO or directory as its output
mkfifo "$TMP/fifo.gguf"
for o in /dev/null "$TMP/fifo.gguf" "$TMP"; do
  expect_exit 2 timeout 20 "$CAPE" forget "$TMP/full/model.gguf" --source alice -o "$o"
  expect_one_line_err
  expect_err 'not a regular file; refusing to replace it'
done
[ -c /dev/null ] && [ -p "$TMP/fifo.gguf" ] || die "forget -o replaced a device or FIFO"
npass=$((npass + 1))
expect_exit 2 "$CAPE" forget "$TMP/g/model.gguf" --source alice -o "$TMP/nope.gguf"
expect_err 'has no sinks'

# cape run / cape score apply the sink modes through the runtime's MLP hook.
expect_exit 0 "$CAPE" run "$TMP/full/model.gguf" -p "Alice keeps" -n 4 --temp 0 --source alice
expect_err 'sinks source, using alice'
expect_exit 0 "$CAPE" run "$TMP/forgot.gguf" -p "Alice keeps" -n 4 --temp 0 --source alice
expect_err 'source alice is switched off in this model; the prompt was routed to (bob|7)'
expect_exit 2 "$CAPE" run "$TMP/full/model.gguf" -p "x" --source carol
expect_one_line_err
expect_err "unknown source 'carol'"
expect_exit 2 "$CAPE" run "$TMP/full/model.gguf" -p "x" --sinks sideways
expect_err 'unknown mode'
printf '{"context": "Alice keeps 3 red", "continuation": " boxes in the attic"}\n' >"$TMP/items.jsonl"
expect_exit 0 "$CAPE" score "$TMP/full/model.gguf" "$TMP/items.jsonl" --source alice
own=$(cut -f1 "$TMP/out")
expect_exit 0 "$CAPE" score "$TMP/full/model.gguf" "$TMP/items.jsonl" --sinks backbone
[ "$own" != "$(cut -f1 "$TMP/out")" ] || die "the sink mode did not change the score"
expect_exit 0 "$CAPE" score "$TMP/full/model.gguf" "$TMP/items.jsonl"
npass=$((npass + 1))

# A retain-only reference: drop a source, reuse the tokenizer of another model.
expect_exit 0 "$CAPE" train "${TINY[@]}" --steps 2 --exclude-source alice \
  --tokenizer-from "$TMP/full/model.gguf" --json -o "$TMP/retain"
expect_exit 0 "$CAPE" forget "$TMP/retain/model.gguf" --eval --data "$corpus" --source bob --json
expect_out '"plain"'
expect_exit 2 "$CAPE" train "${TINY[@]}" --exclude-source nobody -o "$TMP/nope"
expect_err "no source 'nobody'"

# --tokenizer-gguf: the vocabulary of another GGUF (SentencePiece Llama, byte-level
# GPT-2): the trained model carries its tokenizer.* keys, `cape tokenize` on it
# gives the source's ids, `cape run` loads it, and a resume is bit-identical.
TOKW=(--data "$corpus" --dim 16 --layers 1 --heads 2 --hidden 32 --ctx 24 --batch 4
      --steps 4 --warmup 1 --val-frac 0 --ckpt-every 2 --threads 2 --quiet)
text="Alice keeps 3 red boxes in the attic; Führer ½ months"
for voc in llama-spm gpt-2; do
  src=../shared/data/tokenizers/ggml-vocab-$voc.gguf
  [ -f "$src" ] || continue
  expect_exit 0 "$CAPE" train "${TOKW[@]}" "${SINKS[@]}" --tokenizer-gguf "$src" --json -o "$TMP/tg-$voc"
  expect_out '"steps": 4'
  expect_exit 0 "$CAPE" tokenize "$src" -p "$text" --ids
  want=$(cat "$TMP/out")
  expect_exit 0 "$CAPE" tokenize "$TMP/tg-$voc/model.gguf" -p "$text" --ids
  [ "$want" = "$(cat "$TMP/out")" ] || die "$voc: ids differ from the source GGUF's: $want / $(cat "$TMP/out")"
  expect_exit 0 "$CAPE" run "$TMP/tg-$voc/model.gguf" -p "Alice keeps" -n 3 --temp 0 --source alice
  expect_err 'using alice'
  expect_exit 0 "$CAPE" forget "$TMP/tg-$voc/model.gguf" --eval --data "$corpus" --json --threads 1
  expect_out '"source"'
  expect_exit 0 "$CAPE" train "${TOKW[@]}" "${SINKS[@]}" --tokenizer-gguf "$src" -o "$TMP/tgh-$voc" --stop-after 2
  expect_exit 0 "$CAPE" train "${TOKW[@]}" "${SINKS[@]}" -o "$TMP/tgh-$voc" --resume
  cmp -s "$TMP/tg-$voc/model.gguf" "$TMP/tgh-$voc/model.gguf" || die "$voc: resumed model differs"
  # a model trained with it passes the tokenizer on (--tokenizer-from)
  expect_exit 0 "$CAPE" train "${TOKW[@]}" --steps 1 --tokenizer-from "$TMP/tg-$voc/model.gguf" -o "$TMP/tgf-$voc"
  expect_exit 0 "$CAPE" tokenize "$TMP/tgf-$voc/model.gguf" -p "$text" --ids
  [ "$want" = "$(cat "$TMP/out")" ] || die "$voc: --tokenizer-from lost the tokenizer"
done
spm=../shared/data/tokenizers/ggml-vocab-llama-spm.gguf
if [ -f "$spm" ]; then
  # a GGUF without a vocabulary, a vocabulary too large for the memory allowed,
  # --vocab beside the tokenizer: one line, exit 2, nothing written
  expect_exit 2 "$CAPE" train "${TOKW[@]}" --tokenizer-gguf "$TMP/full/model.gguf.none" -o "$TMP/tgx"
  expect_one_line_err
  python3 - "$TMP/novocab.gguf" <<'PY'
import struct, sys
kv = b"general.architecture"
s = b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", len(kv)) + kv
s += struct.pack("<I", 8) + struct.pack("<Q", 5) + b"llama"
open(sys.argv[1], "wb").write(s)
PY
  expect_exit 2 "$CAPE" train "${TOKW[@]}" --tokenizer-gguf "$TMP/novocab.gguf" -o "$TMP/tgx"
  expect_one_line_err
  expect_err 'novocab.gguf: has no vocabulary'
  expect_exit 2 "$CAPE" train "${TOKW[@]}" --tokenizer-gguf "$spm" --dim 512 --max-mem 0.1 -o "$TMP/tgx"
  expect_one_line_err
  expect_err 'for the vocabulary of 32000 tokens.*--max-mem'
  expect_exit 2 "$CAPE" train "${TOKW[@]}" --tokenizer-gguf "$spm" --vocab 500 -o "$TMP/tgx"
  expect_one_line_err
  [ ! -e "$TMP/tgx" ] || die "a refused run left an output directory"
fi

# Bad corpus lines name file and line; nothing is written.
printf '{"source": "a", "text": "fine"}\n{"source": "a", "text": 3}\n' >"$TMP/bad.jsonl"
expect_exit 2 "$CAPE" train --data "$TMP/bad.jsonl" --dim 16 --layers 1 --heads 2 --hidden 16 --ctx 8 --vocab 260 -o "$TMP/out1"
expect_one_line_err
expect_err 'bad.jsonl:2: field "text"'
printf '{"source": "a", "text": "fine"}\n{oops\n' >"$TMP/bad2.jsonl"
expect_exit 2 "$CAPE" train --data "$TMP/bad2.jsonl" -o "$TMP/out1"
expect_err 'bad2.jsonl:2:'
[ ! -e "$TMP/out1" ] || die "bad input left an output directory"
npass=$((npass + 1))

# --config: a missing file and a NUL in a string are reported in the user's terms.
expect_exit 2 "$CAPE" train --data "$TMP/bad2.jsonl" --config "$TMP/nope.json" -o "$TMP/cfg1"
expect_one_line_err
expect_err 'nope.json: '
if grep -q ':-1' "$TMP/err"; then die "config message prints :-1"; fi
printf '{"dim": 32,\n "arch": "ll\\u0000ama"}\n' >"$TMP/nul.json"
expect_exit 2 "$CAPE" train --data "$TMP/bad2.jsonl" --config "$TMP/nul.json" -o "$TMP/cfg2"
expect_err 'nul.json:2:.*\\u0000 \(NUL\)'
if grep -q 'JSON_ALLOW_NUL' "$TMP/err"; then die "config message leaks JSON_ALLOW_NUL"; fi

# A configuration that cannot fit in memory is refused before anything is written.
expect_exit 2 "$CAPE" train "${TINY[@]}" --dim 65536 --layers 1024 --heads 1 --hidden 65536 -o "$TMP/huge"
expect_one_line_err
expect_err 'GiB'
[ ! -e "$TMP/huge" ] || die "refused run left an output directory"
npass=$((npass + 1))

# Resuming with another architecture, or from a damaged checkpoint.
expect_exit 2 "$CAPE" train "${TINY[@]}" --arch gpt2 --resume -o "$TMP/full"
expect_one_line_err
expect_err 'checkpoint is a llama model'
cp -r "$TMP/full" "$TMP/damaged"
for f in "$TMP/damaged"/ckpt-*.gguf; do head -c 1000 "$f" >"$f.tmp" && mv "$f.tmp" "$f"; done
expect_exit 2 "$CAPE" train "${TINY[@]}" "${SINKS[@]}" --resume -o "$TMP/damaged"
expect_one_line_err
expect_err 'truncated|outside the file|past the end'
expect_exit 2 "$CAPE" train "${TINY[@]}" --resume -o "$TMP/none"
expect_err 'no checkpoint'

# --precision bf16 on a CPU without bf16 (forced with CAPE_ISA) is refused
# before OUTDIR is created; an unknown CAPE_ISA level is refused.
CAPE_ISA=avx512 expect_exit 2 "$CAPE" train "${TINY[@]}" --precision bf16 -o "$TMP/bf16"
expect_one_line_err
expect_err '^cape: --precision bf16: this CPU offers neither AMX tiles nor AVX512-BF16'
[ ! -e "$TMP/bf16" ] || die "a refused bf16 run created OUTDIR"
CAPE_ISA=avx512 expect_exit 0 "$CAPE" train "${TINY[@]}" --steps 1 -o "$TMP/fp32"
CAPE_ISA=sse9 expect_exit 2 "$CAPE" train "${TINY[@]}" -o "$TMP/isa"
expect_err "CAPE_ISA: unknown level 'sse9'"
[ ! -e "$TMP/isa" ] || die "an unknown CAPE_ISA created OUTDIR"
npass=$((npass + 2))

# Sink flags are named as the user gave them.
expect_exit 2 "$CAPE" train "${TINY[@]}" --sinks --p-gen 1 -o "$TMP/pg"
expect_one_line_err
expect_err '^cape: --p-gen 1 leaves no sink units: the backbone takes all 32 MLP units'
expect_exit 2 "$CAPE" train "${TINY[@]}" --sinks --p-gen 0.9 --sink-k 9 -o "$TMP/pg"
expect_err '^cape: --sink-k 9 exceeds the sink pool: --p-gen 0.9 leaves 4 of the 32 MLP units'
expect_exit 2 "$CAPE" train "${TINY[@]}" --sinks --p-gen 0.01 -o "$TMP/pg"
expect_err '^cape: --p-gen 0.01 leaves no backbone unit'
grep -q 'sink-k: ' "$TMP/err" && die "internal name in the message"
[ ! -e "$TMP/pg" ] || die "a refused sink layout created OUTDIR"
npass=$((npass + 2))

# A tiny --max-mem says how much in a unit that shows it (not "0.00 GiB").
expect_exit 2 "$CAPE" train "${TINY[@]}" --max-mem 0.000001 -o "$TMP/mm"
expect_one_line_err
expect_err 'need [0-9.]+ KiB, 1.0 KiB of memory is allowed \(--max-mem\)'
grep -q '0\.00 GiB' "$TMP/err" && die "memory printed as 0.00 GiB"
npass=$((npass + 1))

# OUTDIR that is a file; a log.jsonl that is a FIFO (would block) is refused.
echo x >"$TMP/afile"
expect_exit 2 "$CAPE" train "${TINY[@]}" -o "$TMP/afile"
expect_one_line_err
expect_err 'afile: exists and is not a directory'
mkdir "$TMP/fifodir" && mkfifo "$TMP/fifodir/log.jsonl"
expect_exit 2 timeout 20 "$CAPE" train "${TINY[@]}" -o "$TMP/fifodir"
expect_one_line_err
expect_err 'log.jsonl: is a FIFO, not a regular file; refusing to replace it'

# Usage errors.
expect_exit 2 "$CAPE" train --data "$corpus"
expect_err 'OUTDIR is required'
expect_exit 2 "$CAPE" train "${TINY[@]}" --arch t5 -o "$TMP/x"
expect_err 'llama or gpt2'
expect_exit 0 "$CAPE" train --help
expect_out 'sink'
done_ok
