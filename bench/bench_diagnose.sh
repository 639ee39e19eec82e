#!/usr/bin/env bash
# cape diagnose on every bundled table (10,000 bootstrap resamples per table,
# exact permutation tests up to n = 10, Monte Carlo above) against the same
# computation written with numpy/scipy (bench/peer_diagnose.py), same run.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -c 'import numpy, scipy' 2>/dev/null || pip install -q numpy scipy >/dev/null
reps=${REPS:-7}
best() { # best wall time of $reps runs of "$@", in seconds
  local b=999
  for _ in $(seq "$reps"); do
    local s e
    s=$(date +%s.%N); "$@" >/dev/null; e=$(date +%s.%N)
    b=$(python3 -c "print(min($b, $e - $s))")
  done
  echo "$b"
}
# the peer must agree with cape before its time means anything
peer=$(python3 bench/peer_diagnose.py data check | sed -n 3p)
mine=$(./cape diagnose --json data/benchmarks/paper/set_b_14.csv | python3 -c '
import json, sys
b = json.load(sys.stdin)["tables"][0]["ucurve"]["bootstrap"]
print("%d %.6g %.6g %.6g" % (b["valid"], b["median"], b["ci95"][0], b["ci95"][1]))')
echo "set B vertex bootstrap (valid, median, 95% CI): cape $mine | numpy $peer"
[ "$peer" = "$mine" ] || { echo "bench: peer and cape disagree" >&2; exit 1; }
cape_t=$(best ./cape diagnose)
py_t=$(best python3 bench/peer_diagnose.py data)
python3 - "$cape_t" "$py_t" <<'PY'
import sys
c, p = map(float, sys.argv[1:])
print(f"cape diagnose (all bundled tables)   {c*1000:8.1f} ms   (target < 200 ms)")
print(f"numpy/scipy, same computation        {p*1000:8.1f} ms")
print(f"speed-up                             {p/c:8.1f} x")
PY
