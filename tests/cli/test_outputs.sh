#!/usr/bin/env bash
# Output paths: only regular files are replaced (devices, FIFOs, sockets and
# directories are refused, symbolic links written through), standard output
# errors are reported, stale temp files are cleaned, signals give 130/143.
source "$(dirname "$0")/lib.sh"
S=../shared/data/models/stories260K
G=$S/stories260K.gguf
# a table whose families all have 3+ models: no notes on stderr
IN=data/benchmarks/paper/pythia_set_a.csv

# the reference output, written to a plain new file
expect_exit 0 "$CAPE" diagnose "$IN" --json -o "$TMP/ref.json"
expect_exit 0 "$CAPE" diagnose "$IN" --json
cmp -s "$TMP/out" "$TMP/ref.json" || die "-o and standard output differ"
npass=$((npass + 1))

# no_temps DIR: no temp file left behind in DIR
no_temps() {
  local left; left=$(find "$1" -maxdepth 1 -name '*.tmp.*' | head -3)
  [ -z "$left" ] || die "temp files left behind: $left"
  npass=$((npass + 1))
}

# refused KIND PATH CMD...: exit 2, one line naming PATH and KIND
refused() {
  local kind=$1 path=$2; shift 2
  expect_exit 2 timeout 20 "$@"
  expect_one_line_err
  expect_err "^cape: $path: is $kind, not a regular file; refusing to replace it\$"
}

# A character device of our own (as root), so a regression cannot touch /dev.
if [ "$(id -u)" -eq 0 ] && mknod "$TMP/null" c 1 3 2>/dev/null; then
  refused "a character device" "$TMP/null" "$CAPE" diagnose "$IN" --json -o "$TMP/null"
  [ -c "$TMP/null" ] || die "$TMP/null is no longer a character device"
  npass=$((npass + 1))
  no_temps "$TMP"
fi

# /dev/null and /dev/full stay devices (as root a rename would replace them).
for dev in /dev/null /dev/full; do
  refused "a character device" "$dev" "$CAPE" diagnose "$IN" --json -o "$dev"
  [ -c "$dev" ] || die "$dev is no longer a character device"
  npass=$((npass + 1))
done
refused "a character device" /dev/null "$CAPE" diagnose "$IN" -o /dev/null
refused "a character device" /dev/null "$CAPE" report --html /dev/null
ls /dev/null.tmp.* /dev/full.tmp.* >/dev/null 2>&1 && die "temp files left in /dev"
npass=$((npass + 1))

# A FIFO (a bug would block on it: timeout), a directory, a socket.
mkfifo "$TMP/fifo"
refused "a FIFO" "$TMP/fifo" "$CAPE" diagnose "$IN" --json -o "$TMP/fifo"
refused "a FIFO" "$TMP/fifo" "$CAPE" report --html "$TMP/fifo"
[ -p "$TMP/fifo" ] || die "the FIFO was replaced"
mkdir "$TMP/dir"
refused "a directory" "$TMP/dir" "$CAPE" diagnose "$IN" --json -o "$TMP/dir"
refused "a directory" "$TMP/dir" "$CAPE" diagnose "$IN" -o "$TMP/dir"
[ -d "$TMP/dir" ] && [ -z "$(ls -A "$TMP/dir")" ] || die "the directory was changed"
npass=$((npass + 1))
python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$TMP/sock"
refused "a socket" "$TMP/sock" "$CAPE" diagnose "$IN" --json -o "$TMP/sock"
[ -S "$TMP/sock" ] || die "the socket was replaced"
npass=$((npass + 1))
no_temps "$TMP"

# Model outputs: --dump-logits, score -o.
if [ -f "$G" ]; then
  refused "a character device" /dev/null "$CAPE" run "$G" -p "Once" -n 1 --dump-logits /dev/null
  refused "a FIFO" "$TMP/fifo" "$CAPE" run "$G" -p "Once" -n 1 --dump-logits "$TMP/fifo"
  refused "a directory" "$TMP/dir" "$CAPE" run "$G" -p "Once" -n 1 --dump-logits "$TMP/dir"
  no_temps "$TMP"
fi

