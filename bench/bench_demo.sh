#!/usr/bin/env bash
# `make demo` (scripts/demo.sh: diagnose, ode x4, frontier x2, eigen x2, advise,
# report) against the same computations in Python (bench/peer_diagnose.py +
# bench/peer_demo.py: numpy, scipy, PySINDy, matplotlib), best of $REPS runs
# each, in the same run. The target is a demo under 2 s on the 2-core machine.
set -euo pipefail
cd "$(dirname "$0")/.."
CAPE=${CAPE:-./build/rel/cape}
PYTHON=${PYTHON:-python3}
reps=${REPS:-5}
$PYTHON -c 'import numpy, scipy, matplotlib, pysindy' 2>/dev/null ||
  $PYTHON -m pip install -q numpy scipy matplotlib pysindy >/dev/null
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
best() { # best wall time of $reps runs of "$@", in seconds
  local b=999
  for _ in $(seq "$reps"); do
    local s e
    s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N)
    b=$($PYTHON -c "print(min($b, $e - $s))")
  done
  echo "$b"
}
peer() { $PYTHON bench/peer_diagnose.py data && $PYTHON bench/peer_demo.py data "$out/peer.html"; }
# the peer computes the same numbers before its time means anything
mine=$("$CAPE" ode | grep -o 'mean error, MAE/mean (8 models): [0-9.]* %' | grep -o '[0-9.]* %')
theirs=$($PYTHON bench/peer_demo.py data "$out/peer.html")
echo "check: cape ODE $mine | peer: $theirs"
cape_t=$(best scripts/demo.sh "$CAPE" "$out/report.html")
peer_t=$(best peer)
$PYTHON - "$cape_t" "$peer_t" <<'PY'
import sys
c, p = map(float, sys.argv[1:])
print(f"make demo (scripts/demo.sh, 11 commands)   {c*1000:8.1f} ms   target < 2000 ms: "
      f"{'met' if c < 2 else 'MISSED'}")
print(f"numpy/scipy/PySINDy/matplotlib peer        {p*1000:8.1f} ms")
print(f"speed-up                                   {p/c:8.1f} x")
PY
