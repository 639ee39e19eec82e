#!/usr/bin/env bash
# cape falsify end to end: text, --json schema, determinism, bad input.
source "$(dirname "$0")/lib.sh"
FAST=(--boot 2000 --sims 2000 --perms 2000 --width-draws 2000 --stability-boot 500)

expect_exit 0 "$CAPE" falsify --help
expect_out 'usage: cape falsify'
expect_exit 0 "$CAPE" --help
expect_out 'falsify'

# every bundled table: the paper's three and the leaderboard table, six sections each
expect_exit 0 "$CAPE" falsify "${FAST[@]}"
for t in paper/pythia_set_a paper/set_b_14 paper/paper_base_63 base_models; do
  expect_out "^== data/benchmarks/$t.csv"
done
for s in '^1\. is the transition just the TQA U-shape' '^2\. null model of independent trends' \
         '^3\. partial coupling' '^4\. robustness across benchmark pairs' '^5\. stability' \
         '^6\. width-normalisation null'; do
  [ "$(grep -Ec "$s" "$TMP/out")" -eq 4 ] || die "section /$s/ not printed once per table"
  npass=$((npass + 1))
done
if grep -Eq '(^|[^a-z])(nan|inf)([^a-z]|$)' "$TMP/out"; then die "NaN or inf printed as a number"; fi

# set B: the published N_c is TQA's vertex; the pooled gamma12 line gives 4.73B as diagnose does
expect_exit 0 "$CAPE" falsify "${FAST[@]}" --boot 10000 data/benchmarks/paper/set_b_14.csv
expect_out 'pooled \(gamma12 line\) +14 +4\.73B +3\.43B'
expect_out 'HS-TQA .*3\.43B 3\.49B \[2\.92B, 13\.4B\] +9953'
expect_out 'HS-WG \(control\)'
expect_out 'pooled vertex 3\.43B inside the published \[2\.9B, 13\.4B\]'
# set A: the width normalisation r of diagnose, and its null
expect_exit 0 "$CAPE" falsify "${FAST[@]}" data/benchmarks/paper/pythia_set_a.csv
expect_out 'pythia +8 +-0\.989 +\+0\.963'
expect_out 'below N_c = 3\.49B \(published\): r = -0\.9863 over 6 points'

# JSON: the documented keys, NaN as null, the same numbers as the text
expect_exit 0 "$CAPE" falsify --json "${FAST[@]}" --boot 10000 data/benchmarks/paper/set_b_14.csv \
  data/benchmarks/base_models.csv
python3 - "$TMP/out" <<'PY' || die "JSON check failed"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["command"] == "falsify" and d["options"]["seed"] == 42, d["options"]
assert len(d["tables"]) == 2
for t in d["tables"]:
    for k in ("families", "pooled_ushape", "null_model", "pooled_partial", "pairs", "stability"):
        assert k in t, k
    for f in t["families"]:
        assert set(f) == {"name", "points", "ushape", "null", "partial", "width_null"}, f.keys()
        assert f["ushape"]["coincide"] in (None, True, False)
    nm = t["null_model"]
    for k in ("p_flips", "p_r_below", "p_vertex_in_interval"):
        assert nm[k] is None or 0 <= nm[k] <= 1, (k, nm[k])
    assert [p["negative_control"] for p in t["pairs"]].count(True) == 1
b = d["tables"][0]
assert abs(b["pooled_ushape"]["nc_gamma"] / 4.731e9 - 1) < 1e-3, b["pooled_ushape"]
assert b["pairs"][0]["valid"] == 9953, b["pairs"][0]
assert abs(b["pairs"][0]["nc_median"] / 3.4939e9 - 1) < 1e-4, b["pairs"][0]
assert b["families"][0]["width_null"] is None          # set B has no d_model
assert b["families"][1]["partial"][0]["r"] is None     # Llama-1: 3 sizes, too few
lb = d["tables"][1]
assert lb["table"] == "data/benchmarks/base_models.csv"
assert any(f["width_null"] for f in lb["families"])
PY
npass=$((npass + 1))

