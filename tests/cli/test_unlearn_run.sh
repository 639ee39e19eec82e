#!/usr/bin/env bash
# cape unlearn run: every method raises the forget authors' answer loss more
# than the retained authors'; a run stopped (or killed) and resumed writes
# the same model as an uninterrupted one; the output keeps the model's
# metadata (sinks, sources, tokenizer) so run / forget --eval / info load
# it; bad input is one line, exit 2, and no OUT.gguf.
source "$(dirname "$0")/lib.sh"
T=../shared/data/tofu

# a TOFU directory of the first 20 authors (forget10 = the last 2 of them)
mkdir -p "$TMP/tofu"
python3 - "$T/full.json" "$TMP/tofu/full.json" <<'EOF'
import json, sys
rows = []
for line in open(sys.argv[1]):
    if line.strip():
        rows += json.loads(line)
open(sys.argv[2], "w").write(json.dumps(rows[:400]) + "\n")
EOF
cp "$T/idontknow.jsonl" "$TMP/tofu/"

expect_exit 0 "$CAPE" train --tofu "$TMP/tofu" --dim 32 --layers 2 --heads 2 --hidden 96 --ctx 96 \
  --vocab 300 --batch 8 --steps 200 --lr 8e-3 --min-lr 8e-4 --threads 1 --quiet --val-frac 0 \
  -o "$TMP/m"
M=$TMP/m/model.gguf
U=("$CAPE" unlearn run --tofu "$TMP/tofu" --forget forget10 --lr 3e-3 --epochs 2 --batch 4 --accum 2
   --eval-retain 60 --threads 1)

# every method: forget loss rises by more than the retain loss does
for m in ga graddiff npo simnpo rmu idkdpo; do
  expect_exit 0 "${U[@]}" "$M" --method $m -o "$TMP/$m.gguf" --json
  python3 - "$TMP/out" $m <<'EOF' || die "$m: forget loss did not rise relative to retain"
import json, sys
d = json.load(open(sys.argv[1]))
e = d["epochs"]
assert d["method"] == sys.argv[2] and len(e) == 3 and d["forget_items"] == 40, d
df = e[-1]["forget_loss"] - e[0]["forget_loss"]
dr = e[-1]["retain_loss"] - e[0]["retain_loss"]
print(sys.argv[2], "forget +%.3f, retain %+.3f" % (df, dr))
assert df > 0.03 and df > dr + 0.03, (df, dr)
EOF
  [ -f "$TMP/$m.gguf" ] || die "$m wrote no model"
  [ -e "$TMP/$m.gguf.ckpt" ] && die "$m left its checkpoint directory"
done
# the text summary: a table of epochs and one line
expect_exit 0 "${U[@]}" "$M" --method graddiff -o "$TMP/gd2.gguf"
expect_out '^epoch +forget_loss +retain_loss +train_loss$'
expect_out '^ +2 +[0-9.]+ +[0-9.]+ +-?[0-9.]+$'
expect_out "^wrote .*gd2.gguf: graddiff on forget10 \(40 forget, [0-9]+ retain items\), 10 steps"
cmp -s "$TMP/gd2.gguf" "$TMP/graddiff.gguf" || die "two identical runs differ"
# the KL retain variant and option checks
expect_exit 0 "${U[@]}" "$M" --method graddiff --retain-loss kl -o "$TMP/gdkl.gguf"
cmp -s "$TMP/gdkl.gguf" "$TMP/graddiff.gguf" && die "--retain-loss kl changed nothing"

# the output is a model like its input: it loads and evaluates
expect_exit 0 "$CAPE" forget "$TMP/npo.gguf" --eval --tofu "$TMP/tofu" --source tofu-020
expect_out '^tofu-020 +20 +[0-9.]+$'
expect_exit 0 "$CAPE" run "$TMP/npo.gguf" -p "Question: Who is" -n 3 --temp 0

