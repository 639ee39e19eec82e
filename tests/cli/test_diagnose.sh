#!/usr/bin/env bash
# cape diagnose end to end: bundled run, the paper's tables, JSON, bad input.
source "$(dirname "$0")/lib.sh"

expect_exit 0 "$CAPE" --help
expect_out 'diagnose'
expect_exit 0 "$CAPE" diagnose --help
expect_out 'usage: cape diagnose'
expect_exit 0 "$CAPE" help diagnose
expect_exit 2 "$CAPE" nosuchcommand
expect_exit 2 "$CAPE"

# every bundled table, families too small to fit listed rather than failing
expect_exit 0 "$CAPE" diagnose
expect_out '^== data/benchmarks/base_models.csv'
expect_out '^== data/benchmarks/paper/set_b_14.csv'
expect_out 'skipped \(fewer than 3 models\)'
if grep -Eq '(^|[^a-z])(nan|inf)([^a-z]|$)' "$TMP/out"; then die "NaN or inf printed as a number"; fi

# the paper's numbers through the binary
expect_exit 0 "$CAPE" diagnose data/benchmarks/paper/pythia_set_a.csv
expect_out 'Pearson r = -0\.9886 \(p = 3\.65e-06\)'
expect_out 'permutation p = 4\.96e-05 \(2/40320, exact\)'
expect_out 'width-normalised r: -0\.9886 -> \+0\.9626'
expect_exit 0 "$CAPE" diagnose data/benchmarks/paper/set_b_14.csv
expect_out 'median 3\.49B, 68% \[3\.15B, 4\.33B\], 95% \[2\.92B, 13\.4B\], 9953 valid'
expect_out 'zero at 4\.73B; jackknife 4\.93B \+/- 3\.57B'
expect_out 'L = 1\.5332 \+ 153\.6 \* N\^-0\.23775'

# JSON: parses, carries the same numbers, NaN as null
expect_exit 0 "$CAPE" diagnose --json data/benchmarks/paper/set_b_14.csv
python3 - "$TMP/out" <<'PY' || die "JSON check failed"
import json, sys
d = json.load(open(sys.argv[1]))
t = d["tables"][0]
b = t["ucurve"]["bootstrap"]
assert b["valid"] == 9953, b
assert abs(b["median"] / 3.4939e9 - 1) < 1e-4, b
assert t["families"][0]["width_normalisation"]["r_normalised"] is None
assert abs(t["gamma_fit"]["zero_params"] / 4.731e9 - 1) < 1e-3
PY
npass=$((npass + 1))

# -o writes the file atomically and prints nothing
expect_exit 0 "$CAPE" diagnose --json -o "$TMP/d.json" data/benchmarks/paper/pythia_set_a.csv
[ -s "$TMP/d.json" ] && [ ! -s "$TMP/out" ] || die "-o did not write the file"
ls "$TMP" | grep -q 'tmp\.' && die "temporary file left behind"

# options
expect_exit 0 "$CAPE" diagnose data/benchmarks/base_models.csv --family BLOOM --max-size 7.1B
expect_out 'width-normalised r: -0\.9835 -> \+0\.9953'
expect_exit 0 "$CAPE" diagnose data/benchmarks/paper/pythia_set_a.csv --reasoning winogrande
expect_out 'Pearson r = -0\.9404'
expect_exit 0 "$CAPE" diagnose data/benchmarks/paper/set_b_14.csv --loss-alpha 0.238 --loss-e 1.533
expect_out 'mean 154\.39, SD 1\.30, CV 0\.84%'

# user tables with common column names and sizes with units
cat > "$TMP/mine.csv" <<'CSV'
Model,Family,#Params (B),HellaSwag (10-shot),TruthfulQA (0-shot)
m-small,Mine,0.41,40.1,41.0
m-mid,Mine,1.4,52.0,38.7
m-big,Mine,6.9,64.0,33.0
m-huge,Mine,12,67.3,35.0
CSV
expect_exit 0 "$CAPE" diagnose "$TMP/mine.csv"
expect_out 'N_c = '

# bad input: one line naming file:line:column, exit 2
bad() { printf '%b' "$2" > "$TMP/bad.csv"; expect_exit 2 "$CAPE" diagnose "$TMP/bad.csv"; expect_one_line_err; expect_err "$1"; }
bad 'bad.csv:3:3: column .hellaswag.: expected a number' 'model,params,hellaswag,truthfulqa\na,1B,30,40\nb,2B,x,40\n'
bad 'bad.csv:1:3: unknown column .foo.' 'model,params,foo\na,1B,3\n'
bad 'bad.csv:1:4: column .hs. duplicates' 'model,params,hellaswag,hs\na,1B,3,4\n'
bad 'bad.csv:2:2: column .params.: size must be positive' 'model,params,hellaswag,truthfulqa\na,0,3,4\n'
bad 'bad.csv:2:4: column .truthfulqa.: expected a number' 'model,params,hellaswag,truthfulqa\na,1B,3,NaN\n'
bad 'bad.csv:3:1: model .a. already appears on line 2' 'model,params,hellaswag,truthfulqa\na,1B,3,4\na,2B,5,6\n'
bad 'bad.csv: no family has at least 3 models with both scores and a size \(families: F \(2\)' 'model,family,params,hellaswag,truthfulqa\na,F,1B,30,40\nb,F,2B,35,38\n'
bad 'bad.csv:1:1: empty file' ''
bad 'bad.csv:2:1: expected 4 fields' 'model,params,hellaswag,truthfulqa\na,1B,3\n'
bad 'bad.csv:2:3: unterminated quoted field' 'model,params,hellaswag,truthfulqa\na,"1B,3,4\n'
expect_exit 2 "$CAPE" diagnose "$TMP/missing.csv"; expect_one_line_err; expect_err 'missing.csv: cannot open'
expect_exit 2 "$CAPE" diagnose --boot x; expect_err '--boot expects an integer'
expect_exit 2 "$CAPE" diagnose --truth nonsense; expect_err 'unknown benchmark'
expect_exit 2 "$CAPE" diagnose --frobnicate; expect_err "unknown option '--frobnicate'"
done_ok
