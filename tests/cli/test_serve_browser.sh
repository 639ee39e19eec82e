# The dashboard in headless Chromium driven by Selenium (tests/cli/serve_browser.py):
# an example loader, Pythia-1B's scores typed by hand with the phase, gamma12
# and N_c read off the page and checked against the API and by hand, the phase
# map's figures, a CSV uploaded through the file picker (its families and
# gamma12 steps appear), a JSON export, the state in the URL, and an empty
# console. Debian's chromium, chromium-driver and python3-selenium are
# installed when missing and the test runs as root with apt; elsewhere it
# fails with the command to run, unless CAPE_SKIP_BROWSER=1 skips it
# explicitly. CAPE_UPDATE_SCREENSHOT=1 saves docs/serve.png.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/serve_lib.sh"

PY=/usr/bin/python3
have() { command -v chromium >/dev/null && command -v chromedriver >/dev/null &&
         "$PY" -c 'import selenium' 2>/dev/null; }
if ! have; then
  if [ "${CAPE_SKIP_BROWSER:-}" = 1 ]; then
    echo "   SKIPPED by CAPE_SKIP_BROWSER=1: the dashboard was not driven in a browser" >&2
    exit 0
  fi
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    echo "   installing Debian's chromium, chromium-driver and python3-selenium"
    export DEBIAN_FRONTEND=noninteractive
    pkgs="chromium chromium-driver python3-selenium fonts-dejavu-core"
    apt-get install -y --no-install-recommends $pkgs >/dev/null 2>&1 ||
      { apt-get update >/dev/null 2>&1 && apt-get install -y --no-install-recommends $pkgs >/dev/null 2>&1; }
  fi
  have || die "the browser test needs: sudo apt-get install -y chromium chromium-driver python3-selenium (or CAPE_SKIP_BROWSER=1 to skip explicitly)"
fi

cat >"$TMP/toy.csv" <<'CSV'
model,family,params,hellaswag,truthfulqa_mc2
toy-100m,toyfam,100M,30,45
toy-1b,toyfam,1B,40,42
toy-10b,toyfam,10B,60,46
other-1b,otherfam,1B,35,40
other-3b,otherfam,3B,45,39
other-9b,otherfam,9B,55,41
CSV
mkdir -p "$TMP/dl"
start_server
"$PY" "$TOP/tests/cli/serve_browser.py" "$BASE/" "$TMP/dl" "$TMP/toy.csv" "$TMP/serve.png" ||
  die "the browser session failed (server log: $(tail -5 "$TMP/serve.err"))"
npass=$((npass + 1))
stop_server
[ -s "$TMP/serve.png" ] || die "no screenshot"
if [ "${CAPE_UPDATE_SCREENSHOT:-}" = 1 ]; then
  cp "$TMP/serve.png" "$TOP/docs/serve.png"
  echo "   screenshot saved to docs/serve.png"
fi
done_ok
