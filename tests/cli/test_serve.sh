# cape serve end to end on a free loopback port: each API answer is
# byte-identical to the command's --json output for the same table; errors
# carry the command's one-line message; 413 above --max-upload, 404 for
# anything that is not a route or an embedded file (traversal attempts
# included); the page loads nothing from elsewhere; bad flags and tables fail
# before listening; a non-loopback --host warns; SIGTERM stops it cleanly.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/serve_lib.sh"
command -v curl >/dev/null || die "curl is needed (apt-get install curl)"

# usage and input errors, before anything listens
expect_exit 2 "$CAPE" serve --port 70000
expect_one_line_err
expect_exit 2 "$CAPE" serve --host not-an-address --port 0
expect_err "--host expects a numeric IPv4 or IPv6 address"
expect_one_line_err
printf 'model,params,hellaswag\nx,abc,3\n' >"$TMP/bad.csv"
expect_exit 2 "$CAPE" serve --port 0 "$TMP/bad.csv"
expect_one_line_err
expect_exit 2 "$CAPE" serve --port 0 "$TMP/missing.csv"
expect_one_line_err

cat >"$TMP/mine.csv" <<'CSV'
model,family,params,hellaswag,truthfulqa_mc2
toy-100m,toyfam,100M,30,45
toy-1b,toyfam,1B,40,42
toy-10b,toyfam,10B,60,46
CSV
start_server --max-upload 100000 "$TMP/mine.csv"

get() { curl -sS -o "$TMP/body" -w '%{http_code}' "$@"; }
same() { # same NAME FILE: the last body equals FILE byte for byte
  cmp -s "$TMP/body" "$2" || die "$1: the API differs from the command: $(diff "$TMP/body" "$2" | head -5)"
  npass=$((npass + 1))
}
code() { [ "$1" = "$2" ] || die "$3: HTTP $1, expected $2: $(head -c 300 "$TMP/body")"; npass=$((npass + 1)); }

code "$(get "$BASE/api/health")" 200 health
grep -q '"status": "ok"' "$TMP/body" || die "health: $(cat "$TMP/body")"

# diagnose: a posted CSV, named as the command names its file
t=data/benchmarks/paper/pythia_set_a.csv
code "$(get --data-binary @$t "$BASE/api/diagnose?name=$t")" 200 "diagnose (posted)"
"$CAPE" diagnose --json "$t" >"$TMP/cli.json" 2>/dev/null || die "cape diagnose failed"
same "POST /api/diagnose" "$TMP/cli.json"
t=data/benchmarks/paper/set_b_14.csv
code "$(get "$BASE/api/diagnose?table=$t")" 200 "diagnose (served)"
"$CAPE" diagnose --json "$t" >"$TMP/cli.json" 2>/dev/null
same "GET /api/diagnose?table=" "$TMP/cli.json"
(cd "$TMP" && "$CAPE" diagnose --json mine.csv >cli_mine.json 2>/dev/null) || die "cape diagnose mine.csv"
code "$(get --data-binary @"$TMP/mine.csv" "$BASE/api/diagnose?name=mine.csv")" 200 "diagnose (user table)"
same "POST /api/diagnose (user table)" "$TMP/cli_mine.json"

