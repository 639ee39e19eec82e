#!/usr/bin/env bash
# cape probe / steer / run --steer end to end on stories260K.
source "$(dirname "$0")/lib.sh"
M=${CAPE_SHARED:-../shared}/data/models/stories260K/stories260K.gguf
CV=tests/ref/cv_happy_mean.gguf

expect_exit 0 "$CAPE" steer --help
expect_out 'cape steer build'
expect_exit 0 "$CAPE" probe --help

# llama.cpp's reference texts with its own control vector (runtime_peers notes)
expect_exit 0 "$CAPE" run "$M" -p "Once upon a time" -n 32 --temp 0 --steer $CV --scale -1 --layers 1-4
expect_out 'little boy named Timmy. Timmy loved to play with his toy cars. One day, Timmy went to the$'
expect_exit 0 "$CAPE" steer apply "$M" --cvec $CV --scale 3 --layers 3 -p "Once upon a time" -n 32 --temp 0
expect_out 'who loved to play in the park. She was very happy and pretend$'

# build from pairs, then use the file
expect_exit 0 "$CAPE" steer build "$M" --pos tests/ref/steer/happy.txt --neg tests/ref/steer/sad.txt --layer quarter -o "$TMP/cv.gguf"
expect_out 'block 1 \(quarter depth'
expect_exit 0 "$CAPE" steer build "$M" --pos tests/ref/steer/happy.txt --neg tests/ref/steer/sad.txt --all-layers --json -o "$TMP/all.gguf"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["paired"] and len(d["probe_accuracy"]) == 5' "$TMP/out" || die "build --json"
expect_exit 0 "$CAPE" steer apply "$M" --cvec "$TMP/cv.gguf" --scale 2 -p "Once upon a time" -n 8 --temp 0 --gate
expect_err 'gate: cosine'

# the default --layer probe never picks a block a control vector cannot hold: these
# sets differ only in their last token, so block 0 already separates them perfectly
for w in dog cat girl boy bird mom; do echo "The $w was happy"; done > "$TMP/p.txt"
for w in dog cat girl boy bird mom; do echo "The $w was sad"; done > "$TMP/n.txt"
expect_exit 0 "$CAPE" steer build "$M" --pos "$TMP/p.txt" --neg "$TMP/n.txt" -o "$TMP/p0.gguf"
expect_out '^ +0 +1\.000 .*[0-9]$'
expect_out '^block [1-4] \(held-out probe accuracy\)'
expect_exit 0 "$CAPE" steer apply "$M" --cvec "$TMP/p0.gguf" -p "Once" -n 2 --temp 0
expect_exit 2 "$CAPE" steer build "$M" --pos "$TMP/p.txt" --neg "$TMP/n.txt" --layer 0 -o "$TMP/x.gguf"
expect_one_line_err; expect_err 'blocks 1\.\.4'

# apply --json: one document with the continuations, text not streamed
expect_exit 0 "$CAPE" steer apply "$M" --cvec $CV --scale 3 --layers 3 -p "Once upon a time" -n 32 --temp 0 --compare --json
python3 - "$TMP/out" <<'PY' || die "apply --json"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["command"] == "steer apply" and d["layer_lo"] == 3 and d["scale"] == 3
assert d["steered"].endswith("who loved to play in the park. She was very happy and pretend"), d["steered"]
assert d["unsteered"] != d["steered"] and d["gate_cosine"] is None
PY
npass=$((npass + 1))
expect_exit 0 "$CAPE" steer apply "$M" --cvec $CV --scale 3 --layers 3 -p "Once" -n 4 --gate --json -o "$TMP/apply.json"
[ ! -s "$TMP/out" ] || die "apply --json -o wrote to stdout"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert -1 <= d["gate_cosine"] <= 1 and d["gate_strength"] in (0, 0.5, 1.5, 3)' "$TMP/apply.json" || die "apply --json -o"

