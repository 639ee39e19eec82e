# Helpers for the end-to-end tests of the cape binary.
set -u
: "${CAPE:?}"
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$TOP"
export CAPE_DATA="$TOP/data"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
npass=0

die() { echo "FAIL: $*" >&2; exit 1; }

# expect_exit CODE CMD...: runs CMD, keeps stdout/stderr in $TMP/out, $TMP/err
expect_exit() {
  local want=$1; shift
  "$@" >"$TMP/out" 2>"$TMP/err"
  local got=$?
  [ "$got" -eq "$want" ] || die "'$*' exited $got, expected $want; stderr: $(head -c 400 "$TMP/err")"
  npass=$((npass + 1))
}

# expect_out REGEX: the last stdout matches REGEX (grep -E)
expect_out() { grep -Eq -- "$1" "$TMP/out" || die "stdout lacks /$1/: $(head -c 600 "$TMP/out")"; npass=$((npass + 1)); }
expect_err() { grep -Eq -- "$1" "$TMP/err" || die "stderr lacks /$1/: $(head -c 400 "$TMP/err")"; npass=$((npass + 1)); }
# expect_one_line_err: bad input gives exactly one line on stderr
expect_one_line_err() {
  local n; n=$(wc -l <"$TMP/err")
  [ "$n" -eq 1 ] || die "expected one stderr line, got $n: $(cat "$TMP/err")"
  npass=$((npass + 1))
}
done_ok() { echo "   $npass checks passed"; }
