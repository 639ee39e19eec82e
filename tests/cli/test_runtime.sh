#!/usr/bin/env bash
# End-to-end checks of cape run / score / info / tokenize on stories260K and
# the fixture models, and of the one-line errors on bad input.
source "$(dirname "$0")/lib.sh"
S=../shared/data/models/stories260K
G=$S/stories260K.gguf

expect_exit 0 "$CAPE" run "$G" -p "Once upon a time" -n 32 --temp 0
expect_out "^Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw$"
expect_exit 0 "$CAPE" run "$S/stories260K.bin" -p "Once upon a time" -n 32 --temp 0
expect_out "One day, she saw$"
# sampling repeats with the same seed and differs with another
expect_exit 0 "$CAPE" run "$G" -p "Once" -n 40 --temp 1 --seed 7; cp "$TMP/out" "$TMP/a"
expect_exit 0 "$CAPE" run "$G" -p "Once" -n 40 --temp 1 --seed 7 -t 2
cmp -s "$TMP/a" "$TMP/out" || die "same seed gave different text"
expect_exit 0 "$CAPE" run "$G" -p "Once" -n 40 --temp 1 --seed 8
cmp -s "$TMP/a" "$TMP/out" && die "different seeds gave the same text"

expect_exit 0 "$CAPE" info "$G"
expect_out "architecture llama"
expect_out "tokenizer +spm, 512 tokens"
expect_exit 0 "$CAPE" info tests/ref/hf/gemma3 --json
expect_out '"architecture": "gemma3"'
expect_out '"sliding_window": 5'

printf 'Once upon a time' | expect_exit 0 "$CAPE" tokenize "$G" --ids
expect_out '^\[1, 403, 407, 261, 378\]$'
printf 'Hello world' | expect_exit 0 "$CAPE" tokenize ../shared/data/tokenizers/ggml-vocab-gpt-2.gguf --ids
expect_out '^\[15496, 995\]$'
printf 'Hello world' | expect_exit 0 "$CAPE" tokenize ../shared/data/tokenizers/ggml-vocab-gpt-2.gguf
expect_out "^ +995 -> ' world'$"

# score: the greedy continuation is greedy, and shares the context's work
cat > "$TMP/items.jsonl" <<'J'
{"context": "Once upon a time", "continuation": ", there was a little girl"}
{"context": "Once upon a time", "continuation": ", there was a big dog"}
J
expect_exit 0 "$CAPE" score "$G" "$TMP/items.jsonl"
expect_out $'^-[0-9.]+\t8\t1$'
expect_out $'^-[0-9.]+\t7\t0$'

# the context end is reported; -c above the trained context warns
expect_exit 0 "$CAPE" run "$G" -p "Once upon a time" -n 100 -c 40 --temp 0 --ignore-eos
expect_err '^cape run: stopped at the context limit \(40 tokens\)$'
expect_exit 0 "$CAPE" run "$G" -p "Once upon a time" -n 20 -c 40 --temp 0 --ignore-eos
grep -q 'context limit' "$TMP/err" && die "context limit reported for a run that ended before it"
ctx=$("$CAPE" info "$G" --json | python3 -c "import json,sys; print(json.load(sys.stdin)['context_length'])")
expect_exit 0 "$CAPE" run "$G" -p "Once" -n 2 -c $((ctx + 1)) --temp 0
expect_err "warning: -c $((ctx + 1)) is above the model's trained context of $ctx tokens"
expect_exit 0 "$CAPE" run "$G" -p "Once" -n 2 -c "$ctx" --temp 0
grep -q 'warning' "$TMP/err" && die "warned at -c equal to the trained context"

# bad input: one line on stderr, exit 2
printf 'GGUF\3\0\0\0' > "$TMP/trunc.gguf"
expect_exit 2 "$CAPE" run "$TMP/trunc.gguf" -p hi; expect_one_line_err; expect_err "truncated"
printf 'GGUX\3\0\0\0\0\0\0\0' > "$TMP/magic.gguf"
expect_exit 2 "$CAPE" info "$TMP/magic.gguf"; expect_one_line_err; expect_err "not a GGUF file"
head -c 5000 "$G" > "$TMP/cut.gguf"
expect_exit 2 "$CAPE" info "$TMP/cut.gguf"; expect_one_line_err
head -c 100000 "$S/stories260K.bin" > "$TMP/cut.bin"; cp "$S/tok512.bin" "$TMP/"
expect_exit 2 "$CAPE" run "$TMP/cut.bin" -p hi; expect_one_line_err; expect_err "cut.bin: truncated: the file is 100000 bytes but its header .* implies"
mkdir -p "$TMP/hf"; cp tests/ref/hf/llama/config.json tests/ref/hf/llama/model.safetensors "$TMP/hf/"
printf '{"model": {"type": "BPE", "vocab": ' > "$TMP/hf/tokenizer.json"
expect_exit 2 "$CAPE" run "$TMP/hf" -p hi; expect_one_line_err; expect_err "tokenizer.json"
printf '{"context": "a"}\n' > "$TMP/bad.jsonl"
expect_exit 2 "$CAPE" score "$G" "$TMP/bad.jsonl"; expect_one_line_err; expect_err "bad.jsonl:1"
expect_exit 2 "$CAPE" run "$G" -p "x" --temp -1; expect_one_line_err
expect_exit 2 "$CAPE" run /nonexistent.gguf -p x; expect_one_line_err
done_ok
