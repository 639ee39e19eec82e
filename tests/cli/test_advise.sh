# cape advise end to end: gamma12 from the user's own family, the population
# fallback, N_c distance, the ODE step against tests/ref/make_advice_ref.py
# (numpy/scipy), the rules, and one-line errors.
source "$(dirname "$0")/lib.sh"

# a model of the bundled table, its family from the table
expect_exit 0 "$CAPE" advise --model pythia-1.4b-deduped
expect_out 'EleutherAI/pythia-1\.4b-deduped \(1\.4B; HS 54\.96, TQA 38\.66, d_model 2048\)'
expect_out 'family Pythia-deduped: 8 models'
expect_out 'from the family\)'
expect_out 'N_c = 3\.49B \[95% 2\.92B, 13\.4B\]'
expect_out 'observed HS 60\.66, TQA 35\.56'

# described on the command line with its family's other sizes: gamma12 from
# the user's scores, (41.2 - 44.3) / (40.9 - 31.4) = -0.326
expect_exit 0 "$CAPE" advise --model x --size 410M --hs 40.9 --tqa 41.2 \
  --sibling 160M:31.4:44.3 --sibling 1B:49.7:38.9 --json
# scipy reference: ode_next_1B HS 48.234476 TQA 38.687303
jq -e '(.phase.gamma12 * 1000 | round) == -326 and .phase.gamma12_source == "family"
       and .phase.phase == "tax" and .ode_next.next_is_sibling
       and (.ode_next.predicted_hellaswag * 1e5 | round) == 4823448
       and (.ode_next.predicted_truthfulqa_mc2 * 1e5 | round) == 3868730' "$TMP/out" >/dev/null ||
  die "advise family JSON: $(head -c 600 "$TMP/out")"
npass=$((npass + 1))

# a lone model: the paper's population fit, said so; the curation rule with
# h_c = 3 ((3.4939e9 - 1.4e9) / 1e9)^1.5 = 9.09 (reference 9.089817)
expect_exit 0 "$CAPE" advise --model mine --size 1.4B --hs 52.0 --tqa 38.7 --d-model 1536
expect_out 'phase: tax \(gamma12 = -0\.133, from the population fit'
expect_out '\[x\] curate: .* at 9 TQA points'
expect_out '\[x\] width: Widen at fixed N: d_model 1536 is narrower than Pythia.s 2048 at 1\.4B'
expect_out 'source: docs/METHODS\.md, Advice'
expect_exit 0 "$CAPE" advise --model mine --size 1.4B --hs 52.0 --tqa 38.7 --json
jq -e '(.h_c_tqa_points - 9.089817 | fabs) < 1e-3 and (.rules | length) == 3' "$TMP/out" >/dev/null ||
  die "advise h_c: $(head -c 400 "$TMP/out")"
npass=$((npass + 1))

# at the top: rotation, with sigma(SWE/GPQA) of the paper's panel
expect_exit 0 "$CAPE" advise --model Meta-Llama-3.1-405B-FP8
expect_out '\[x\] rotate: .*sigma\(SWE/GPQA\) on its 34-model panel is 0\.10 \(< 0\.2'
expect_out 'in the tax phase but at or above N_c|In the tax phase but at or above N_c'

# bad input
expect_exit 2 "$CAPE" advise
expect_one_line_err
expect_err 'model NAME is required'
expect_exit 2 "$CAPE" advise --model nope
expect_one_line_err
expect_err "model 'nope' is not in data/benchmarks/base_models.csv"
expect_exit 2 "$CAPE" advise --model a --size 1B --hs 120 --tqa 30
expect_one_line_err
expect_exit 2 "$CAPE" advise --model a --size big --hs 50 --tqa 30
expect_one_line_err
expect_exit 2 "$CAPE" advise --model a --size 1B --hs 50 --tqa 30 --sibling 2B:60
expect_one_line_err
expect_err '--sibling expects SIZE:HS:TQA'
expect_exit 2 "$CAPE" advise --model a --size 1B --hs 50 --tqa 30 --sibling 1B:60:31
expect_one_line_err
expect_err "a sibling has the model's own size"
done_ok
