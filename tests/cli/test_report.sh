# cape report end to end without a browser: the page holds every figure as
# inline SVG, loads nothing, prints no NaN and no machine path; bad input is a
# one-line error. (test_report_browser.sh renders it in Chromium.)
source "$(dirname "$0")/lib.sh"

expect_exit 0 "$CAPE" report --html "$TMP/r.html"
expect_out "cape report: wrote .*r\.html \([0-9]+ bytes, 8 figures\)"
for id in fig-phase-diagram fig-gamma-size fig-nc-bootstrap fig-loss-law fig-width fig-ode \
          fig-frontier fig-eigen; do
  grep -q "<figure id=\"$id\"" "$TMP/r.html" || die "figure $id missing"
  npass=$((npass + 1))
done
[ "$(grep -c '<svg ' "$TMP/r.html")" -eq 10 ] || die "expected 10 SVG panels"
grep -qiE '(>|[ "(])-?nan([ <"%)]|$)' "$TMP/r.html" && die "NaN in the page"
grep -qE '<script|<link|<img|@import|url\(http' "$TMP/r.html" && die "the page loads something"
grep -q "$TOP" "$TMP/r.html" && die "machine path in the page"
grep -q '2.63% (HS 4.71, TQA 1.23, ARC 3.25, WG 1.47, MMLU 2.56)</td><td>2.63% (HS 4.71, TQA 1.23, ARC 3.25, WG 1.47, MMLU 2.56)' "$TMP/r.html" ||
  die "the reproduction table lacks the ODE row"
grep -q '0.51308, 46.380, r 0.72349' "$TMP/r.html" || die "frontier row missing"
npass=$((npass + 5))

expect_exit 0 "$CAPE" report --html "$TMP/r2.html" --json --boot 500
jq -e '.command == "report" and (.figures | length) == 8 and .bytes > 50000' "$TMP/out" >/dev/null ||
  die "report JSON: $(cat "$TMP/out")"
npass=$((npass + 1))

# other inputs: many families, no loss column, no widths: placeholders, never NaN
expect_exit 0 "$CAPE" report --html "$TMP/o.html" --boot 1000 \
  --pooled-table data/benchmarks/base_models.csv --phase-table data/benchmarks/base_models.csv \
  --ode-table data/benchmarks/paper/set_b_14.csv --frontier-table data/benchmarks/frontier.csv
grep -qiE '(^|[^a-z])-?nan([^a-z]|$)' "$TMP/o.html" && die "NaN in the page: $(grep -oiE '.{40}[^a-z]nan[^a-z].{20}' "$TMP/o.html" | head -3)"
[ "$(grep -c 'Not estimable from these inputs' "$TMP/o.html")" -eq 2 ] || die "expected two placeholders"
grep -q 'The in-sample ODE is not estimable: integration diverged near t = ' "$TMP/o.html" ||
  die "set B's five-benchmark ODE diverges; the page should say so"
grep -q 'Frontier: SimpleQA = ' "$TMP/o.html" || die "frontier.csv should plot SimpleQA on GPQA"
npass=$((npass + 3))

expect_exit 2 "$CAPE" report
expect_one_line_err
expect_err '--html FILE is required'
expect_exit 2 "$CAPE" report --html "$TMP/x.html" --pooled-table "$TMP/none.csv"
expect_one_line_err
[ -e "$TMP/x.html" ] && die "a failed report left a file"
npass=$((npass + 1))
expect_exit 2 "$CAPE" report --html "$TMP/x.html" --holdout Nobody
expect_one_line_err
expect_err "hold-out family 'Nobody' not found"
expect_exit 2 "$CAPE" report --html "$TMP/nodir/x.html"
expect_one_line_err
done_ok