# a seed gives identical output; another seed moves the simulated numbers
"$CAPE" falsify --json "${FAST[@]}" data/benchmarks/paper/paper_base_63.csv > "$TMP/a.json"
"$CAPE" falsify --json "${FAST[@]}" data/benchmarks/paper/paper_base_63.csv > "$TMP/b.json"
"$CAPE" falsify --json "${FAST[@]}" --seed 43 data/benchmarks/paper/paper_base_63.csv > "$TMP/c.json"
cmp -s "$TMP/a.json" "$TMP/b.json" || die "same seed, different output"
cmp -s "$TMP/a.json" "$TMP/c.json" && die "another seed, same output"
npass=$((npass + 2))

# -o writes the file atomically and prints nothing
expect_exit 0 "$CAPE" falsify "${FAST[@]}" -o "$TMP/f.txt" data/benchmarks/paper/set_b_14.csv
[ -s "$TMP/f.txt" ] && [ ! -s "$TMP/out" ] || die "-o did not write the file"
grep -q '^6\. width' "$TMP/f.txt" || die "-o file lacks the last section"

# options
expect_exit 0 "$CAPE" falsify "${FAST[@]}" --nc 1B --published 1B,5B data/benchmarks/paper/set_b_14.csv
expect_out 'below N_c = 1B \(given\): r = .* over 3 points'
expect_out 'inside the published \[1B, 5B\]'
expect_exit 0 "$CAPE" falsify "${FAST[@]}" --family OPT,BLOOM data/benchmarks/base_models.csv
expect_out '2 points|in 2 families'

# the report carries the verdicts: set B's gamma12 N_c coincides with TQA's vertex
expect_exit 0 "$CAPE" report --html "$TMP/r.html" --boot 2000
grep -q 'Stress tests of the phase claim (cape falsify)' "$TMP/r.html" || die "report lacks the section"
grep -q 'N_c from the gamma12 line 4.73B, TQA vertex 3.43B; difference .*: coincide' "$TMP/r.html" ||
  die "report lacks set B's verdict"
grep -q 'pythia: -0.989 -&gt; +0.963, random factor' "$TMP/r.html" || die "report lacks the width null"
npass=$((npass + 3))

# bad input: one line, exit 2
bad() { printf '%b' "$2" > "$TMP/bad.csv"; expect_exit 2 "$CAPE" falsify "$TMP/bad.csv"; expect_one_line_err; expect_err "$1"; }
bad 'bad.csv:3:3: column .hellaswag.: expected a number' 'model,params,hellaswag,truthfulqa\na,1B,30,40\nb,2B,x,40\n'
bad 'bad.csv: no family has at least 3 models' 'model,family,params,hellaswag,truthfulqa\na,F,1B,30,40\nb,F,2B,35,38\n'
bad "nothing to diagnose: no 'hellaswag' and 'truthfulqa_mc2' columns" 'model,params,arc\na,1B,30\n'
bad 'bad.csv:1:1: empty file' ''
expect_exit 2 "$CAPE" falsify "$TMP/missing.csv"; expect_one_line_err; expect_err 'missing.csv: cannot open'
expect_exit 2 "$CAPE" falsify --sims x; expect_one_line_err; expect_err '--sims expects an integer'
expect_exit 2 "$CAPE" falsify --published 5B,1B; expect_one_line_err; expect_err '--published expects LO,HI'
expect_exit 2 "$CAPE" falsify --nc -3; expect_one_line_err; expect_err '--nc expects a size'
expect_exit 2 "$CAPE" falsify --null-degree 7; expect_one_line_err
expect_exit 2 "$CAPE" falsify --reasoning hellaswag --truth hellaswag; expect_err 'same benchmark'
expect_exit 2 "$CAPE" falsify --family Nope data/benchmarks/paper/set_b_14.csv; expect_one_line_err
expect_err "no family 'Nope'"
expect_exit 2 "$CAPE" falsify --frobnicate; expect_err "unknown option '--frobnicate'"
done_ok