# resume: stopped after step 3, continued, equals the uninterrupted run
expect_exit 0 "${U[@]}" "$M" --method npo -o "$TMP/r.gguf" --stop-after 3
expect_err 'stopped after step 3 of 10; the checkpoint is in .*r.gguf.ckpt, continue with --resume'
[ -e "$TMP/r.gguf" ] && die "a stopped run wrote its output"
ls "$TMP/r.gguf.ckpt"/ckpt-00000003.gguf >/dev/null || die "no checkpoint at step 3"
expect_exit 2 "${U[@]}" "$M" --method npo -o "$TMP/r.gguf"; expect_one_line_err
expect_err 'holds a checkpoint of an earlier run: continue it with --resume'
expect_exit 2 "${U[@]}" "$M" --method npo --beta 0.2 -o "$TMP/r.gguf" --resume; expect_one_line_err
expect_err 'was written for another model, method, data or settings'
expect_exit 0 "${U[@]}" "$M" --method npo -o "$TMP/r.gguf" --resume --json
cmp -s "$TMP/r.gguf" "$TMP/npo.gguf" || die "stop + resume differs from an uninterrupted run"
cp "$TMP/out" "$TMP/resumed.json"
expect_exit 0 "${U[@]}" "$M" --method npo -o "$TMP/npo2.gguf" --json
python3 -c "
import json
a, b = json.load(open('$TMP/resumed.json')), json.load(open('$TMP/out'))
assert a['epochs'] == b['epochs'], (a['epochs'], b['epochs'])" || die "resumed losses differ"

# wait_ckpt DIR N: until DIR holds a checkpoint of step N or later (only the
# newest is kept, so a poll for step N itself can miss it on a busy machine)
wait_ckpt() {
  local n
  for _ in $(seq 1 600); do
    n=$(ls "$1" 2>/dev/null | sed -n 's/^ckpt-0*\([0-9][0-9]*\)\.gguf$/\1/p' | sort -n | tail -n 1)
    [ "${n:-0}" -ge "$2" ] && return 0
    sleep 0.05
  done
}

# killed hard (SIGKILL) after a checkpoint, resumed: the same model
"${U[@]}" "$M" --method idkdpo --epochs 8 --ckpt-every 1 -o "$TMP/k.gguf" >/dev/null 2>&1 &
pid=$!
wait_ckpt "$TMP/k.gguf.ckpt" 4
kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
[ -e "$TMP/k.gguf" ] && die "the run ended before it could be killed"
expect_exit 0 "${U[@]}" "$M" --method idkdpo --epochs 8 --ckpt-every 1 -o "$TMP/k.gguf" --resume
expect_exit 0 "${U[@]}" "$M" --method idkdpo --epochs 8 -o "$TMP/k2.gguf"
cmp -s "$TMP/k.gguf" "$TMP/k2.gguf" || die "kill -9 + resume differs from an uninterrupted run"

# Ctrl-C: checkpoints the step in progress, exits 130; resumed, the same model
"${U[@]}" "$M" --method idkdpo --epochs 8 --ckpt-every 1 -o "$TMP/i.gguf" >/dev/null 2>"$TMP/ierr" &
pid=$!
wait_ckpt "$TMP/i.gguf.ckpt" 2
kill -INT $pid; wait $pid; code=$?
[ "$code" -eq 130 ] || die "SIGINT: exit $code, expected 130: $(cat "$TMP/ierr")"
grep -Eq 'stopped after step [0-9]+ of 40 \(SIGINT\); the checkpoint is in' "$TMP/ierr" || die "SIGINT: $(cat "$TMP/ierr")"
[ -e "$TMP/i.gguf" ] && die "an interrupted run wrote its output"
expect_exit 0 "${U[@]}" "$M" --method idkdpo --epochs 8 --ckpt-every 1 -o "$TMP/i.gguf" --resume
cmp -s "$TMP/i.gguf" "$TMP/k2.gguf" || die "SIGINT + resume differs from an uninterrupted run"

# a model with sinks: unlearned, it keeps sinks, sources and tokenizer
expect_exit 0 "$CAPE" train --tofu "$TMP/tofu" --dim 16 --layers 2 --heads 2 --hidden 32 --ctx 96 \
  --vocab 280 --batch 4 --steps 10 --threads 1 --quiet --sinks --p-gen 0.5 --sink-k 2 -o "$TMP/s"
