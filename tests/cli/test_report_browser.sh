# Opens cape's HTML report in headless Chromium (Debian package `chromium`):
# every figure must be rendered with a real size and drawn content, the page
# must log nothing to the console (errors, failed loads), and a screenshot is
# taken (CAPE_UPDATE_SCREENSHOT=1 copies it to docs/report.png).
# Chromium is installed here when missing and the test runs as root with apt
# (as in CI); elsewhere the test fails with the command to run, unless the
# caller opts out explicitly with CAPE_SKIP_BROWSER=1.
source "$(dirname "$0")/lib.sh"

find_chromium() { command -v chromium || command -v chromium-browser || command -v google-chrome; }
CHROME=$(find_chromium)
if [ -z "$CHROME" ]; then
  if [ "${CAPE_SKIP_BROWSER:-}" = 1 ]; then
    echo "   SKIPPED by CAPE_SKIP_BROWSER=1: the report was not rendered in a browser" >&2
    exit 0
  fi
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    echo "   installing Debian's chromium for the browser test (about 100 MB)"
    export DEBIAN_FRONTEND=noninteractive
    pkgs="chromium fonts-dejavu-core"
    apt-get install -y --no-install-recommends $pkgs >/dev/null 2>&1 ||
      { apt-get update >/dev/null 2>&1 && apt-get install -y --no-install-recommends $pkgs >/dev/null 2>&1; }
  fi
  CHROME=$(find_chromium) ||
    die "headless Chromium is needed: sudo apt-get install -y chromium (or CAPE_SKIP_BROWSER=1 to skip explicitly)"
fi

chrome() {
  timeout 120 "$CHROME" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage \
    --hide-scrollbars --no-first-run \
    --disable-extensions --user-data-dir="$TMP/profile" --enable-logging=stderr --v=0 "$@"
}
console_lines() { grep -E ':CONSOLE[:(]' "$1" || true; }

# the console detector itself must see an error on a broken page
printf '<html><body><script>console.error("probe"); missingFunction();</script></body></html>' >"$TMP/bad.html"
chrome --dump-dom "file://$TMP/bad.html" >/dev/null 2>"$TMP/bad.err"
[ -n "$(console_lines "$TMP/bad.err")" ] || die "Chromium console messages are not captured"
npass=$((npass + 1))

expect_exit 0 "$CAPE" report --html "$TMP/report.html"

# a copy with a probe that measures each figure after layout
ids="fig-phase-diagram fig-gamma-size fig-nc-bootstrap fig-loss-law fig-width fig-ode fig-frontier fig-eigen"
probe="<pre id=\"cape-probe\"></pre><script>
const out = [];
for (const id of '$ids'.split(' ')) {
  const f = document.getElementById(id);
  const svgs = f ? f.querySelectorAll('svg') : [];
  for (const s of svgs) {
    const r = s.getBoundingClientRect();
    const marks = s.querySelectorAll('circle,path,rect,line,text').length;
    out.push(id + ' ' + Math.round(r.width) + 'x' + Math.round(r.height) + ' ' + marks);
  }
  if (!svgs.length) out.push(id + ' missing');
}
document.getElementById('cape-probe').textContent = out.join(';');
</script>"
sed "s#</body>#$(printf '%s' "$probe" | tr '\n' ' ' | sed 's/[&#]/\\&/g')</body>#" "$TMP/report.html" >"$TMP/probe.html"
chrome --dump-dom "file://$TMP/probe.html" >"$TMP/dom.html" 2>"$TMP/dom.err"
sed -n 's#.*<pre id="cape-probe">\([^<]*\)</pre>.*#\1#p' "$TMP/dom.html" | tr ';' '\n' >"$TMP/probe.txt"
for id in $ids; do
  line=$(grep -E "^$id " "$TMP/probe.txt" | head -1)
  [ -n "$line" ] || die "figure $id not found in the rendered page: $(head -c 300 "$TMP/probe.txt")"
  set -- $line
  [ -n "${CAPE_VERBOSE:-}" ] && echo "   $line"
  w=${2%x*}; h=${2#*x}
  [ "$w" -ge 300 ] && [ "$h" -ge 250 ] && [ "$3" -ge 40 ] ||
    die "figure $id rendered at ${2} with $3 elements"
  npass=$((npass + 1))
done
grep -q ' missing' "$TMP/probe.txt" && die "a figure has no SVG: $(cat "$TMP/probe.txt")"

# the report itself: no console output at all, then the screenshot
chrome --window-size=1280,3760 --screenshot="$TMP/report.png" "file://$TMP/report.html" \
  >/dev/null 2>"$TMP/shot.err"
c=$(console_lines "$TMP/shot.err")
[ -z "$c" ] || die "the page logged to the console: $c"
npass=$((npass + 1))
[ -s "$TMP/report.png" ] && [ "$(stat -c %s "$TMP/report.png")" -gt 100000 ] ||
  die "no screenshot (or an empty one): $(tail -3 "$TMP/shot.err")"
npass=$((npass + 1))
if [ "${CAPE_UPDATE_SCREENSHOT:-}" = 1 ]; then
  cp "$TMP/report.png" "$TOP/docs/report.png"
  echo "   screenshot saved to docs/report.png"
fi
done_ok
