# cape ode end to end: published numbers in the text and JSON output, the
# hold-out modes, and one-line errors with exit 2 on bad input.
source "$(dirname "$0")/lib.sh"
P=data/benchmarks/paper

expect_exit 0 "$CAPE" ode
expect_out 'mean error, MAE/mean \(8 models\): 2\.63 % overall; HS 4\.71, TQA 1\.23, ARC 3\.25, WG 1\.47, MMLU 2\.56 %'
expect_out 'tax +N <= 1B +\+0\.1201'
expect_out 'bonus +N >= 2\.8B +\+0\.7506'
expect_out 'bonus / tax = 6\.25'

expect_exit 0 "$CAPE" ode --integrator exact
expect_out 'HS 4\.71, TQA 1\.24, ARC 3\.26, WG 1\.48, MMLU 2\.55 %'
expect_exit 0 "$CAPE" ode --integrator gsl-rk8pd
expect_out 'TQA 1\.24, ARC 3\.26, WG 1\.48, MMLU 2\.55 %'

expect_exit 0 "$CAPE" ode --fit ucurve
expect_out 'hold-out: Llama-2 \(3 models\)'
expect_out 'MAPE 5\.65 %'
expect_out '^  2 +5\.713 +5\.645 .*<- the fit'
expect_out '^  1 +10\.332 +9\.583'

expect_exit 0 "$CAPE" ode $P/pythia_set_a.csv --holdout-table $P/llama2_5bench.csv
expect_out 'hold-out: llama2_5bench \(3 models\)'
expect_out 'beyond the first model, MAE/mean \(2 models\): 30\.21 % overall'

expect_exit 0 "$CAPE" ode --fit sindy
expect_out 'dHS/dt = 0\.1819 \[[0-9]+%\]'
expect_out 'dTQA/dt = 0 \(every term removed\)'
expect_out '^ +0\.0100 +32 +14 +24 +31 +6'

expect_exit 0 "$CAPE" ode --json -o "$TMP/ode.json"
jq -e '.command == "ode" and .fit == "linear" and (.insample[0].error.mae_over_mean_pct * 100 | round) == 263
       and (.model.C | length) == 5 and .holdout == null
       and (.phase_slopes.fits[2].slope * 10000 | round) == 7506' "$TMP/ode.json" >/dev/null ||
  die "ode JSON lacks the published numbers: $(head -c 300 "$TMP/ode.json")"
npass=$((npass + 1))
expect_exit 0 "$CAPE" ode --fit sindy --json
jq -e '.model.equations[0].terms[0].term == "1" and (.model.stability.grid | length) == 13' "$TMP/out" >/dev/null ||
  die "sindy JSON: $(head -c 300 "$TMP/out")"
npass=$((npass + 1))

# not estimable is said in words, never printed as a number
printf 'model,params,hs,tqa,arc,wg,mmlu\na,1e8,30,45,22,51,25\nb,4e8,40,42,26,53,26\nc,1e9,50,39,29,54,25\n' >"$TMP/short.csv"
expect_exit 0 "$CAPE" ode "$TMP/short.csv"
expect_out 'model: not estimable: a dense linear ODE in 5 benchmarks has 6 unknowns'
grep -qiE '(^| )-?nan( |$)' "$TMP/out" && die "NaN printed as a number"
npass=$((npass + 1))
expect_exit 0 "$CAPE" ode "$TMP/short.csv" --json
jq -e '.model.estimable == false and .insample[0].models[0].predicted == null' "$TMP/out" >/dev/null ||
  die "not-estimable JSON: $(head -c 300 "$TMP/out")"
npass=$((npass + 1))

# a real divergence: the same fit on set B's two-decimal scores blows up
expect_exit 0 "$CAPE" ode $P/set_b_14.csv
expect_out 'in-sample: Pythia, integrated from Pythia-70M'
expect_out '  not estimable: integration diverged near t = 8\.9'
expect_exit 0 "$CAPE" ode $P/set_b_14.csv --integrator exact
expect_out '  not estimable: the exact solution diverged near t = 8\.'

# bad input: one line, exit 2
expect_exit 2 "$CAPE" ode --fit cubic
expect_one_line_err
expect_err "--fit expects linear, sindy or ucurve"
expect_exit 2 "$CAPE" ode --holdout Nope
expect_one_line_err
expect_err "hold-out family 'Nope' not found \(families: pythia_set_a\)"
expect_exit 2 "$CAPE" ode --bench hs,bogus
expect_one_line_err
expect_exit 2 "$CAPE" ode "$TMP/missing.csv"
expect_one_line_err
printf 'model,params,hs\na,1e8,30\nb,1e8,31\nc,3e8,35\nd,1e9,41\n' >"$TMP/dup.csv"
expect_exit 0 "$CAPE" ode --bench hs "$TMP/dup.csv"
expect_out 'same size in one family, scores averaged into one point: a, b'
expect_out 'mean error, MAE/mean \(3 models\)'
expect_exit 0 "$CAPE" ode --bench hs,tqa data/benchmarks/base_models.csv --holdout Falcon
expect_out 'scores averaged into one point: .*allenai/OLMo-7B-hf, allenai/OLMo-1\.7-7B-hf'
expect_out 'one model: nothing to integrate or compare'
expect_exit 2 "$CAPE" ode --bench hs,tqa data/benchmarks/base_models.csv --holdout TinyLlama
expect_one_line_err
expect_err "hold-out family 'TinyLlama' has 1 usable size"
expect_exit 2 "$CAPE" ode --fit sindy --integrator exact
expect_one_line_err
expect_exit 2 "$CAPE" ode --rtol 0
expect_one_line_err
expect_exit 0 "$CAPE" ode --help
expect_out 'usage: cape ode'
done_ok
