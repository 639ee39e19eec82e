# cape eigen end to end: the published Pythia spectrum, the bootstrap interval
# against tests/ref/make_eigen_boot_ref.py (numpy, same RandomState stream),
# per-phase groups, not-estimable groups, one-line errors.
source "$(dirname "$0")/lib.sh"

expect_exit 0 "$CAPE" eigen
expect_out 'eigenvalues +4\.0954 +0\.82714 +0\.05735 +0\.013318 +0\.0067464'
expect_out 'd_eff = 1\.432, 95% interval \[1\.110, 1\.594\] \(1000 of 1000'
expect_out 'phase transition \(1 model, 1 family\)'
expect_out '  not estimable: 1 model; PCA needs at least 3'
grep -qiE '(^| )-?nan( |$)' "$TMP/out" && die "NaN printed as a number"
npass=$((npass + 1))

expect_exit 0 "$CAPE" eigen --json
# numpy reference: set_a_correlation 1000 1.109536 1.593606
jq -e '.groups[0].d_eff_bootstrap.valid == 1000
       and (.groups[0].d_eff_bootstrap.ci95_lo * 1e6 | round) == 1109536
       and (.groups[0].d_eff_bootstrap.ci95_hi * 1e6 | round) == 1593606
       and (.groups[0].eigenvalues[0] * 1e4 | round) == 40954
       and .groups[3].estimable == false' "$TMP/out" >/dev/null ||
  die "eigen JSON: $(head -c 400 "$TMP/out")"
npass=$((npass + 1))

expect_exit 0 "$CAPE" eigen data/benchmarks/paper/paper_base_63.csv --matrix covariance --json
# numpy reference: paper63_covariance 1000 1.254023 1.413105
jq -e '.groups[0].models == 60 and (.groups[0].d_eff_bootstrap.ci95_lo * 1e6 | round) == 1254023
       and (.groups[0].d_eff_bootstrap.ci95_hi * 1e6 | round) == 1413105
       and ([.groups[] | select(.group == "phase")] | length) == 3
       and ([.groups[] | select(.group == "family")] | length) > 5' "$TMP/out" >/dev/null ||
  die "eigen 63 JSON: $(head -c 400 "$TMP/out")"
npass=$((npass + 1))

expect_exit 0 "$CAPE" eigen data/benchmarks/paper/paper_base_63.csv --matrix cov --no-families --vectors
expect_out '^phase bonus \('
expect_out 'PC1 +PC2'
grep -q '^family ' "$TMP/out" && die "--no-families still printed families"
npass=$((npass + 1))

printf 'model,hs,tqa\na,30,40\nb,30,41\nc,30,42\n' >"$TMP/flat.csv"
expect_exit 0 "$CAPE" eigen "$TMP/flat.csv" --bench hs,tqa
expect_out 'not estimable: a benchmark is constant'
expect_exit 2 "$CAPE" eigen data/benchmarks/frontier.csv
expect_one_line_err
expect_err 'no column for hellaswag'
expect_exit 2 "$CAPE" eigen --matrix spectral
expect_one_line_err
expect_exit 2 "$CAPE" eigen --bench hs
expect_one_line_err
expect_exit 2 "$CAPE" eigen --boot -3
expect_one_line_err
done_ok
