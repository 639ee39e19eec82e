#!/bin/bash
# Model files whose metadata or weights are nonsense: each is refused at load
# with one line naming the file (exit 2), never silently patched; `info
# --check` finds non-finite weights (exit 1).
. "$(dirname "$0")/lib.sh"
S=../shared/data/models/stories260K
G=$S/stories260K.gguf
P="python3 tests/cli/gguf_patch.py"

# llama2.c: the file size must be what the header implies (both sizes named)
cp "$S/tok512.bin" "$TMP/"
cp "$S/stories260K.bin" "$TMP/long.bin"; printf 'abcd' >> "$TMP/long.bin"
want=$(stat -c %s "$S/stories260K.bin")
expect_exit 2 "$CAPE" run "$TMP/long.bin" -p hi -n 1; expect_one_line_err
expect_err "long.bin: the file is $((want + 4)) bytes but its header .* implies $want bytes"
head -c $((want - 8)) "$S/stories260K.bin" > "$TMP/short.bin"
expect_exit 2 "$CAPE" info "$TMP/short.bin"; expect_one_line_err
expect_err "short.bin: truncated: the file is $((want - 8)) bytes .* implies $want bytes"
expect_exit 0 "$CAPE" info "$S/stories260K.bin"

# GGUF: a context length of 0, BOS/EOS ids outside the vocabulary
cp "$G" "$TMP/ctx0.gguf"; $P "$TMP/ctx0.gguf" kv llama.context_length 0
expect_exit 2 "$CAPE" info "$TMP/ctx0.gguf"; expect_one_line_err
expect_err "ctx0.gguf: metadata 'llama.context_length' = 0"
for k in bos eos; do
  cp "$G" "$TMP/$k.gguf"; $P "$TMP/$k.gguf" kv tokenizer.ggml.${k}_token_id 512
  expect_exit 2 "$CAPE" run "$TMP/$k.gguf" -p hi -n 1; expect_one_line_err
  expect_err "$k.gguf: metadata 'tokenizer.ggml.${k}_token_id' = 512 is not a token id \(the vocabulary has 512 tokens\)"
done
cp "$G" "$TMP/rope0.gguf"; $P "$TMP/rope0.gguf" kv llama.rope.dimension_count 0
expect_exit 2 "$CAPE" info "$TMP/rope0.gguf"; expect_one_line_err
expect_err "rope0.gguf: metadata 'llama.rope.dimension_count' = 0 is out of range"
cp "$G" "$TMP/eos511.gguf"; $P "$TMP/eos511.gguf" kv tokenizer.ggml.eos_token_id 511
expect_exit 0 "$CAPE" info "$TMP/eos511.gguf"; expect_out "eos 511"

# Hugging Face: sizes beyond 32 bits, a context of 0, a tokenizer larger than the model
hf() { rm -rf "$TMP/hf"; cp -r tests/ref/hf/llama "$TMP/hf"; }
setkey() { python3 -c "import json,sys; p=sys.argv[1]; c=json.load(open(p)); c[sys.argv[2]]=int(sys.argv[3]); json.dump(c,open(p,'w'))" "$TMP/hf/config.json" "$1" "$2"; }
hf; setkey hidden_size 4294967360
expect_exit 2 "$CAPE" info "$TMP/hf"; expect_one_line_err
expect_err "config.json: \"hidden_size\" = 4294967360 is out of range"
hf; setkey intermediate_size -5
expect_exit 2 "$CAPE" info "$TMP/hf"; expect_one_line_err; expect_err "\"intermediate_size\" = -5"
hf; setkey max_position_embeddings 0
expect_exit 2 "$CAPE" info "$TMP/hf"; expect_one_line_err
expect_err "config.json: \"max_position_embeddings\" = 0"
hf; python3 - "$TMP/hf/tokenizer.json" <<'PY'
import json, sys
p = sys.argv[1]; t = json.load(open(p)); v = t["model"]["vocab"]
for i in range(5):
    v["extra%d" % i] = len(v)
json.dump(t, open(p, "w"))
PY
expect_exit 2 "$CAPE" info "$TMP/hf"; expect_one_line_err
expect_err "hf/tokenizer.json: the tokenizer has 325 tokens but the model .*hf has a vocabulary of only 320"
hf; expect_exit 0 "$CAPE" info "$TMP/hf"

# malformed JSON: the file and line, never ":-1", no jansson internals
hf; printf '{"model_type": "llama",\n "hidden_size": \n' > "$TMP/hf/config.json"
expect_exit 2 "$CAPE" info "$TMP/hf"; expect_one_line_err; expect_err "config.json:3(:[0-9]+)?: unexpected"
hf; rm "$TMP/hf/config.json"
expect_exit 2 "$CAPE" info "$TMP/hf"; expect_one_line_err
expect_err "hf/config.json: No such file"
grep -q -- ':-1' "$TMP/err" && die "':-1' in $(cat "$TMP/err")"
hf; printf '{"version": "a\\u0000b", "model": {"type": "BPE", "vocab": {"a": 0}}}' > "$TMP/hf/tokenizer.json"
expect_exit 2 "$CAPE" info "$TMP/hf"; expect_one_line_err
expect_err 'tokenizer.json:1:[0-9]+: a string contains \\u0000 \(NUL\), which cape does not accept'
grep -q JSON_ALLOW_NUL "$TMP/err" && die "internal flag name in: $(cat "$TMP/err")"
printf '{"context": "a\\u0000", "continuation": "b"}\n' > "$TMP/nul.jsonl"
expect_exit 2 "$CAPE" score "$G" "$TMP/nul.jsonl"; expect_one_line_err
expect_err 'nul.jsonl:1:[0-9]+: a string contains \\u0000 \(NUL\)'

# info --check: every weight scanned for NaN/Inf (exit 1 on the first), the
# count of values checked against what the file holds
expect_exit 0 "$CAPE" info "$G" --check --json
n=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['check']['values_scanned'])" "$TMP/out")
[ "$n" = 292800 ] || die "values_scanned $n, expected 292800 (stories260K's weights)"
cp "$G" "$TMP/nan.gguf"; $P "$TMP/nan.gguf" tensor blk.2.ffn_up.weight 400 0000c07f
expect_exit 1 "$CAPE" info "$TMP/nan.gguf" --check
expect_out "check +FAILED: blk.2.ffn_up.weight element 100 \(row 1, column 36\) is NaN"
expect_err "nan.gguf has a non-finite weight"
expect_exit 0 "$CAPE" info "$TMP/nan.gguf"     # without --check the file is only described
cp "$G" "$TMP/inf.gguf"; $P "$TMP/inf.gguf" tensor output_norm.weight 8 000080ff
expect_exit 1 "$CAPE" info "$TMP/inf.gguf" --check --json
expect_out '"tensor": "output_norm.weight"'; expect_out '"element": 2,'; expect_out '"value": "-inf"'
# a quantised tensor (Q8_0): fine as stored, then with an infinite block scale
cp "$G" "$TMP/q8.gguf"; $P "$TMP/q8.gguf" q8 blk.1.attn_k.weight
expect_exit 0 "$CAPE" info "$TMP/q8.gguf" --check; expect_out "Q8_0"; expect_out "check +OK"
cp "$G" "$TMP/q8bad.gguf"; $P "$TMP/q8bad.gguf" q8 blk.1.attn_k.weight 007c
expect_exit 1 "$CAPE" info "$TMP/q8bad.gguf" --check
expect_out "FAILED: blk.1.attn_k.weight element 0 .* is (NaN|\+inf|-inf)"
done_ok
