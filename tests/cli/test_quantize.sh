# cape quantize: every type on stories260K (cape run loads each and continues
# the prompt sensibly), the same bytes for any thread count, bad input; and,
# when llama-cpp-python is installed, byte-for-byte agreement with llama.cpp's
# llama_model_quantize (tensor types chosen by the recipe and tensor data) on
# stories260K and on a random model with rows long enough for the K-quants,
# plus llama.cpp loading cape's outputs.
. "$(dirname "$0")/lib.sh"

S=../shared/data/models/stories260K/stories260K.gguf
PEER="python3 tests/cli/quantize_peer.py"
TYPES="q8_0 q4_0 q4_1 q5_0 q5_1 q2_k q3_k q4_k q5_k q6_k f16 bf16 f32"
# llama_ftype of each type (general.file_type)
ftype() { case $1 in q8_0) echo 7;; q4_0) echo 2;; q4_1) echo 3;; q5_0) echo 8;; q5_1) echo 9;;
  q2_k) echo 10;; q3_k) echo 12;; q4_k) echo 15;; q5_k) echo 17;; q6_k) echo 18;; f16) echo 1;;
  bf16) echo 32;; f32) echo 0;; esac; }

# the reference continuation of the f32 model
expect_exit 0 "$CAPE" run "$S" -p "Once upon a time" -n 24 --temp 0
cp "$TMP/out" "$TMP/ref.txt"
expect_out "^Once upon a time, there was"

for t in $TYPES; do
  expect_exit 0 "$CAPE" quantize "$S" "$TMP/s_$t.gguf" --type "$t" --threads 2
  expect_out "tensors: 48, "
  expect_exit 0 "$CAPE" info "$TMP/s_$t.gguf" --check
  expect_exit 0 "$CAPE" run "$TMP/s_$t.gguf" -p "Once upon a time" -n 24 --temp 0
  expect_out "^Once upon a time, there was a little"
  case $t in f16|bf16|f32|q8_0) # near-lossless types keep the greedy continuation
    cmp -s "$TMP/out" "$TMP/ref.txt" || die "$t: continuation differs from f32: $(cat "$TMP/out")"
    npass=$((npass + 1));;
  esac
done
# the 11 norms (2 per layer, 5 layers, and the final one) stay F32; the 5 ffn_down matrices
# (rows of 172) fall back to F16; rows of 64 take Q5_0 for Q4_K; the output projection
# takes Q8_0 (llama.cpp's rule for rows that are not a multiple of 256)
expect_exit 0 "$CAPE" quantize "$S" "$TMP/s_q4_k.gguf" --type q4_k
expect_out "types after:  F32 11, F16 5, Q5_0 29, Q8_0 3"
expect_out "36 tensor\\(s\\) fell back"
[ "$(stat -c %s "$TMP/s_q4_0.gguf")" -lt "$(stat -c %s "$S")" ] || die "q4_0 file not smaller"
npass=$((npass + 1))

# the bytes do not depend on the number of threads
expect_exit 0 "$CAPE" quantize "$S" "$TMP/t1.gguf" --type q4_k --threads 1
expect_exit 0 "$CAPE" quantize "$S" "$TMP/t3.gguf" --type q4_k --threads 3
cmp -s "$TMP/t1.gguf" "$TMP/t3.gguf" || die "q4_k output depends on the thread count"
cmp -s "$TMP/t1.gguf" "$TMP/s_q4_k.gguf" || die "q4_k output differs between runs"
npass=$((npass + 3))
# quantised input: dequantised, then requantised; a tensor already of its type is kept
expect_exit 0 "$CAPE" quantize "$TMP/s_q8_0.gguf" "$TMP/r_q4_0.gguf" --type q4_0
expect_exit 0 "$CAPE" quantize "$TMP/s_q8_0.gguf" "$TMP/r_q8_0.gguf" --type q8_0
expect_out "tensors: 48, 0 converted, 48 copied unchanged"
cmp -s "$TMP/r_q8_0.gguf" "$TMP/s_q8_0.gguf" || die "q8_0 -> q8_0 is not the identity"
npass=$((npass + 1))
expect_exit 0 "$CAPE" quantize "$S" "$TMP/keep.gguf" --type q4_0 --keep-output
expect_exit 0 "$CAPE" info "$TMP/keep.gguf" --json

