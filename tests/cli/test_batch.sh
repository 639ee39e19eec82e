#!/usr/bin/env bash
# Batched decoding end to end: cape run --prompts (many prompts decoded
# together) gives each prompt what a run of it alone gives, greedy and
# sampled, in --exact mode; cape score gives the same numbers with and
# without --parallel; the f16 KV cache stays close to f32; bad input is
# refused with one line and exit 2.
source "$(dirname "$0")/lib.sh"
S=../shared/data/models/stories260K
G=$S/stories260K.gguf

cat > "$TMP/prompts.txt" <<'P'
Once upon a time
{"prompt": "Lily saw a big"}

The dog ran to the park and played with his
Tom
{"prompt": "She said \"hello\" to the"}
P
# one prompt alone, as cape run prints it (prompt + text), per line of the JSON output
alone() { # MODEL ARGS... < prompts: the single-run outputs, one per prompt, JSON-quoted
  local model=$1; shift
  python3 -c 'import json,sys
for l in open(sys.argv[1]):
    l=l.rstrip("\n")
    if not l: continue
    print(json.loads(l)["prompt"] if l.startswith("{") else l)' "$TMP/prompts.txt" > "$TMP/plist"
  : > "$TMP/alone"
  while IFS= read -r p; do
    "$CAPE" run "$model" -p "$p" "$@" > "$TMP/one" 2>/dev/null || die "single run of '$p' failed"
    python3 -c 'import json,sys; p=sys.argv[1].encode(); t=open(sys.argv[2],"rb").read()
assert t.startswith(p) and t.endswith(b"\n"), (p, t)
print(json.dumps(t[len(p):-1].decode("utf-8", "replace")))' "$p" "$TMP/one" >> "$TMP/alone"
  done < "$TMP/plist"
}
texts() { python3 -c 'import json,sys
for l in open(sys.argv[1]): print(json.dumps(json.loads(l)["text"]))' "$TMP/out"; }

for model in "$G" tests/ref/hf/gemma3; do
  for mode in "--temp 0" "--temp 1 --seed 7"; do
    alone "$model" -n 24 --exact $mode
    for B in 1 3 16; do
      expect_exit 0 "$CAPE" run "$model" --prompts "$TMP/prompts.txt" --parallel "$B" -n 24 --exact $mode
      texts > "$TMP/many"
      cmp -s "$TMP/alone" "$TMP/many" || die "$model $mode --parallel $B: texts differ from single runs: $(diff "$TMP/alone" "$TMP/many" | head -5)"
      npass=$((npass + 1))
    done
  done
done
expect_out '^\{"prompt":"She said \\"hello\\" to the","text":".*","n_prompt":[0-9]+,"n_tokens":[0-9]+,"stop":"(length|eos)"\}$'
[ "$(wc -l < "$TMP/out")" -eq 5 ] || die "expected 5 JSON lines"

# stopping: n 0, the context limit (as a single run with the same -c), stats
expect_exit 0 "$CAPE" run "$G" --prompts "$TMP/prompts.txt" -n 0
expect_out '"text":"","n_prompt":5,"n_tokens":0,"stop":"length"'
printf 'Once upon a time\n' > "$TMP/one.txt"
expect_exit 0 "$CAPE" run "$G" --prompts "$TMP/one.txt" -n 50 -c 12 --temp 0 --exact
expect_out '"n_prompt":5,"n_tokens":7,"stop":"context"'
texts > "$TMP/many"
expect_exit 0 "$CAPE" run "$G" -p "Once upon a time" -n 50 -c 12 --temp 0 --exact
expect_err "stopped at the context limit \(12 tokens\)"
python3 -c 'import json,sys; t=open(sys.argv[1]).read(); print(json.dumps(t[len("Once upon a time"):-1]))' "$TMP/out" > "$TMP/alone"
cmp -s "$TMP/alone" "$TMP/many" || die "context stop differs from a single run"
npass=$((npass + 1))
printf 'Once upon a time\n' | expect_exit 0 "$CAPE" run "$G" --prompts - -n 8 --stats
expect_err "1 prompts \(5 tokens\), 8 tokens generated in .* tok/s\), 1 at once"

# score: the same numbers with and without --parallel (exact), items with shared contexts
cat > "$TMP/items.jsonl" <<'J'
{"context": "Once upon a time", "continuation": ", there was a little girl"}
{"context": "Once upon a time", "continuation": ", there was a big dog"}
{"context": "Once upon a time", "continuation": " a cat"}
{"context": "Lily and Tom went to the", "continuation": " park"}
{"context": "Lily and Tom went to the", "continuation": " store to buy some milk"}
{"context": "The sun", "continuation": " was hot and the children played in the water all day"}
{"context": "The sun was", "continuation": ""}
J
for model in "$G" tests/ref/hf/gemma3 tests/ref/hf/gpt2; do
  expect_exit 0 "$CAPE" score "$model" "$TMP/items.jsonl" --exact --parallel 1; cp "$TMP/out" "$TMP/s1"
  for B in 2 4 8; do
    expect_exit 0 "$CAPE" score "$model" "$TMP/items.jsonl" --exact --parallel "$B" --json
    expect_exit 0 "$CAPE" score "$model" "$TMP/items.jsonl" --exact --parallel "$B"
    cmp -s "$TMP/s1" "$TMP/out" || die "$model: score --parallel $B differs: $(diff "$TMP/s1" "$TMP/out" | head -4)"
    npass=$((npass + 1))
  done
  # f16 KV cache: within 0.02 nats per item of f32
  expect_exit 0 "$CAPE" score "$model" "$TMP/items.jsonl" --kv f16 --parallel 3
  paste "$TMP/s1" "$TMP/out" | awk -F'\t' '{d = $1 - $4; if (d < 0) d = -d; if (d > 0.02 || $2 != $5) { print; exit 1 }}' \
    || die "$model: --kv f16 moved a score by more than 0.02"
  npass=$((npass + 1))
done
expect_exit 0 "$CAPE" run "$G" -p "Once upon a time" -n 16 --temp 0 --kv f16 --stats
expect_out "^Once upon a time, there was a little girl"
# the f16 cache takes half the bytes: 5 layers x 128 positions x 32 dims x 2 x 2 bytes
expect_err "KV cache 0\.1 MiB \(f16, 128 positions\)"
expect_exit 0 "$CAPE" run "$G" -p "Once upon a time" -n 4 --kv f16 --stats -c 4096
kv16=$(sed -n 's/.*KV cache \([0-9.]*\) MiB.*/\1/p' "$TMP/err")
expect_exit 0 "$CAPE" run "$G" -p "Once upon a time" -n 4 --kv f32 --stats -c 4096
kv32=$(sed -n 's/.*KV cache \([0-9.]*\) MiB.*/\1/p' "$TMP/err")
awk -v a="$kv16" -v b="$kv32" 'BEGIN { exit !(b > 0 && a * 2 == b) }' || die "f16 KV $kv16 MiB is not half of f32 $kv32 MiB"
npass=$((npass + 1))

# TruthfulQA MC1/MC2 under steering (every position, and from the last context token on):
# the same JSON with answers scored 1 and 4 at a time
for last in "" --last-only; do
  expect_exit 0 "$CAPE" steer eval "$G" --cvec tests/ref/cv_happy_mean.gguf -c 1024 --limit 8 --scales 2,8 \
    --layers 1 --changed 0 --no-control --exact --json $last --parallel 1
  cp "$TMP/out" "$TMP/e1"
  expect_exit 0 "$CAPE" steer eval "$G" --cvec tests/ref/cv_happy_mean.gguf -c 1024 --limit 8 --scales 2,8 \
    --layers 1 --changed 0 --no-control --exact --json $last --parallel 4
  cmp -s "$TMP/e1" "$TMP/out" || die "steer eval $last --parallel 4 differs from --parallel 1"
  npass=$((npass + 1))
done
expect_exit 2 "$CAPE" steer eval "$G" --cvec tests/ref/cv_happy_mean.gguf --parallel 0; expect_one_line_err

# bad input: one line, exit 2
expect_exit 2 "$CAPE" run "$G" --prompts "$TMP/prompts.txt" -p x; expect_one_line_err
expect_exit 2 "$CAPE" run "$G" --prompts "$TMP/nope.txt"; expect_one_line_err
printf 'fine\n{"text": "no prompt"}\n' > "$TMP/bad.txt"
expect_exit 2 "$CAPE" run "$G" --prompts "$TMP/bad.txt"; expect_one_line_err; expect_err "bad.txt:2"
printf '\n\n' > "$TMP/empty.txt"
expect_exit 2 "$CAPE" run "$G" --prompts "$TMP/empty.txt"; expect_one_line_err; expect_err "no prompts"
printf 'first\nsec\000ond\n' >"$TMP/nul.txt"
expect_exit 2 "$CAPE" run "$G" --prompts "$TMP/nul.txt"; expect_one_line_err; expect_err "nul.txt:2: a NUL byte"
expect_exit 2 "$CAPE" run "$G" --prompts - <"$TMP/nul.txt"; expect_one_line_err
expect_err "standard input:2: a NUL byte"
expect_exit 2 "$CAPE" run "$G" --prompts "$TMP/prompts.txt" --parallel 0; expect_one_line_err
expect_exit 2 "$CAPE" run "$G" --prompts "$TMP/prompts.txt" -c 4; expect_one_line_err; expect_err "prompt 1 has 5 tokens, the context only 4"
expect_exit 2 "$CAPE" run "$G" -p x --kv f8; expect_one_line_err; expect_err "f32 or f16"
expect_exit 2 "$CAPE" score "$G" "$TMP/items.jsonl" --parallel -1; expect_one_line_err
expect_exit 2 "$CAPE" score "$G" "$TMP/items.jsonl" --kv q8; expect_one_line_err
done_ok
