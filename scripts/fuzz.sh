#!/usr/bin/env bash
# Builds every tests/fuzz/fuzz_*.c as a libFuzzer binary (clang, with ASan and
# UBSan) and runs each for the given number of seconds (argument, else
# FUZZ_SECONDS, else 600), seeded from tests/fuzz/seeds/<name>/. FUZZ_ONLY
# names the harnesses to run, in that order (e.g. "fuzz_cvec fuzz_gguf"). Each run's full log, ending with
# libFuzzer's "Done N runs in S second(s)", is build/fuzz/<name>.log; findings
# are left as build/fuzz/<name>-crash-* files and fail the run. FUZZ_TIMEOUT
# (seconds, default 10) is the time one input may take before it counts as a
# hang; raise it on a machine busy with other work.
set -euo pipefail
secs=${1:-${FUZZ_SECONDS:-600}}
only=${FUZZ_ONLY:-}
per_input=${FUZZ_TIMEOUT:-10}
cd "$(dirname "$0")/.."
scripts/deps.sh clang libclang-rt-dev
command -v clang >/dev/null || { echo "cape fuzz: clang is missing; run: sudo apt-get install -y clang libclang-rt-dev" >&2; exit 1; }
out=build/fuzz
mkdir -p "$out"
lib=$(mktemp -d "$out/lib.XXXXXX") # private: runs may overlap
trap 'rm -rf "$lib"' EXIT
flags="-std=c17 -D_GNU_SOURCE -g -O1 -Isrc -fsanitize=address,undefined -fno-sanitize-recover=undefined"
libs="-lmicrohttpd -lgsl -llapacke -lopenblas -ljansson -lpcre2-8 -lz -lm -lpthread"

# the library once, instrumented for the fuzzer
echo "== building the library"
find src -name '*.c' -not -path 'src/cli/*' | sort |
  while read -r f; do echo "$f $lib/$(echo "${f#src/}" | tr / _ | sed 's/\.c$/.o/')"; done |
  xargs -P 2 -n 2 sh -c 'clang '"$flags"' -fsanitize=fuzzer-no-link -c -o "$1" "$0"'
ar rcs "$lib/libcape-fuzz.a" "$lib"/*.o

status=0
names=${only:-$(for h in tests/fuzz/fuzz_*.c; do basename "$h" .c; done)}
for name in $names; do
  h=tests/fuzz/$name.c
  [ -f "$h" ] || { echo "cape fuzz: no harness $h" >&2; status=1; continue; }
  echo "== $name: building"
  clang $flags -fsanitize=fuzzer -o "$out/$name" "$h" "$lib/libcape-fuzz.a" $libs
  corpus="$out/corpus-$name"
  mkdir -p "$corpus"
  seeds="tests/fuzz/seeds/${name#fuzz_}"
  echo "== $name: fuzzing for ${secs}s ($(date -u +%FT%TZ))"
  if ! "$out/$name" -max_total_time="$secs" -timeout="$per_input" -rss_limit_mb=2048 \
       -artifact_prefix="$out/$name-" "$corpus" $( [ -d "$seeds" ] && echo "$seeds" ) \
       > "$out/$name.log" 2>&1; then
    echo "cape fuzz: $name found a problem; see $out/$name.log" >&2
    status=1
  fi
  tail -n 2 "$out/$name.log"
done
exit $status