# the other analyses with their commands' defaults
code "$(get "$BASE/api/frontier")" 200 frontier
"$CAPE" frontier --json >"$TMP/cli.json" 2>/dev/null
same "GET /api/frontier" "$TMP/cli.json"
code "$(get "$BASE/api/eigen")" 200 eigen
"$CAPE" eigen --json >"$TMP/cli.json" 2>/dev/null
same "GET /api/eigen" "$TMP/cli.json"
code "$(get "$BASE/api/ode")" 200 ode
"$CAPE" ode --json >"$TMP/cli.json" 2>/dev/null
same "GET /api/ode" "$TMP/cli.json"
code "$(get "$BASE/api/ode?fit=ucurve")" 200 "ode ucurve"
"$CAPE" ode --fit ucurve --json >"$TMP/cli.json" 2>/dev/null
same "GET /api/ode?fit=ucurve" "$TMP/cli.json"
code "$(get "$BASE/api/advise?model=pythia-1.4b-deduped")" 200 advise
"$CAPE" advise --model pythia-1.4b-deduped --json >"$TMP/cli.json" 2>/dev/null
same "GET /api/advise" "$TMP/cli.json"
code "$(get "$BASE/api/advise?model=mine&size=1B&hs=49.7&tqa=38.9&family=Pythia&table=data/benchmarks/paper/paper_base_63.csv")" 200 "advise (described)"
"$CAPE" advise --model mine --size 1B --hs 49.7 --tqa 38.9 --family Pythia --json \
  data/benchmarks/paper/paper_base_63.csv >"$TMP/cli.json" 2>/dev/null
same "GET /api/advise (described)" "$TMP/cli.json"

# falsify: the command's default tables, a posted table, served tables (two
# at once, as two TABLE arguments), the user's table, options
code "$(get "$BASE/api/falsify")" 200 falsify
"$CAPE" falsify --json >"$TMP/cli.json" 2>/dev/null || die "cape falsify failed"
same "GET /api/falsify" "$TMP/cli.json"
t=data/benchmarks/paper/set_b_14.csv
code "$(get --data-binary @$t "$BASE/api/falsify?name=$t&seed=7&sims=500")" 200 "falsify (posted)"
"$CAPE" falsify --json --seed 7 --sims 500 "$t" >"$TMP/cli.json" 2>/dev/null
same "POST /api/falsify" "$TMP/cli.json"
t2=data/benchmarks/paper/pythia_set_a.csv
code "$(get "$BASE/api/falsify?table=$t2&table=$t&reasoning=arc&boot=300")" 200 "falsify (served)"
"$CAPE" falsify --json --reasoning arc --boot 300 "$t2" "$t" >"$TMP/cli.json" 2>/dev/null
same "GET /api/falsify?table=&table=" "$TMP/cli.json"
(cd "$TMP" && "$CAPE" falsify --json mine.csv >cli_mine.json 2>/dev/null) || die "cape falsify mine.csv"
code "$(get --data-binary @"$TMP/mine.csv" "$BASE/api/falsify?name=mine.csv")" 200 "falsify (user table)"
same "POST /api/falsify (user table)" "$TMP/cli_mine.json"
code "$(get "$BASE/api/falsify?table=$TMP/mine.csv")" 200 "falsify (served user table)"
"$CAPE" falsify --json "$TMP/mine.csv" >"$TMP/cli.json" 2>/dev/null
same "GET /api/falsify?table=mine" "$TMP/cli.json"
# a table without sizes: the command's message, 400
printf 'model,family,hellaswag,truthfulqa_mc2\na,f,30,40\n' >"$TMP/nosize.csv"
(cd "$TMP" && "$CAPE" falsify --json nosize.csv >/dev/null 2>cli.err); want=$(cat "$TMP/cli.err")
[ -n "$want" ] || die "cape falsify accepted a table without sizes"
code "$(get --data-binary @"$TMP/nosize.csv" "$BASE/api/falsify?name=nosize.csv")" 400 "falsify: no sizes"
got=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["error"])' "$TMP/body")
[ "$got" = "$want" ] || die "falsify 400 message '$got', the command says '$want'"
npass=$((npass + 1))
cp "$TMP/bad.csv" "$TMP/b.csv"
(cd "$TMP" && "$CAPE" falsify --json b.csv >/dev/null 2>cli.err); want=$(cat "$TMP/cli.err")
code "$(get --data-binary @"$TMP/bad.csv" "$BASE/api/falsify?name=b.csv")" 400 "falsify: bad table"
got=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["error"])' "$TMP/body")
[ "$got" = "$want" ] || die "falsify 400 message '$got', the command says '$want'"
npass=$((npass + 1))
code "$(get "$BASE/api/falsify?sims=many")" 400 "falsify: bad parameter"
grep -q "sims expects an integer in \[0, 100000\], got 'many'" "$TMP/body" || die "falsify parameter error: $(cat "$TMP/body")"
code "$(get "$BASE/api/falsify?table=../etc/passwd")" 400 "falsify: a table that is not served"

