#!/usr/bin/env bash
# Inputs the libFuzzer harnesses (tests/fuzz) once crashed on: each must now
# be a clean one-line input error (exit 2). The crashing files themselves are
# kept as seeds in tests/fuzz/seeds/<harness>/crash-*.
source "$(dirname "$0")/lib.sh"
S=tests/fuzz/seeds

# le32 V...: the values as little-endian 32-bit integers
le32() {
  local v
  for v in "$@"; do
    printf "$(printf '\\%03o\\%03o\\%03o\\%03o' $((v & 255)) $((v >> 8 & 255)) \
      $((v >> 16 & 255)) $((v >> 24 & 255)))"
  done
}

# llama2.c header (dim 8, ffn 16, 2 layers, 2 heads, 1 KV head, vocabulary,
# context 8) whose vocabulary field is INT32_MIN: it was negated before the
# header check (signed overflow, fatal under UBSan)
cp "$S/llama2c/tok32.bin" "$TMP/tokenizer.bin"
{ le32 8 16 2 2 1 2147483648 8; head -c 64 /dev/zero; } > "$TMP/vocab.bin"
expect_exit 2 "$CAPE" info "$TMP/vocab.bin"; expect_one_line_err
expect_err "vocab.bin: header field 5 = -2147483648 is not a plausible size"
# the harness's own crashing input
cp "$S/llama2c/crash-vocab-int-min.bin" "$TMP/crash.bin"
expect_exit 2 "$CAPE" info "$TMP/crash.bin"; expect_one_line_err; expect_err "crash.bin: header field"
# control: the same header with vocabulary -32 reaches the size check
{ le32 8 16 2 2 1 $(( (1 << 32) - 32 )) 8; head -c 64 /dev/zero; } > "$TMP/vocab.bin"
expect_exit 2 "$CAPE" info "$TMP/vocab.bin"; expect_one_line_err; expect_err "truncated|size"

# a 64-byte llama2.c file whose header asks for 4194304 layers: tables were
# sized by the header (gigabytes) before the file size was checked. Memory is
# capped at 1 GiB (ASan's allocation limit under ASan, else ulimit -v) so the
# old behaviour fails here as it did under the fuzzer.
{ le32 8 16 4194304 2 1 32 8; head -c 36 /dev/zero; } > "$TMP/layers.bin"
if grep -qa __asan_init "$CAPE"; then
  ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}max_allocation_size_mb=1024:allocator_may_return_null=1" \
    expect_exit 2 "$CAPE" info "$TMP/layers.bin"
else
  (ulimit -v 1048576; expect_exit 2 "$CAPE" info "$TMP/layers.bin") || exit 1
  npass=$((npass + 1))
fi
expect_one_line_err; expect_err "layers.bin: truncated: the file is 64 bytes but its header .*4194304 layers.* implies [0-9]+ bytes"
cp "$S/llama2c/crash-oom-layers.bin" "$TMP/oom.bin"
expect_exit 2 "$CAPE" info "$TMP/oom.bin"; expect_one_line_err; expect_err "oom.bin: truncated"
done_ok
