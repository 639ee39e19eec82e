# cape forget --eval (the table of sink_eval_sources): one row per source with
# a document, in the model's source order; the mean row is the mean of the
# rows; the text and the JSON carry the same numbers; a source's losses do
# not depend on which other sources are evaluated or on the batch size; a
# model without sinks has one column (plain); TOFU scores the answer tokens.
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3

corpus=$TMP/corpus.jsonl
for i in $(seq 1 4); do
  for s in alice bob carol dave erin; do
    printf '{"source": "%s", "text": "%s keeps %d red boxes in the attic."}\n' "$s" "$s" "$i"
  done
done >"$corpus"
common="--dim 16 --layers 1 --heads 2 --hidden 32 --ctx 16 --vocab 280 --batch 4 --steps 2 --threads 1 --quiet"
expect_exit 0 "$CAPE" train --data "$corpus" $common --sinks --p-gen 0.5 --sink-k 4 --sink-seed 3 -o "$TMP/m"
expect_exit 0 "$CAPE" train --data "$corpus" $common -o "$TMP/p"
M=$TMP/m/model.gguf

expect_exit 0 "$CAPE" forget "$M" --eval --data "$corpus" --json; cp "$TMP/out" "$TMP/all.json"
expect_exit 0 "$CAPE" forget "$M" --eval --data "$corpus"; cp "$TMP/out" "$TMP/all.txt"
expect_exit 0 "$CAPE" forget "$M" --eval --data "$corpus" --source dave,bob --json; cp "$TMP/out" "$TMP/two.json"
expect_exit 0 "$CAPE" forget "$M" --eval --data "$corpus" --batch 1 --json; cp "$TMP/out" "$TMP/b1.json"
expect_exit 0 "$CAPE" forget "$TMP/p/model.gguf" --eval --data "$corpus" --json; cp "$TMP/out" "$TMP/plain.json"
"$PY" - "$TMP" <<'PY' || die "forget --eval tables"
import json, sys
d = sys.argv[1]
a = json.load(open(d + "/all.json"))
modes = ["source", "backbone", "all", "off"]
assert a["sinks"] is True and a["loss"] == "all tokens", a
assert [r["source"] for r in a["sources"]] == ["alice", "bob", "carol", "dave", "erin"], a["sources"]
assert all(r["docs"] == 4 and list(r["loss"]) == modes for r in a["sources"]), a["sources"]
for m in modes:
    mean = sum(r["loss"][m] for r in a["sources"]) / len(a["sources"])
    assert abs(mean - a["mean"][m]) < 1e-12, (m, mean, a["mean"][m])
# the text table: the same numbers to four decimals
rows = [l.split() for l in open(d + "/all.txt").read().splitlines()[1:]]
for r, t in zip(a["sources"], rows):
    assert t[0] == r["source"] and int(t[1]) == r["docs"], (r, t)
    assert [float(x) for x in t[2:6]] == [round(r["loss"][m], 4) for m in modes], (r, t)
    assert t[6] == r.get("off_routed_to", "-") and t[7].endswith("/4)"), (r, t)
assert rows[-1][:4] == ["mean", "over", "sources", "5"], rows[-1]
# selection and batch size do not change a source's numbers
two = json.load(open(d + "/two.json"))
assert [r["source"] for r in two["sources"]] == ["bob", "dave"], two
full = {r["source"]: r for r in a["sources"]}
# (to float rounding: another selection batches other rows together, and
# the matrix kernels a CPU's OpenBLAS picks may round such batches apart)
for r in two["sources"]:
    f = full[r["source"]]
    assert {k: v for k, v in r.items() if k != "loss"} == {k: v for k, v in f.items() if k != "loss"}, (r, f)
    assert list(r["loss"]) == list(f["loss"]), (r, f)
    for m in modes:
        assert abs(r["loss"][m] - f["loss"][m]) < 1e-6 * abs(f["loss"][m]), (r, f)
b1 = json.load(open(d + "/b1.json"))
for r, s in zip(b1["sources"], a["sources"]):
    for m in modes:
        assert abs(r["loss"][m] - s["loss"][m]) < 1e-5, (r, s)
p = json.load(open(d + "/plain.json"))
assert p["sinks"] is False and all(list(r["loss"]) == ["plain"] and "off_routed_to" not in r
                                   for r in p["sources"]), p
assert list(p["mean"]) == ["plain"] and len(p["sources"]) == 5, p
PY
npass=$((npass + 1))
expect_exit 0 "$CAPE" forget "$TMP/p/model.gguf" --eval --data "$corpus"
expect_out '^source +docs +plain$'

# TOFU: only the answer tokens are scored
mkdir -p "$TMP/tofu"
"$PY" -c "
import json
print(json.dumps([{'question': 'q%d what?' % i, 'answer': 'yes %d' % i} for i in range(8)]))" >"$TMP/tofu/full.json"
expect_exit 0 "$CAPE" train --tofu "$TMP/tofu" $common --sinks --p-gen 0.5 --sink-k 4 -o "$TMP/t"
expect_exit 0 "$CAPE" forget "$TMP/t/model.gguf" --eval --tofu "$TMP/tofu" --json
expect_out '"loss": "answer tokens"'
expect_out '"docs": 8'
done_ok
