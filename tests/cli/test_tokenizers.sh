#!/usr/bin/env bash
# tokenizer.ggml.pre: an unknown name is refused (one line, exit 2) and --pre
# overrides it; a missing key falls back to "default" with a warning. The ids
# are checked against llama.cpp's (tests/ref/pretok/expected.txt).
source "$(dirname "$0")/lib.sh"
P=tests/ref/pretok
# llama.cpp's ids for NAME on string INDEX of $P/strings.txt, as cape --ids prints them
want() { awk -F'\t' -v n="$1" -v i="$2" '$1 == n && $2 == i { gsub(/ /, ", ", $3); print "[" $3 "]" }' $P/expected.txt; }
TEXT='1 12 123 1234 12345 123456 1234567 12345678'   # string 9
[ "$(awk 'BEGIN { RS = "\n__ggml_vocab_test__\n" } NR == 10' $P/strings.txt)" = "$TEXT" ] || die "strings.txt changed: string 9 is not the digit string"

printf '%s' "$TEXT" | expect_exit 2 "$CAPE" tokenize $P/bad-pre.gguf --ids
expect_one_line_err
expect_err "bad-pre.gguf: tokenizer.ggml.pre 'no-such-pre' is not a pre-tokenizer cape knows; override with --pre NAME; known: default .*llama-bpe"

for name in qwen2 llama-bpe gpt-2 deepseek-v3 superbpe; do
  printf '%s' "$TEXT" | expect_exit 0 "$CAPE" tokenize $P/bad-pre.gguf --ids --pre "$name"
  w=$(want "$name" 9)
  [ -n "$w" ] && [ "$(cat "$TMP/out")" = "$w" ] || die "--pre $name: got $(cat "$TMP/out"), llama.cpp $w"
done
# the rule sets do differ on this string
[ "$(want qwen2 9)" != "$(want llama-bpe 9)" ] || die "qwen2 and llama-bpe agree: the check above proves nothing"

printf '%s' "$TEXT" | expect_exit 2 "$CAPE" tokenize $P/vocab-bpe.gguf --pre nonsense
expect_one_line_err
expect_err "^cape: --pre 'nonsense' is not a pre-tokenizer cape knows; known: "

printf '%s' "$TEXT" | expect_exit 0 "$CAPE" tokenize $P/no-pre.gguf --ids
expect_err "^cape: warning: .*no-pre.gguf has no tokenizer.ggml.pre; using the 'default' pre-tokenizer"
[ "$(cat "$TMP/out")" = "$(want default 9)" ] || die "no tokenizer.ggml.pre: got $(cat "$TMP/out"), llama.cpp's default $(want default 9)"
printf '%s' "$TEXT" | expect_exit 0 "$CAPE" tokenize $P/no-pre.gguf --ids --pre gpt-2
[ ! -s "$TMP/err" ] || die "--pre given, yet a warning: $(cat "$TMP/err")"

# the option reaches the model loader of the other commands
expect_exit 0 "$CAPE" info tests/ref/hf/gpt2.gguf --pre qwen2
expect_out "tokenizer +bpe-qwen2"
expect_exit 2 "$CAPE" info tests/ref/hf/gpt2.gguf --pre nonsense
expect_one_line_err
expect_exit 2 "$CAPE" run tests/ref/hf/gpt2.gguf --pre nonsense -p hi -n 1
expect_one_line_err
# --pre where it cannot apply is refused, not ignored
expect_exit 2 "$CAPE" tokenize ../shared/data/tokenizers/ggml-vocab-llama-spm.gguf --pre gpt-2 -p hi
expect_one_line_err
expect_err "ggml-vocab-llama-spm.gguf: --pre applies to byte-level BPE vocabularies .*this one is 'llama'"
expect_exit 2 "$CAPE" tokenize tests/ref/hf/tokenizer.json --pre gpt-2 -p hi
expect_err "tokenizer.json: --pre applies to GGUF vocabularies only"
expect_exit 2 "$CAPE" info tests/ref/hf/gpt2 --pre gpt-2
expect_one_line_err
expect_err "gpt2: --pre applies to GGUF vocabularies only"
done_ok