# the table given on the command line is served
code "$(get "$BASE/api/tables")" 200 tables
grep -q "\"name\": \"$TMP/mine.csv\"" "$TMP/body" && grep -q '"source": "served"' "$TMP/body" ||
  die "the served table is not listed"
code "$(get "$BASE/api/table?name=$TMP/mine.csv")" 200 "table text"
same "GET /api/table" "$TMP/mine.csv"

# errors: the command's one-line message
cp "$TMP/bad.csv" "$TMP/b.csv"
(cd "$TMP" && "$CAPE" diagnose --json b.csv >/dev/null 2>cli.err); want=$(cat "$TMP/cli.err")
code "$(get --data-binary @"$TMP/bad.csv" "$BASE/api/diagnose?name=b.csv")" 400 "bad table"
got=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["error"])' "$TMP/body")
[ "$got" = "$want" ] || die "400 message '$got', the command says '$want'"
npass=$((npass + 1))
code "$(get "$BASE/api/advise?model=nobody")" 400 "advise unknown model"
grep -q "model 'nobody' is not in data/benchmarks/base_models.csv" "$TMP/body" || die "advise error: $(cat "$TMP/body")"

# limits and paths
head -c 200000 /dev/zero | tr '\0' 'a' >"$TMP/big.csv"
code "$(get --data-binary @"$TMP/big.csv" "$BASE/api/diagnose")" 413 "upload above --max-upload"
code "$(get "$BASE/nope")" 404 "unknown path"
code "$(get --path-as-is "$BASE/../../etc/passwd")" 404 "traversal"
code "$(get --path-as-is "$BASE/%2e%2e/%2e%2e/etc/passwd")" 404 "encoded traversal"
code "$(get "$BASE/data/benchmarks/base_models.csv")" 404 "a data file by path"
code "$(get -X DELETE "$BASE/api/health")" 405 "wrong method"

# the page: embedded, nothing external, a strict CSP
code "$(get -D "$TMP/headers" "$BASE/")" 200 page
cmp -s "$TMP/body" web/index.html || die "/ is not web/index.html"
grep -qi "^content-security-policy: default-src 'none'" "$TMP/headers" || die "no CSP header"
npass=$((npass + 1))
for f in web/*; do
  code "$(get "$BASE/$(basename "$f")")" 200 "asset $f"
  same "asset $f" "$f"
  ! grep -Eq '(src|href)="(https?:)?//' "$f" || die "$f loads something from elsewhere"
done
stop_server

# another host than loopback: a warning (port 0 on the wildcard address)
"$CAPE" serve --host 0.0.0.0 --port 0 >"$TMP/serve.out" 2>"$TMP/serve.err" &
pid=$!
# (signals are handled once it listens: wait for that, on a busy machine too)
for _ in $(seq 1 300); do grep -qs listening "$TMP/serve.out" && break; sleep 0.1; done
grep -qs listening "$TMP/serve.out" || die "cape serve --host 0.0.0.0 did not listen: $(cat "$TMP/serve.err")"
kill -TERM $pid
rc=0
wait $pid || rc=$?
[ "$rc" -eq 0 ] || die "cape serve --host 0.0.0.0 exited $rc after SIGTERM: $(tail -5 "$TMP/serve.err")"
grep -q "warning: listening on 0.0.0.0, not loopback" "$TMP/serve.err" || die "no warning for 0.0.0.0"
npass=$((npass + 1))
done_ok