expect_exit 0 "${U[@]}" "$TMP/s/model.gguf" --method rmu --epochs 1 -o "$TMP/s-rmu.gguf"
expect_exit 0 "$CAPE" info "$TMP/s-rmu.gguf"
expect_out '^sources +20: tofu-001, tofu-002'
expect_out '^sinks +p_gen 0.5, k 2 per source'
expect_exit 0 "$CAPE" forget "$TMP/s-rmu.gguf" --eval --tofu "$TMP/tofu" --source tofu-019
expect_out '^tofu-019 +20( +[0-9.]+){4}'
expect_exit 0 "$CAPE" run "$TMP/s-rmu.gguf" -p "Question: Who" -n 2 --temp 0 --source tofu-019
expect_exit 0 "$CAPE" tokenize "$TMP/s-rmu.gguf" -p "Question"
cp "$TMP/out" "$TMP/tok1"
expect_exit 0 "$CAPE" tokenize "$TMP/s/model.gguf" -p "Question"
cmp -s "$TMP/out" "$TMP/tok1" || die "the tokenizer changed"

# bad input: one line, exit 2, no output file
bad() { # bad REGEX ARGS...
  local re=$1; shift
  expect_exit 2 "$@" -o "$TMP/bad.gguf"; expect_one_line_err; expect_err "$re"
  [ -e "$TMP/bad.gguf" ] && die "a failed run left $TMP/bad.gguf"
  return 0
}
bad "unknown method 'gd'; the methods are ga, graddiff, npo, simnpo, rmu, idkdpo" "${U[@]}" "$M" --method gd
bad "--forget: 'forget02' is not forget01, forget05 or forget10" \
  "$CAPE" unlearn run "$M" --method ga --tofu "$TMP/tofu" --forget forget02
bad "--retain-split retain99 overlaps forget10" "${U[@]}" "$M" --method graddiff --retain-split retain99
bad "--retain-loss kl: ga has no NLL retain term" "${U[@]}" "$M" --method ga --retain-loss kl
bad "--layer: 5 is out of range \[0, 1\]" "${U[@]}" "$M" --method rmu --layer 5
bad "20 authors are too few for forget01" \
  "$CAPE" unlearn run "$M" --method ga --tofu "$TMP/tofu" --forget forget01
# a forget split that names no source of the (sink) model
printf '{"source": "alice", "text": "alice keeps a red box"}\n{"source": "bob", "text": "bob too"}\n' > "$TMP/c.jsonl"
expect_exit 0 "$CAPE" train --data "$TMP/c.jsonl" --dim 16 --layers 1 --heads 2 --hidden 32 --ctx 96 \
  --vocab 280 --batch 2 --steps 2 --threads 1 --quiet --sinks --p-gen 0.5 --sink-k 2 -o "$TMP/ab"
bad "forget10 names tofu-019, which is not a source of the model \(it has alice, bob" \
  "${U[@]}" "$TMP/ab/model.gguf" --method ga
# a model cape did not train; an architecture the trainer cannot fine-tune
bad "not a model written by cape train" \
  "${U[@]}" ../shared/data/models/stories260K/stories260K.gguf --method ga
python3 - "$M" "$TMP/mamba.gguf" <<'EOF'
import struct, sys
b = open(sys.argv[1], "rb").read()
old = b"general.architecture" + struct.pack("<IQ", 8, 5) + b"llama"
assert b.count(old) == 1
open(sys.argv[2], "wb").write(b.replace(old, old[:-5] + b"mamba"))
EOF
bad "architecture 'mamba' is not one cape trains \(llama, gpt2\)" "${U[@]}" "$TMP/mamba.gguf" --method npo
cp "$M" "$TMP/q8.gguf"; python3 tests/cli/gguf_patch.py "$TMP/q8.gguf" q8 blk.0.ffn_up.weight >/dev/null
bad "tensor 'blk.0.ffn_up.weight' has type Q8_0; cape reads only F32 checkpoints" \
  "${U[@]}" "$TMP/q8.gguf" --method ga
bad "full.json" "$CAPE" unlearn run "$M" --method ga --tofu "$TMP/nowhere" --forget forget10
expect_exit 2 "$CAPE" unlearn run "$M" --method ga --tofu "$TMP/tofu"; expect_one_line_err
expect_exit 2 "$CAPE" unlearn frobnicate; expect_one_line_err
expect_exit 0 "$CAPE" unlearn --help; expect_out '^  run +post-hoc unlearning'
done_ok
