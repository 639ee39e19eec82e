#!/usr/bin/env bash
# Builds every tests/fuzz/fuzz_*.c as a libFuzzer binary (clang, with ASan and
# UBSan) and runs each for the given number of seconds, seeded from
# tests/fuzz/seeds/<name>/. Findings are left as crash-* files and fail the run.
set -euo pipefail
secs=${1:-600}
only=${FUZZ_ONLY:-}
cd "$(dirname "$0")/.."
command -v clang >/dev/null || { echo "cape fuzz: clang is missing; run: sudo apt-get install -y clang" >&2; exit 1; }
out=build/fuzz
mkdir -p "$out"
lib_src=$(find src -name '*.c' -not -path 'src/cli/*' | sort)
flags="-std=c17 -D_GNU_SOURCE -g -O1 -Isrc -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined"
libs="-lgsl -llapacke -lopenblas -ljansson -lpcre2-8 -lm -lpthread"
status=0
for h in tests/fuzz/fuzz_*.c; do
  name=$(basename "$h" .c)
  [ -n "$only" ] && [ "$only" != "$name" ] && continue
  echo "== $name: building"
  clang $flags -o "$out/$name" "$h" $lib_src $libs
  corpus="$out/corpus-$name"
  mkdir -p "$corpus"
  seeds="tests/fuzz/seeds/${name#fuzz_}"
  echo "== $name: fuzzing for ${secs}s"
  if ! "$out/$name" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
       -artifact_prefix="$out/$name-" "$corpus" $( [ -d "$seeds" ] && echo "$seeds" ) \
       > "$out/$name.log" 2>&1; then
    echo "cape fuzz: $name found a problem; see $out/$name.log" >&2
    status=1
  fi
  tail -n 2 "$out/$name.log"
done
exit $status
