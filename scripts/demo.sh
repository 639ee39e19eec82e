#!/usr/bin/env bash
# What `make demo` runs: the phase diagnostic on every bundled table, the ODE
# fits (linear, SINDy, U-curve hold-out), the frontier diagnostic (the paper's
# panel and reasoning vs SimpleQA), the eigenstructure, and the HTML report.
# Usage: scripts/demo.sh [CAPE] [REPORT.html]
set -euo pipefail
cd "$(dirname "$0")/.."
CAPE=${1:-./cape}
OUT=${2:-build/report.html}
P=data/benchmarks/paper
mkdir -p "$(dirname "$OUT")"
"$CAPE" diagnose
"$CAPE" ode
"$CAPE" ode --fit sindy
"$CAPE" ode --fit ucurve
"$CAPE" ode $P/pythia_set_a.csv --holdout-table $P/llama2_5bench.csv
"$CAPE" frontier
"$CAPE" frontier data/benchmarks/frontier.csv
"$CAPE" eigen
"$CAPE" eigen $P/paper_base_63.csv --matrix covariance --no-families
"$CAPE" advise --model pythia-1.4b-deduped
"$CAPE" report --html "$OUT"
