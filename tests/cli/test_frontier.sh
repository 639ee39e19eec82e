# cape frontier end to end: the paper's 34-model numbers, reasoning vs
# SimpleQA, JSON, not-estimable parts, one-line errors.
source "$(dirname "$0")/lib.sh"

expect_exit 0 "$CAPE" frontier
expect_out 'GPQA = 0\.51308 x SWE \+ 46\.380 +r = \+0\.72349, R\^2 = 0\.523, p = 1\.33e-06 \(n = 34\)'
expect_out 'leave-one-lab-out: 9\.20 \+/- 2\.38 points'
expect_out '^  Anthropic +8 +12\.39 +0\.973'
expect_out 'Claude 3\.5 Haiku .* -26\.21  SWE-rich +SWE specialist'
expect_out 'sigma = 0\.099 < threshold: rotate'

expect_exit 0 "$CAPE" frontier data/benchmarks/frontier.csv
expect_out 'SimpleQA = 0\.55977 x GPQA - 10\.720 +r = \+0\.51965'
expect_exit 0 "$CAPE" frontier data/benchmarks/frontier.csv --x mmlu
expect_out 'r = \+0\.67330'

expect_exit 0 "$CAPE" frontier --json
jq -e '(.fit.r * 100000 | round) == 72349 and (.leave_one_lab_out.mae_mean * 100 | round) == 920
       and .leave_one_lab_out.labs == 4 and (.models | length) == 34 and .rotation.rotate == true' \
  "$TMP/out" >/dev/null || die "frontier JSON: $(head -c 300 "$TMP/out")"
npass=$((npass + 1))

# one lab only: leave-one-lab-out is not estimable, said in words
printf 'model,lab,swe,gpqa\na,L,10,50\nb,L,20,55\nc,L,30,61\nd,L,40,64\n' >"$TMP/one.csv"
expect_exit 0 "$CAPE" frontier "$TMP/one.csv"
expect_out 'leave-one-lab-out: not estimable \(1 lab with >= 4 models; needs 2\)'
grep -qiE '(^| )-?nan( |$)' "$TMP/out" && die "NaN printed as a number"
npass=$((npass + 1))
expect_exit 0 "$CAPE" frontier "$TMP/one.csv" --json
jq -e '.leave_one_lab_out.mae_mean == null' "$TMP/out" >/dev/null || die "null expected"
npass=$((npass + 1))

printf 'model,lab,swe,gpqa\na,L,10,50\nb,M,10,55\nc,N,10,61\n' >"$TMP/flat.csv"
expect_exit 2 "$CAPE" frontier "$TMP/flat.csv"
expect_one_line_err
expect_err 'every model has the same swe_bench_verified'
printf 'model,lab,swe,gpqa\na,L,10,50\nb,M,20,\n' >"$TMP/two.csv"
expect_exit 2 "$CAPE" frontier "$TMP/two.csv"
expect_one_line_err
expect_err 'at least 3 models with both swe_bench_verified and gpqa_diamond, found 1'
expect_exit 2 "$CAPE" frontier data/benchmarks/paper/pythia_set_a.csv
expect_one_line_err
expect_err 'frontier needs columns swe_bench_verified and gpqa_diamond'
expect_exit 2 "$CAPE" frontier --x swe --y swe
expect_one_line_err
expect_exit 2 "$CAPE" frontier --bands 10,5
expect_one_line_err
expect_exit 2 "$CAPE" frontier a.csv b.csv
expect_one_line_err
done_ok
