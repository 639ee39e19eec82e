#!/usr/bin/env bash
# cape serve under load with wrk (Debian's wrk) on loopback: CONNECTIONS (64)
# connections for DURATION (30) seconds on GET /api/advise and on POST
# /api/diagnose (Pythia set A, 10,000 bootstrap resamples as the command),
# requiring 0 socket errors and 0 non-2xx answers; prints requests/s and the
# p99 latency. The peer, measured in the same run, is the same answer from
# the command line: `cape advise --json` / `cape diagnose --json` run back
# to back in as many processes as there are cores. The answers are checked
# byte for byte against the commands' before anything is timed.
set -euo pipefail
cd "$(dirname "$0")/.."
CAPE=${CAPE:-build/rel/cape}
[ -x "$CAPE" ] || make -s "$CAPE"
echo "host: $("$CAPE" version | sed -n 2p)"
command -v wrk >/dev/null || {
  if [ "$(id -u)" -eq 0 ]; then apt-get install -y --no-install-recommends wrk >/dev/null 2>&1 ||
    { apt-get update >/dev/null 2>&1 && apt-get install -y --no-install-recommends wrk >/dev/null 2>&1; }; fi
  command -v wrk >/dev/null || { echo "bench_serve: wrk is needed: sudo apt-get install -y wrk" >&2; exit 1; }
}
dur=${DURATION:-30}
conn=${CONNECTIONS:-64}
threads=${THREADS:-4}
cores=$(nproc)
tmp=$(mktemp -d)
"$CAPE" serve --port 0 --threads "$threads" >"$tmp/out" 2>"$tmp/err" &
pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$tmp"' EXIT
for _ in $(seq 1 100); do grep -q listening "$tmp/out" && break; sleep 0.1; done
port=$(sed -n 's#.*127\.0\.0\.1:\([0-9]*\)/.*#\1#p' "$tmp/out")
base="http://127.0.0.1:$port"
set_a=data/benchmarks/paper/pythia_set_a.csv

# the same bytes as the commands
curl -sS "$base/api/advise?model=pythia-1.4b-deduped" >"$tmp/a.json"
"$CAPE" advise --model pythia-1.4b-deduped --json >"$tmp/a.cli" 2>/dev/null
cmp -s "$tmp/a.json" "$tmp/a.cli" || { echo "bench_serve: /api/advise differs from cape advise" >&2; exit 1; }
curl -sS --data-binary @"$set_a" "$base/api/diagnose?name=$set_a" >"$tmp/d.json"
"$CAPE" diagnose --json "$set_a" >"$tmp/d.cli" 2>/dev/null
cmp -s "$tmp/d.json" "$tmp/d.cli" || { echo "bench_serve: /api/diagnose differs from cape diagnose" >&2; exit 1; }

cat >"$tmp/post.lua" <<LUA
local f = io.open("$set_a", "rb")
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "text/csv"
LUA

# requests per second of the command run back to back in $cores processes
peer_rate() {
  local secs=5 end n=0
  end=$(( $(date +%s) + secs ))
  for _ in $(seq "$cores"); do
    ( k=0; while [ "$(date +%s)" -lt "$end" ]; do "$@" >/dev/null 2>&1; k=$((k + 1)); done; echo $k ) &
  done | { while read -r k; do n=$((n + k)); done; python3 -c "print($n / $secs)"; }
}

load() { # load NAME URL [wrk args]: requests/s and p99, failing on any error
  local name=$1 url=$2; shift 2
  wrk -t2 -c"$conn" -d"${dur}s" --timeout 10s --latency "$@" "$url" >"$tmp/wrk.txt"
  if grep -Eq 'Non-2xx|Socket errors' "$tmp/wrk.txt"; then
    echo "bench_serve: $name had errors:" >&2; cat "$tmp/wrk.txt" >&2; exit 1
  fi
  local rps p99 n
  rps=$(awk '/^Requests\/sec/ {print $2}' "$tmp/wrk.txt")
  p99=$(awk '$1 == "99%" {print $2}' "$tmp/wrk.txt")
  n=$(awk '/requests in/ {print $1}' "$tmp/wrk.txt")
  echo "$name: $n requests in ${dur}s over $conn connections, 0 errors, 0 non-2xx: $rps requests/s, p99 $p99"
  echo "$rps" >"$tmp/rps"
}

load "GET /api/advise" "$base/api/advise?model=pythia-1.4b-deduped"
srv=$(cat "$tmp/rps")
cli=$(peer_rate "$CAPE" advise --model pythia-1.4b-deduped --json)
python3 -c "print('  peer: cape advise --json back to back in $cores processes: %.1f/s; served/peer %.1fx' % ($cli, $srv / $cli))"

load "POST /api/diagnose (set A, 10000 resamples)" "$base/api/diagnose?name=$set_a" -s "$tmp/post.lua"
srv=$(cat "$tmp/rps")
cli=$(peer_rate "$CAPE" diagnose --json "$set_a")
python3 -c "print('  peer: cape diagnose --json back to back in $cores processes: %.1f/s; served/peer %.1fx' % ($cli, $srv / $cli))"

kill -TERM $pid
wait $pid
trap 'rm -rf "$tmp"' EXIT
echo "server stopped cleanly after the load"
