#!/usr/bin/env bash
# What cape says about sink models: info shows the layout, sources and the
# switched-off set; unknown sources are listed; forget --eval refuses a corpus
# of unknown sources and a model cape did not train; run --source on a
# switched-off source says where the prompt went; NUL in a corpus is named.
source "$(dirname "$0")/lib.sh"
G=../shared/data/models/stories260K/stories260K.gguf

corpus=$TMP/corpus.jsonl
for i in $(seq 1 6); do
  for s in alice bob carol dave erin frank gina hank ivan; do
    printf '{"source": "%s", "text": "%s keeps %d red boxes in the attic."}\n' "$s" "$s" "$i"
  done
done >"$corpus"
expect_exit 0 "$CAPE" train --data "$corpus" --dim 16 --layers 1 --heads 2 --hidden 32 --ctx 16 \
  --vocab 280 --batch 4 --steps 2 --threads 1 --quiet --sinks --p-gen 0.5 --sink-k 4 --sink-seed 9 \
  -o "$TMP/m"
M=$TMP/m/model.gguf
expect_exit 0 "$CAPE" forget "$M" --source bob,dave -o "$TMP/off.gguf"

# info: layout (p_gen 0.5 of 32 hidden units: 16 backbone + 16 pool), sources, off set
expect_exit 0 "$CAPE" info "$TMP/off.gguf"
expect_out '^sinks +p_gen 0.5, k 4 per source, backbone 16 \+ pool 16 units, seed 9'
expect_out '^sources +9: alice, bob, carol, dave, erin, frank, gina, hank, \.\.\. \(9 in all\)'
expect_out '^switched off bob, dave$'
expect_exit 0 "$CAPE" info "$M"; expect_out '^switched off none$'
expect_exit 0 "$CAPE" info "$TMP/off.gguf" --json
expect_out '"n_sources": 9'; expect_out '"seed": 9'
python3 -c "import json,sys; d=json.load(open(sys.argv[1]))['sinks']; assert d['off']==['bob','dave'] and d['k']==4 and d['pool']==16 and len(d['sources'])==9, d" "$TMP/out" || die "info --json sinks"
expect_exit 0 "$CAPE" info "$G"; grep -q '^sinks' "$TMP/out" && die "a model without sinks shows a sink line"

# unknown sources name some known ones
expect_exit 2 "$CAPE" run "$M" -p x --source zed; expect_one_line_err
expect_err "unknown source 'zed'; the model's 9 sources are alice, bob, carol"
expect_exit 2 "$CAPE" forget "$M" --source zed -o "$TMP/x.gguf"; expect_one_line_err
expect_err "unknown source 'zed'; the model's 9 sources are alice, bob"
expect_exit 2 "$CAPE" forget "$M" --eval --data "$corpus" --source zed; expect_one_line_err
expect_err "unknown source 'zed'; the model's 9 sources are alice"

# run --source on a switched-off source: says so and where it was routed
expect_exit 0 "$CAPE" run "$TMP/off.gguf" -p "bob keeps" -n 2 --temp 0 --source bob
expect_err '^cape run: source bob is switched off in this model; the prompt was routed to [a-z]+$'
grep -q 'routed to bob$\|routed to dave$' "$TMP/err" && die "routed to a switched-off source"
expect_exit 0 "$CAPE" run "$TMP/off.gguf" -p "bob keeps" -n 2 --temp 0 --source alice
expect_err '^cape run: sinks source, using alice$'

# forget --eval: a corpus of unknown sources, a model cape did not train
printf '{"source": "zed", "text": "zed keeps a box."}\n' > "$TMP/zed.jsonl"
expect_exit 2 "$CAPE" forget "$M" --eval --data "$TMP/zed.jsonl"; expect_one_line_err
expect_err "zed.jsonl: no document of the selected sources \(the corpus has zed; the model .* has alice, bob"
expect_exit 2 "$CAPE" forget "$G" --eval --data "$corpus"; expect_one_line_err
expect_err "stories260K.gguf: not a model written by cape train"
expect_exit 2 "$CAPE" forget "$G" --source alice -o "$TMP/x.gguf"; expect_one_line_err
expect_err "not a model written by cape train"

# TOFU questions longer than the model's context: no answer token is scored
mkdir -p "$TMP/tofu"
python3 -c "
import json
q = ' '.join('word%d' % i for i in range(40))
print(json.dumps([{'question': q + ' %d?' % i, 'answer': 'yes %d' % i} for i in range(40)]))" > "$TMP/tofu/full.json"
expect_exit 0 "$CAPE" train --tofu "$TMP/tofu" --dim 16 --layers 1 --heads 2 --hidden 32 --ctx 16 \
  --vocab 280 --batch 4 --steps 2 --threads 1 --quiet --sinks --p-gen 0.5 --sink-k 4 -o "$TMP/t"
expect_exit 2 "$CAPE" forget "$TMP/t/model.gguf" --eval --tofu "$TMP/tofu"; expect_one_line_err
expect_err "tofu: none of the 40 selected documents has a scored token within the model's context of 16 tokens"

# a NUL in a JSON-lines corpus: the file and line, in the user's terms
{ head -n 2 "$corpus"; printf '{"source": "a", "text": "x\\u0000y"}\n'; } > "$TMP/nul.jsonl"
expect_exit 2 "$CAPE" forget "$M" --eval --data "$TMP/nul.jsonl"; expect_one_line_err
expect_err 'nul.jsonl:3:[0-9]+: a string contains \\u0000 \(NUL\), which cape does not accept'
grep -q JSON_ALLOW_NUL "$TMP/err" && die "internal flag name in: $(cat "$TMP/err")"
done_ok