# A symbolic link is written through: the target gets the new content, the
# link stays a link, the temp file goes beside the target.
mkdir "$TMP/a" "$TMP/b"
echo old >"$TMP/b/real.json"
ln -s ../b/real.json "$TMP/a/link.json"
expect_exit 0 "$CAPE" diagnose "$IN" --json -o "$TMP/a/link.json"
[ -L "$TMP/a/link.json" ] || die "the symbolic link was replaced"
cmp -s "$TMP/b/real.json" "$TMP/ref.json" || die "the link's target did not get the output"
npass=$((npass + 1))
no_temps "$TMP/a"
no_temps "$TMP/b"
# a link to a link, and a dangling link (refused, left as it was)
ln -s "$TMP/a/link.json" "$TMP/link2.json"
echo old >"$TMP/b/real.json"
expect_exit 0 "$CAPE" diagnose "$IN" --json -o "$TMP/link2.json"
[ -L "$TMP/link2.json" ] && [ -L "$TMP/a/link.json" ] || die "a link in the chain was replaced"
cmp -s "$TMP/b/real.json" "$TMP/ref.json" || die "the chain's target did not get the output"
npass=$((npass + 1))
ln -s "$TMP/missing.json" "$TMP/dangling.json"
expect_exit 2 "$CAPE" diagnose "$IN" --json -o "$TMP/dangling.json"
expect_one_line_err
expect_err 'dangling.json: is a symbolic link to a missing file'
[ -L "$TMP/dangling.json" ] && [ ! -e "$TMP/missing.json" ] || die "the dangling link was changed"
npass=$((npass + 1))
# a link to a device is refused like the device
ln -s /dev/null "$TMP/tonull"
refused "a character device" "$TMP/tonull" "$CAPE" diagnose "$IN" --json -o "$TMP/tonull"
[ -L "$TMP/tonull" ] && [ -c /dev/null ] || die "the link to /dev/null was changed"
npass=$((npass + 1))

# Standard output: a failed write is an error, a closed pipe ends quietly.
expect_exit 0 "$CAPE" diagnose "$IN"
mv "$TMP/out" "$TMP/text"
"$CAPE" diagnose "$IN" >/dev/full 2>"$TMP/err"
[ $? -eq 1 ] || die "'cape diagnose > /dev/full' did not exit 1"
[ "$(cat "$TMP/err")" = "cape: write error on standard output: No space left on device" ] ||
  die "unexpected stderr for > /dev/full: $(cat "$TMP/err")"
"$CAPE" --help >/dev/full 2>"$TMP/err"
[ $? -eq 1 ] && grep -q 'write error on standard output' "$TMP/err" || die "--help > /dev/full"
npass=$((npass + 2))
first=$("$CAPE" diagnose "$IN" 2>"$TMP/err" | head -1)
[ "$first" = "$(head -1 "$TMP/text")" ] || die "| head -1 gave '$first'"
[ ! -s "$TMP/err" ] || die "| head -1 printed on stderr: $(cat "$TMP/err")"
npass=$((npass + 1))
# the reader is gone before cape writes; SIGPIPE default or ignored
python3 - "$CAPE" "$IN" <<'PY' || die "closed pipe: not quiet"
import os, subprocess, sys
for restore in (True, False):
    r, w = os.pipe()
    os.close(r)
    p = subprocess.run([sys.argv[1], "diagnose", sys.argv[2]], stdout=w, stderr=subprocess.PIPE,
                       restore_signals=restore)
    os.close(w)
    if p.stderr or p.returncode not in (0, -13, 141):
        sys.exit("restore_signals=%s: exit %d, stderr %r" % (restore, p.returncode, p.stderr))
PY
npass=$((npass + 1))

# Stale temp files of the same path are removed by the next write; a temp
# file still locked by a live writer, and names that do not match, stay.
out=$TMP/stale/o.json
mkdir "$TMP/stale"
for f in o.json.tmp.AbC123 o.json.tmp.zz9ZZ9 o.json.tmp.toolong1 o.json.tmp.ab-12x other.json.tmp.AbC123 o.json.tmp.Live01; do
  echo junk >"$TMP/stale/$f"
done
flock -x "$TMP/stale/o.json.tmp.Live01" sleep 30 &
holder=$!
for _ in $(seq 1 100); do flock -nx "$TMP/stale/o.json.tmp.Live01" true || break; sleep 0.05; done
expect_exit 0 "$CAPE" diagnose "$IN" --json -o "$out"
cmp -s "$out" "$TMP/ref.json" || die "output after cleaning differs"
[ ! -e "$TMP/stale/o.json.tmp.AbC123" ] && [ ! -e "$TMP/stale/o.json.tmp.zz9ZZ9" ] ||
  die "stale temp files were not removed"
for f in o.json.tmp.toolong1 o.json.tmp.ab-12x other.json.tmp.AbC123 o.json.tmp.Live01; do
  [ -e "$TMP/stale/$f" ] || die "$f was removed"
done
kill "$holder" 2>/dev/null; wait "$holder" 2>/dev/null
npass=$((npass + 2))

# Bad output paths: exit 2, one line.
expect_exit 2 "$CAPE" diagnose "$IN" --json -o "$TMP/no/such/dir/o.json"
expect_one_line_err
expect_err 'o.json: cannot create'

# Signals: a command stopped by SIGTERM exits 143 and leaves nothing behind
# (it blocks reading a FIFO nobody writes).
mkfifo "$TMP/in.csv"
"$CAPE" diagnose --json -o "$TMP/sig.json" "$TMP/in.csv" >/dev/null 2>&1 &
pid=$!
sleep 0.3
kill -TERM "$pid"
wait "$pid"
[ $? -eq 143 ] || die "SIGTERM: exit status is not 143"
[ ! -e "$TMP/sig.json" ] || die "an interrupted command left its output"
npass=$((npass + 1))
no_temps "$TMP"
done_ok