# bad input: exit 2, one line, nothing left behind
mkdir "$TMP/bad"
expect_exit 2 "$CAPE" quantize "$S" "$TMP/bad/o.gguf" --type q7_0
expect_one_line_err
expect_err "unknown --type 'q7_0'"
expect_exit 2 "$CAPE" quantize "$S" "$TMP/bad/o.gguf"
expect_err "--type is required"
printf 'not a gguf file at all\n' > "$TMP/bad/text.gguf"
expect_exit 2 "$CAPE" quantize "$TMP/bad/text.gguf" "$TMP/bad/o.gguf" --type q8_0
expect_one_line_err
expect_exit 2 "$CAPE" quantize "$TMP/bad/missing.gguf" "$TMP/bad/o.gguf" --type q8_0
expect_one_line_err
cp "$S" "$TMP/bad/in.gguf"
expect_exit 2 "$CAPE" quantize "$TMP/bad/in.gguf" "$TMP/bad/in.gguf" --type q4_0
expect_one_line_err
expect_err "output is the input"
ln -s in.gguf "$TMP/bad/link.gguf"
expect_exit 2 "$CAPE" quantize "$TMP/bad/in.gguf" "$TMP/bad/link.gguf" --type q4_0
expect_one_line_err
cmp -s "$S" "$TMP/bad/in.gguf" || die "the input was modified"
rm "$TMP/bad/link.gguf"
mkdir "$TMP/bad/dir.gguf"
expect_exit 2 "$CAPE" quantize "$S" "$TMP/bad/dir.gguf" --type q4_0
expect_one_line_err
expect_err "not a regular file"
head -c 4000 "$S" > "$TMP/bad/cut.gguf"
expect_exit 2 "$CAPE" quantize "$TMP/bad/cut.gguf" "$TMP/bad/o.gguf" --type q4_0
expect_one_line_err
# a NaN weight cannot be quantised (llama.cpp fails its validation too); f16 carries it
cp "$S" "$TMP/bad/nan.gguf"
python3 tests/cli/gguf_patch.py "$TMP/bad/nan.gguf" tensor blk.1.attn_q.weight 8 0000c07f
expect_exit 2 "$CAPE" quantize "$TMP/bad/nan.gguf" "$TMP/bad/o.gguf" --type q4_k
expect_one_line_err
expect_err "blk.1.attn_q.weight row 0 holds NaN"
expect_exit 0 "$CAPE" quantize "$TMP/bad/nan.gguf" "$TMP/nan_f16.gguf" --type f16
# the input fuzz_quantize once crashed on (a NaN cast to int); its first byte picked the type
tail -c +2 tests/fuzz/seeds/quantize/crash-nan-q4_1.bin > "$TMP/bad/crash.gguf"
expect_exit 2 "$CAPE" quantize "$TMP/bad/crash.gguf" "$TMP/bad/o.gguf" --type q4_1
expect_one_line_err
expect_err "holds NaN or infinity"
# ... and on a tensor with no elements but a row of 2^57 (a scratch row was sized by it)
tail -c +2 tests/fuzz/seeds/quantize/crash-empty-huge-row.bin > "$TMP/empty.gguf"
expect_exit 0 "$CAPE" quantize "$TMP/empty.gguf" "$TMP/empty_q2_k.gguf" --type q2_k
expect_out "tensors: 6, 4 converted"
expect_exit 2 "$CAPE" quantize "$S" "$TMP/bad/o.gguf" --type q4_0 --threads 0
expect_exit 2 "$CAPE" quantize "$S" --type q4_0
left=$(ls "$TMP/bad" | grep -v -x -e text.gguf -e in.gguf -e dir.gguf -e cut.gguf -e nan.gguf -e crash.gguf || true)
[ -z "$left" ] || die "files left behind: $left"
npass=$((npass + 1))

# llama.cpp: same tensor types and bytes, and it loads cape's files
if python3 -c "import llama_cpp, gguf, numpy" 2>/dev/null; then
  for t in $TYPES; do
    $PEER quantize "$S" "$TMP/p_$t.gguf" "$(ftype "$t")" >/dev/null 2>&1 || die "llama.cpp quantize $t"
    $PEER compare "$TMP/p_$t.gguf" "$TMP/s_$t.gguf" >"$TMP/cmp" || die "$t differs from llama.cpp: $(head -5 "$TMP/cmp")"
    npass=$((npass + 1))
  done
  # requantising a quantised file
  $PEER quantize "$TMP/s_q8_0.gguf" "$TMP/p_r.gguf" 2 >/dev/null 2>&1 || die "llama.cpp requantize"
  $PEER compare "$TMP/p_r.gguf" "$TMP/r_q4_0.gguf" >"$TMP/cmp" || die "requantised q4_0 differs: $(head -5 "$TMP/cmp")"
  # K-quant recipes on rows of 256 and 512 (attn_v/ffn_down mixes, tied embedding -> Q6_K)
  $PEER synth "$S" "$TMP/syn.gguf" || die "synthetic model"
  for t in q2_k q3_k q4_k q5_k q6_k q4_1 q5_0; do
    expect_exit 0 "$CAPE" quantize "$TMP/syn.gguf" "$TMP/y_$t.gguf" --type "$t"
    $PEER quantize "$TMP/syn.gguf" "$TMP/yp_$t.gguf" "$(ftype "$t")" >/dev/null 2>&1 || die "llama.cpp quantize $t"
    $PEER compare "$TMP/yp_$t.gguf" "$TMP/y_$t.gguf" >"$TMP/cmp" || die "synthetic $t differs from llama.cpp: $(head -5 "$TMP/cmp")"
    npass=$((npass + 1))
  done
  grep -q "Q6_K" <(python3 -c "import gguf; print([t.tensor_type.name for t in gguf.GGUFReader('$TMP/y_q4_k.gguf').tensors if t.name=='token_embd.weight'])") \
    || die "tied embedding not Q6_K under q4_k"
  npass=$((npass + 1))
  # llama.cpp loads cape's q8_0, q4_0 and q4_k files; greedy continuations equal cape's
  for t in q8_0 q4_0 q4_k; do
    got=$($PEER greedy "$TMP/s_$t.gguf" "Once upon a time" 24 2>/dev/null) || die "llama.cpp cannot load cape's $t"
    expect_exit 0 "$CAPE" run "$TMP/s_$t.gguf" -p "Once upon a time" -n 24 --temp 0
    [ "Once upon a time$got" = "$(cat "$TMP/out")" ] || die "$t: llama.cpp '$got' vs cape '$(cat "$TMP/out")'"
    npass=$((npass + 1))
  done
else
  echo "   llama_cpp (llama-cpp-python) or gguf not installed: comparison with llama.cpp skipped"
fi
done_ok
