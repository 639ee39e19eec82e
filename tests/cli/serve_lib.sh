# Starts `cape serve` on a free port (--port 0) for a test: sets $PORT, $BASE
# and $SERVER_PID; stop_server sends SIGTERM and expects a clean exit 0 (the
# sanitizer build reports leaks there).
start_server() {
  "$CAPE" serve --port 0 "$@" >"$TMP/serve.out" 2>"$TMP/serve.err" &
  SERVER_PID=$!
  for _ in $(seq 1 200); do
    PORT=$(sed -n 's#.*listening on http://127\.0\.0\.1:\([0-9]*\)/.*#\1#p' "$TMP/serve.out" 2>/dev/null)
    [ -n "$PORT" ] && break
    kill -0 "$SERVER_PID" 2>/dev/null || die "cape serve exited: $(cat "$TMP/serve.err")"
    sleep 0.1
  done
  [ -n "$PORT" ] || die "cape serve did not report its port"
  BASE="http://127.0.0.1:$PORT"
}
stop_server() {
  kill -TERM "$SERVER_PID"
  local rc=0
  wait "$SERVER_PID" || rc=$?
  [ "$rc" -eq 0 ] || die "cape serve exited $rc after SIGTERM: $(tail -20 "$TMP/serve.err")"
  npass=$((npass + 1))
}
