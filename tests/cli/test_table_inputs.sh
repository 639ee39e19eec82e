#!/usr/bin/env bash
# Score tables as users have them: fractions, no family column, small
# families, same-size models, tabs and semicolons, names that are not UTF-8.
source "$(dirname "$0")/lib.sh"

P=data/benchmarks/paper

# ---- scores as fractions give the same diagnosis as the percent table -------
# set_b_14: columns 4-8 are scores, 9 is the loss; pythia_set_a: 5-9 are scores
mkdir -p "$TMP/frac"
awk -F, -v OFS=, 'NR > 1 { for (i = 4; i <= 8; i++) $i = $i / 100 } { print }' \
  $P/set_b_14.csv >"$TMP/frac/set_b_14.csv"
awk -F, -v OFS=, 'NR > 1 { for (i = 5; i <= 9; i++) $i = $i / 100 } { print }' \
  $P/pythia_set_a.csv >"$TMP/frac/pythia_set_a.csv"
for pair in "$P/set_b_14.csv:$TMP/frac/set_b_14.csv" "$P/pythia_set_a.csv:$TMP/frac/pythia_set_a.csv"; do
  pct=${pair%%:*} frac=${pair#*:}
  expect_exit 0 "$CAPE" diagnose --json --boot 500 "$pct"; cp "$TMP/out" "$TMP/pct.json"
  expect_exit 0 "$CAPE" diagnose --json --boot 500 "$frac"; cp "$TMP/out" "$TMP/frac.json"
  expect_err "scores read as fractions and multiplied by 100 \(hellaswag, truthfulqa_mc2, arc, winogrande, mmlu\)"
  python3 - "$TMP/pct.json" "$TMP/frac.json" <<'PY' || die "fraction table differs from the percent table"
import json, math, sys
a, b = (json.load(open(p))["tables"][0] for p in sys.argv[1:])
def close(x, y):
    return (x is None and y is None) or abs(x - y) <= 1e-9 * max(1, abs(x))
assert b["input"]["scaled_from_fractions"] and not a["input"]["scaled_from_fractions"]
assert len(a["families"]) == len(b["families"]) > 0
for fa, fb in zip(a["families"], b["families"]):
    ga = [s["gamma12"] for s in fa["steps"]]; gb = [s["gamma12"] for s in fb["steps"]]
    assert all(close(x, y) for x, y in zip(ga, gb)) and len(ga) == len(gb), (ga, gb)
    assert [s["skipped"] for s in fa["steps"]] == [s["skipped"] for s in fb["steps"]]
    assert [m["phase"] for m in fa["models"]] == [m["phase"] for m in fb["models"]]
    assert "unknown" not in [m["phase"] for m in fb["models"]]
    assert fa["critical_scale"]["found"] == fb["critical_scale"]["found"]
    assert close(fa["critical_scale"]["params"], fb["critical_scale"]["params"])
ua, ub = a["ucurve"], b["ucurve"]
assert ua["estimable"] == ub["estimable"]
if ua["estimable"]:
    assert ua["bootstrap"]["valid"] == ub["bootstrap"]["valid"]
    assert close(ua["bootstrap"]["median"], ub["bootstrap"]["median"])
for la, lb in zip(a["loss_law"], b["loss_law"]):
    assert close(la["alpha"], lb["alpha"])
PY
  npass=$((npass + 1))
done
# --scale fraction on a percent table is refused; --scale percent keeps fractions as they are
expect_exit 2 "$CAPE" diagnose --scale fraction $P/set_b_14.csv
expect_one_line_err
expect_err "set_b_14.csv:2:4: column 'hellaswag': --scale fraction expects scores in \[0, 1\], got '27.29'"
expect_exit 2 "$CAPE" diagnose --scale percents $P/set_b_14.csv
expect_err "--scale expects percent, fraction or auto"
expect_exit 0 "$CAPE" diagnose --scale percent --boot 0 "$TMP/frac/pythia_set_a.csv"
expect_out 'Pearson r = -0\.9886'
grep -q 'fractions' "$TMP/err" && die "--scale percent still converted"
# the other commands read fractions too
expect_exit 0 "$CAPE" ode "$TMP/frac/pythia_set_a.csv"
cp "$TMP/out" "$TMP/ode_frac"
expect_exit 0 "$CAPE" ode $P/pythia_set_a.csv
diff <(tail -n +2 "$TMP/ode_frac") <(tail -n +2 "$TMP/out") >/dev/null || die "ode differs on fractions"
npass=$((npass + 1))
expect_exit 0 "$CAPE" eigen --boot 50 "$TMP/frac/pythia_set_a.csv"
expect_out '4\.0954'
# advise: --hs/--tqa as fractions give the same advice as points
expect_exit 0 "$CAPE" advise --model mine --size 1.4B --hs 52.0 --tqa 38.7 --sibling 410M:40.9:41.2
cp "$TMP/out" "$TMP/adv_pct"
expect_exit 0 "$CAPE" advise --model mine --size 1.4B --hs 0.52 --tqa 0.387 --sibling 410M:0.409:0.412
expect_err 'fractions: multiplied by 100'
diff "$TMP/adv_pct" "$TMP/out" >/dev/null || die "advise differs on fractions"
npass=$((npass + 1))
expect_exit 2 "$CAPE" advise --model mine --size 1.4B --hs 52 --tqa 38 --scale fraction
expect_one_line_err
expect_exit 2 "$CAPE" advise --model mine --size 1 --hs 52 --tqa 38
expect_one_line_err
expect_err "--size '1' has no unit"

# ---- no family column: families from the model names ------------------------
cut -d, -f1,3- data/benchmarks/base_models.csv >"$TMP/nofam.csv"
expect_exit 0 "$CAPE" diagnose --boot 0 "$TMP/nofam.csv"
expect_err 'no family column; [0-9]+ families inferred from the model names: pythia-deduped \(8\), pythia \(5\), opt \(8\)'
expect_out '^family pythia-deduped \(8 models\)'
expect_out '^family bloom \(6 models\)'
expect_out '^family llama-2 \(3 models\)'
expect_exit 0 "$CAPE" diagnose --json --boot 0 "$TMP/nofam.csv"
python3 - "$TMP/out" data/benchmarks/base_models.csv <<'PY' || die "inferred families mix model lines"
import csv, json, sys
t = json.load(open(sys.argv[1]))["tables"][0]
orig = {r["model"]: r["family"] for r in csv.DictReader(open(sys.argv[2]))}
inferred = t["input"]["families_from_names"]
assert inferred["pythia-deduped"] == 8 and inferred["opt"] == 8 and inferred["qwen2.5"] == 7
assert len(t["families"]) > 10
for f in t["families"]:
    # every step joins two models of one original family
    fams = {orig[m["model"]] for m in f["models"]}
    assert len(fams) == 1, (f["name"], fams)
    for s in f["steps"]:
        assert orig[s["from"]] == orig[s["to"]]
PY
npass=$((npass + 1))
expect_exit 0 "$CAPE" diagnose --boot 0 --family-from-name off "$TMP/nofam.csv"
expect_out '^family all \('
expect_exit 2 "$CAPE" diagnose --family-from-name maybe "$TMP/nofam.csv"
expect_one_line_err

# ---- small families are skipped and named; --strict refuses them ------------
cat >"$TMP/small.csv" <<'CSV'
model,family,params,hellaswag,truthfulqa
a1,A,1B,30,40
a2,A,2B,35,38
a3,A,4B,40,35
b1,B,1B,31,41
c1,C,1B,29,42
c2,C,3B,33,40
CSV
expect_exit 0 "$CAPE" diagnose --boot 0 "$TMP/small.csv"
expect_out '^family A \(3 models\)'
expect_err 'skipped families with fewer than 3 models: B \(1\), C \(2\)'
expect_exit 0 "$CAPE" diagnose --boot 0 --skip-small --json "$TMP/small.csv"
python3 -c 'import json,sys; t=json.load(open(sys.argv[1]))["tables"][0]; assert t["skipped_families"]==[{"family":"B","models":1},{"family":"C","models":2}]' "$TMP/out" || die "skipped families not in JSON"
npass=$((npass + 1))
expect_exit 2 "$CAPE" diagnose --strict "$TMP/small.csv"
expect_one_line_err
expect_err "small.csv:5:1: family 'B' has 1 model with both scores"

# ---- same-size models: one point, never a coupling between two of one size --
expect_exit 0 "$CAPE" diagnose --json --boot 0 data/benchmarks/base_models.csv --family olmo
python3 - "$TMP/out" <<'PY' || die "same-size rule"
import json, sys
f = json.load(open(sys.argv[1]))["tables"][0]["families"][0]
m = {x["model"]: x for x in f["models"]}
assert f["name"] == "OLMo" and f["sizes"] == 2 and f["models_sharing_a_size"] == 2
for s in f["steps"]:
    assert m[s["from"]]["params"] != m[s["to"]]["params"]
# OLMo 1B -> mean of the two 7B models: HS (77.31 + 78.65) / 2, TQA (35.93 + 35.91) / 2
g = ((35.93 + 35.91) / 2 - 32.95) / ((77.31 + 78.65) / 2 - 63.64)
assert abs(f["steps"][0]["gamma12"] - g) < 1e-9, (f["steps"], g)
PY
npass=$((npass + 1))
expect_exit 0 "$CAPE" diagnose --boot 0 data/benchmarks/base_models.csv --family olmo
expect_out '2 models share a size with another: their scores are averaged'

# ---- Spearman p at |rho| = 1 is the exact permutation p, not 0 --------------
printf 'model,family,params,hellaswag,truthfulqa\na,F,1B,30,40\nb,F,2B,35,38\nc,F,4B,40,35\nd,F,8B,45,30\n' >"$TMP/mono.csv"
expect_exit 0 "$CAPE" diagnose --boot 0 "$TMP/mono.csv"
expect_out 'Spearman rho = -1\.0000 \(p = 0\.0833\)'

# ---- --family, sizes --------------------------------------------------------
expect_exit 0 "$CAPE" diagnose --boot 0 data/benchmarks/base_models.csv --family bloom --max-size 7.1B
expect_out 'width-normalised r: -0\.9835 -> \+0\.9953'
expect_exit 2 "$CAPE" diagnose data/benchmarks/base_models.csv --family nope
expect_one_line_err
expect_err "no family 'nope' \(families: Pythia-deduped, Pythia, OPT, "
expect_exit 0 "$CAPE" advise --model x --size 300M --hs 40.9 --tqa 41.2 --family pythia-DEDUPED
expect_out 'family pythia-DEDUPED: 9 models with scores'
expect_exit 2 "$CAPE" diagnose --min-size 7B --max-size 1B data/benchmarks/base_models.csv
expect_one_line_err
expect_err '--min-size is larger than --max-size'

# ---- tabs and semicolons; rows left out are counted in text too -------------
cat >"$TMP/mine.csv" <<'CSV'
model,family,params,hellaswag,truthfulqa
m-small,Mine,0.41B,40.1,41.0
m-mid,Mine,1.4B,52.0,38.7
m-big,Mine,6.9B,64.0,33.0
m-huge,Mine,12B,67.3,35.0
m-nohs,Mine,20B,,36.0
CSV
expect_exit 0 "$CAPE" diagnose --boot 0 "$TMP/mine.csv"
cp "$TMP/out" "$TMP/comma.out"
expect_out '^1 row left out: no size or no score for one of the two benchmarks'
tr ',' '\t' <"$TMP/mine.csv" >"$TMP/mine.tsv"
tr ',' ';' <"$TMP/mine.csv" >"$TMP/mine.ssv"
for f in mine.tsv mine.ssv; do
  expect_exit 0 "$CAPE" diagnose --boot 0 "$TMP/$f"
  diff <(tail -n +2 "$TMP/comma.out") <(tail -n +2 "$TMP/out") >/dev/null || die "$f differs from the CSV"
  npass=$((npass + 1))
done
expect_exit 0 "$CAPE" diagnose --boot 0 --sep tab "$TMP/mine.tsv"
expect_out 'N_c = '
expect_exit 2 "$CAPE" diagnose --sep comma "$TMP/mine.tsv"
expect_one_line_err
expect_err 'looks tab-separated: use --sep tab'
expect_exit 2 "$CAPE" diagnose --sep pipe "$TMP/mine.tsv"
expect_err '--sep expects comma, tab or semicolon'
expect_exit 0 "$CAPE" eigen --bench hs,tqa --boot 0 "$TMP/mine.ssv"

# ---- a model name that is not UTF-8 keeps its key in JSON -------------------
printf 'model,family,params,hellaswag,truthfulqa\nm\xffx,F,1B,30,40\nb,F,2B,35,38\nc,F,4B,40,35\n' >"$TMP/latin.csv"
expect_exit 0 "$CAPE" diagnose --json --boot 0 "$TMP/latin.csv"
python3 -c '
import json, sys
f = json.load(open(sys.argv[1]))["tables"][0]["families"][0]
assert [m["model"] for m in f["models"]] == ["m\ufffdx", "b", "c"], f["models"]
assert f["steps"][0]["from"] == "m\ufffdx"' "$TMP/out" || die "non-UTF-8 name dropped"
npass=$((npass + 1))
done_ok