# probe with heads, activations streamed to .npy
expect_exit 0 "$CAPE" probe "$M" --set-a tests/ref/steer/happy.txt --set-b tests/ref/steer/sad.txt --heads --out "$TMP/acts" --json
python3 - "$TMP/out" "$TMP/acts" <<'PY' || die "probe output"
import json, sys, os, struct
d = json.load(open(sys.argv[1]))
assert len(d["hidden"]) == 5 and d["heads"]["all"]["heads"] == 40
raw = open(os.path.join(sys.argv[2], "resid_L04.npy"), "rb").read()
hl = struct.unpack("<H", raw[8:10])[0]
assert b"'shape': (12, 64)" in raw[10:10 + hl] and len(raw) == 10 + hl + 12 * 64 * 4
PY
npass=$((npass + 1))
# shuffled labels: mean and 5th-95th percentile per coupling and for the probe
python3 - "$TMP/out" <<'PY' || die "probe shuffles"
import json, sys
s = json.load(open(sys.argv[1]))["shuffled_labels"]
assert s["shuffles"] == 20
for k in ("hidden", "normed", "output", "gelu", "head_net"):
    for m, lo, hi in zip(s[k]["mean"], s[k]["p05"], s[k]["p95"]):
        assert lo <= m + 1e-12 and m <= hi + 1e-12 and -1 <= lo and hi <= 1, k
PY
npass=$((npass + 1))
# one prompt per set: a shuffle keeps or swaps the two sets, and a cosine is
# symmetric, so chance must equal the coupling itself, exactly
head -1 tests/ref/steer/happy.txt > "$TMP/a1.txt"; head -1 tests/ref/steer/sad.txt > "$TMP/b1.txt"
expect_exit 0 "$CAPE" probe "$M" --set-a "$TMP/a1.txt" --set-b "$TMP/b1.txt" --heads --shuffles 7 --json
python3 - "$TMP/out" <<'PY' || die "probe shuffles, one prompt per set"
import json, sys
d = json.load(open(sys.argv[1])); s = d["shuffled_labels"]
for k in ("hidden", "normed", "output", "gelu"):
    for l, v in enumerate(d[k]):
        for q in ("mean", "p05", "p95"):
            assert abs(s[k][q][l] - v) < 1e-6, (k, l, q, s[k][q][l], v)
for l, lay in enumerate(d["heads"]["layers"]):
    assert abs(s["head_net"]["mean"][l] - lay["net"]) < 1e-6
PY
npass=$((npass + 1))
expect_exit 0 "$CAPE" probe "$M" --set-a tests/ref/steer/happy.txt --set-b tests/ref/steer/sad.txt
expect_out '^chance level: labels shuffled 20 times'
expect_exit 0 "$CAPE" probe "$M" --set-a tests/ref/steer/happy.txt --set-b tests/ref/steer/sad.txt --shuffles 0 --json
python3 -c 'import json,sys; assert json.load(open(sys.argv[1]))["shuffled_labels"] is None' "$TMP/out" || die "--shuffles 0"
# steer build: the probe's chance level beside its accuracy
expect_exit 0 "$CAPE" steer build "$M" --pos "$TMP/p.txt" --neg "$TMP/n.txt" --json -o "$TMP/p1.gguf"
python3 - "$TMP/out" <<'PY' || die "build shuffles"
import json, sys
d = json.load(open(sys.argv[1])); s = d["probe_accuracy_shuffled"]
assert d["probe_accuracy"][0] == 1.0 and s["shuffles"] == 20
assert all(0 <= lo <= m <= hi <= 1 for m, lo, hi in zip(s["mean"], s["p05"], s["p95"]))
assert s["mean"][0] < 0.9
PY
npass=$((npass + 1))
expect_exit 0 "$CAPE" steer build "$M" --pos "$TMP/p.txt" --neg "$TMP/n.txt" -o "$TMP/p1.gguf"
expect_out 'shuffled \[p95\]'

