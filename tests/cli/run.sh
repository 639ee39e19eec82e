#!/usr/bin/env bash
# Runs every tests/cli/test_*.sh against the binary in $CAPE. Each script
# sources lib.sh and uses its expect_* helpers; a failure stops the suite.
set -u
here=$(cd "$(dirname "$0")" && pwd)
: "${CAPE:?set CAPE to the cape binary}"
CAPE=$(cd "$(dirname "$CAPE")" && pwd)/$(basename "$CAPE")
export CAPE
fail=0
for t in "$here"/test_*.sh; do
  echo "== $(basename "$t")"
  if ! bash "$t"; then
    echo "FAILED: $(basename "$t")" >&2
    fail=1
  fi
done
exit $fail
