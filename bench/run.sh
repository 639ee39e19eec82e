#!/usr/bin/env bash
# Runs every bench/bench_*.sh; each prints its own timings and ratios against
# a peer measured in the same run. Benchmarks may pip-install their peers.
set -u
cd "$(dirname "$0")/.."
status=0
for b in bench/bench_*.sh; do
  [ -n "${BENCH_ONLY:-}" ] && [ "$(basename "$b" .sh)" != "$BENCH_ONLY" ] && continue
  echo "== $(basename "$b")"
  bash "$b" || status=1
done
exit $status