# TruthfulQA evaluation (tiny: plumbing, not a result)
expect_exit 0 "$CAPE" steer eval "$M" --cvec "$TMP/all.gguf" -c 1024 --limit 8 --scales 2,8 --layers 1 --changed 2 --svg "$TMP/s.svg" --json
python3 - "$TMP/out" <<'PY' || die "eval --json"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["best_on_test"]["steered"]["n"] == 4 and d["changed_continuations"]["prompts"] == 2
rc = d["random_control"]
assert rc["seed"] == 1 and len(rc["sweep_dev"]) == len(d["sweep_dev"]) == 2
# the control is chosen on dev by the same rule (MC2)
best = max(rc["sweep_dev"], key=lambda p: p["mc2"]["value"])
assert (rc["best_on_test"]["block"], rc["best_on_test"]["scale"]) == (best["block"], best["scale"])
# truth minus random, paired: the difference of the two steered runs' means
t, r, dd = d["best_on_test"]["steered"], rc["best_on_test"]["random"], rc["best_on_test"]["truth_minus_random"]
assert abs(dd["delta_mc2"]["value"] - (t["mc2"]["value"] - r["mc2"]["value"])) < 1e-9
assert abs(dd["delta_mc1"]["value"] - (t["mc1"]["value"] - r["mc1"]["value"])) < 1e-9
assert dd["mc2"]["value"] == t["mc2"]["value"]
assert rc["verdict"] in ("no_gain", "gain_not_beyond_random", "gain_beyond_random")
if not (t["delta_mc2"]["lo"] or 0) > 0: assert rc["verdict"] == "no_gain"
PY
npass=$((npass + 1))
grep -q '<svg' "$TMP/s.svg" || die "no figure"
grep -q 'random direction' "$TMP/s.svg" || die "no random-direction line in the figure"
cp "$TMP/out" "$TMP/eval1.json"
# another control seed draws another direction; --no-control skips it
expect_exit 0 "$CAPE" steer eval "$M" --cvec "$TMP/all.gguf" -c 1024 --limit 8 --scales 8 --layers 1 --changed 0 --control-seed 9 --json
python3 - "$TMP/out" "$TMP/eval1.json" <<'PY' || die "eval --control-seed"
import json, sys
a, b = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
ra = a["random_control"]["sweep_dev"][0]; rb = [p for p in b["random_control"]["sweep_dev"] if p["scale"] == 8][0]
ta = a["sweep_dev"][0]; tb = [p for p in b["sweep_dev"] if p["scale"] == 8][0]
assert ta["mc2"]["value"] == tb["mc2"]["value"] and ra["mc2"]["value"] != rb["mc2"]["value"]
PY
npass=$((npass + 1))
expect_exit 0 "$CAPE" steer eval "$M" --cvec "$TMP/all.gguf" -c 1024 --limit 8 --scales 2 --layers 1 --changed 0 --no-control
expect_out '^verdict: not judged'
if grep -Eq '^(control sweep|random \(|steered - random)' "$TMP/out"; then die "--no-control still ran the control"; fi
expect_exit 0 "$CAPE" steer eval "$M" --cvec $CV -c 1024 --limit 6 --scales 1 --layers 2 --changed 1
expect_out 'best on dev'
expect_out '^control sweep on dev: a random direction'
expect_out '^steered - random +dMC1'
expect_out '^verdict: '
if grep -Eiq '(^|[^a-z])(nan|inf)([^a-z]|$)' "$TMP/out"; then die "NaN printed as a number"; fi

# bad input: one line, exit 2
expect_exit 2 "$CAPE" steer apply "$M" --cvec $CV --layers 7 -p x; expect_one_line_err; expect_err 'out of range'
expect_exit 2 "$CAPE" steer apply "$M" --cvec "$TMP/missing.gguf" -p x; expect_one_line_err
printf 'GGUF\3\0\0\0' > "$TMP/trunc.gguf"
expect_exit 2 "$CAPE" run "$M" -p x --steer "$TMP/trunc.gguf"; expect_one_line_err
: > "$TMP/empty.txt"
expect_exit 2 "$CAPE" steer build "$M" --pos "$TMP/empty.txt" --neg tests/ref/steer/sad.txt -o "$TMP/x.gguf"; expect_err 'no prompts'
head -3 tests/ref/steer/sad.txt > "$TMP/three.txt"
expect_exit 2 "$CAPE" steer build "$M" --pos tests/ref/steer/happy.txt --neg "$TMP/three.txt" --method pca -o "$TMP/x.gguf"; expect_err 'as many positive as negative'
expect_exit 2 "$CAPE" steer build "$M" --pos tests/ref/steer/happy.txt --neg tests/ref/steer/sad.txt --layer 12 -o "$TMP/x.gguf"; expect_err 'out of range'
expect_exit 2 "$CAPE" steer frobnicate "$M"; expect_err 'unknown subcommand'
expect_exit 2 "$CAPE" probe "$M" --set-a tests/ref/steer/happy.txt; expect_err 'go together'
[ ! -e "$TMP/x.gguf" ] || die "a failed build left a file behind"
done_ok
