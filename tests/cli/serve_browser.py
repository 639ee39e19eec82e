"""Drives the dashboard of `cape serve` in headless Chromium as a person would:
load the page, use an example loader, type Pythia-1B's scores, read the phase
and N_c off the page, upload a CSV (its families must appear), export a JSON,
open the stress tests (verdicts read off the page against the API, exported,
another seed kept in the URL), with nothing logged to the browser console. Checks what the page shows
against the API's own answers. usage: serve_browser.py URL DOWNLOAD_DIR CSV
SCREENSHOT"""
import json
import os
import sys
import urllib.request

from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

url, downloads, csv_path, shot = sys.argv[1:5]
opts = webdriver.ChromeOptions()
for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
          "--window-size=1280,1800", "--no-first-run"):
    opts.add_argument(a)
opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
opts.add_experimental_option("prefs", {"download.default_directory": downloads,
                                       "download.prompt_for_download": False})
service = webdriver.ChromeService(executable_path="/usr/bin/chromedriver") \
    if hasattr(webdriver, "ChromeService") else None
d = webdriver.Chrome(options=opts, service=service) if service else webdriver.Chrome(options=opts)
checks = 0


def check(cond, what):
    global checks
    if not cond:
        d.save_screenshot(shot + ".fail.png")
        raise SystemExit("FAIL: " + what)
    checks += 1


def wait(fn, what, t=60):
    try:
        return WebDriverWait(d, t).until(lambda _: fn())
    except Exception:
        check(False, "timed out waiting for " + what)


def api(path):
    with urllib.request.urlopen(url.rstrip("/") + path) as r:
        return json.load(r)


try:
    d.get(url)
    wait(lambda: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "1", "the page")
    # the example loader: Pythia-1B with its family
    d.find_element(By.ID, "ex-pythia").click()
    wait(lambda: d.find_elements(By.ID, "phase-label"), "the example's analysis")
    check(d.find_element(By.ID, "f-hs").get_attribute("value") == "49.7", "example filled HS")
    # typed by hand: clear the form, type Pythia-1B's scores and the family
    d.find_element(By.ID, "f-model").clear()
    for fid, v in (("f-model", "typed-pythia-1b"), ("f-size", "1B"), ("f-hs", "49.7"),
                   ("f-tqa", "38.9"), ("f-arc", "29.1"), ("f-wg", "53.6"), ("f-mmlu", "24.3")):
        e = d.find_element(By.ID, fid)
        e.clear()
        e.send_keys(v)
    for fid in ("f-swe", "f-gpqa", "f-ifeval", "f-dmodel"):
        d.find_element(By.ID, fid).clear()
    Select(d.find_element(By.ID, "f-family")).select_by_value("Pythia")
    old = d.find_element(By.ID, "phase-label")
    d.find_element(By.ID, "analyze-go").click()
    wait(lambda: d.find_elements(By.ID, "phase-label") and d.find_element(By.ID, "phase-label") != old,
         "the typed analysis")
    phase = d.find_element(By.ID, "phase-label").text
    nc = d.find_element(By.ID, "nc-value").text
    src = d.find_element(By.ID, "phase-source").text
    gamma = d.find_element(By.ID, "gamma-value").text
    want = api("/api/advise?model=typed-pythia-1b&size=1B&hs=49.7&tqa=38.9&arc=29.1&wg=53.6&mmlu=24.3"
               "&family=Pythia&table=data/benchmarks/paper/paper_base_63.csv")
    check(phase == want["phase"]["phase"] == "tax", "phase on the page %r, API %r" % (phase, want["phase"]))
    # gamma12 by hand from the family's 410M -> 1B step: (38.9 - 41.2)/(49.7 - 40.9)
    check(abs(float(gamma) - (38.9 - 41.2) / (49.7 - 40.9)) < 1e-3, "gamma12 on the page " + gamma)
    check("Pythia family's own" in src, "phase source says the family: " + src)
    ncb = want["critical_scale"]["params"] / 1e9
    check(nc.endswith("B") and abs(float(nc[:-1]) - ncb) < 0.01 * ncb, "N_c %s vs API %.3gB" % (nc, ncb))
    check(d.find_element(By.ID, "ode-pred").text.startswith("HS "), "ODE prediction shown")
    # blank fields are shown as not given, never filled in
    check("not given" in d.find_element(By.ID, "analyze-out").text, "blank scores shown as not given")
    d.save_screenshot(shot)
    # the phase map with figures drawn by the report's code
    d.find_element(By.CSS_SELECTOR, '#tabs button[data-tab="phasemap"]').click()
    wait(lambda: d.find_elements(By.CSS_SELECTOR, "#fig-phase svg") and
         d.find_elements(By.CSS_SELECTOR, "#fig-gamma svg"), "the phase map figures")
    check(len(d.find_elements(By.CSS_SELECTOR, "#fig-phase svg circle, #fig-phase svg path")) > 40,
          "phase diagram has marks")
    check("typed-pythia-1b (yours)" in d.find_element(By.ID, "fig-phase").get_attribute("innerHTML"),
          "the user's model is on the phase map")
    # upload a CSV through the file picker: its families appear
    d.find_element(By.ID, "file").send_keys(csv_path)
    wait(lambda: "(uploaded)" in d.find_element(By.ID, "table-select").get_attribute("innerHTML") and
         "toyfam" in d.find_element(By.ID, "family-select").get_attribute("innerHTML"), "the uploaded families")
    wait(lambda: "toyfam" in d.find_element(By.ID, "phasemap-out").text, "the phase map of the upload")
    d.find_element(By.CSS_SELECTOR, '#tabs button[data-tab="family"]').click()
    Select(d.find_element(By.ID, "family-select")).select_by_value("toyfam")
    wait(lambda: d.find_elements(By.ID, "steps-table") and "-0.300" in d.find_element(By.ID, "steps-table").text,
         "the upload's gamma12 steps (-0.3 by hand)")
    # export the family's JSON
    d.find_element(By.ID, "export-family-json").click()
    path = os.path.join(downloads, "cape-family.json")
    wait(lambda: os.path.exists(path) and os.path.getsize(path) > 0, "the exported JSON", 20)
    with open(path) as f:
        exported = json.load(f)
    check(exported["name"] == "toyfam" and len(exported["steps"]) == 2, "exported JSON content")
    check("explore=toyfam" in d.current_url and "tab=family" in d.current_url, "state in the URL")
    # drag and drop a second table onto the drop zone (a DragEvent carrying a File)
    d.execute_script("""
      const csv = 'model,family,params,hellaswag,truthfulqa_mc2\\n' +
        'd-1,dropfam,100M,30,40\\nd-2,dropfam,1B,40,41\\nd-3,dropfam,10B,50,45\\n';
      const dt = new DataTransfer();
      dt.items.add(new File([csv], 'dropped.csv', {type: 'text/csv'}));
      document.getElementById('drop').dispatchEvent(new DragEvent('drop', {dataTransfer: dt, bubbles: true}));
    """)
    wait(lambda: "dropfam" in d.find_element(By.ID, "family-select").get_attribute("innerHTML") and
         "dropped.csv (uploaded)" in d.find_element(By.ID, "table-select").get_attribute("innerHTML"),
         "the dropped table's family")
    wait(lambda: d.find_elements(By.ID, "steps-table") and "dropfam" in d.find_element(By.ID, "family-out").text,
         "the family explorer recomputed from the dropped table")
    check("explore=dropfam" in d.current_url and "upload=dropped.csv" in d.current_url, "state in the URL")
    # a link reproduces a view: a fresh page on a link with the tab, family and form
    d.get(url + "#tab=family&explore=Pythia&model=linked&size=1B&hs=49.7&tqa=38.9&family=Pythia")
    d.refresh()
    wait(lambda: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "1", "the linked page")
    wait(lambda: "Pythia:" in d.find_element(By.ID, "family-out").text, "the linked family view")
    check(d.find_element(By.ID, "f-model").get_attribute("value") == "linked" and
          d.find_element(By.ID, "phase-label").get_attribute("textContent") == "tax", "the linked analysis")
    # the stress tests of the current table (the paper's 63 models): the verdicts
    # on the page are the API's, with the same seed
    d.find_element(By.CSS_SELECTOR, '#tabs button[data-tab="falsify"]').click()
    wait(lambda: d.find_elements(By.ID, "falsify-verdict-6"), "the stress tests")
    fz = api("/api/falsify?table=data/benchmarks/paper/paper_base_63.csv")["tables"][0]
    v1 = d.find_element(By.ID, "falsify-verdict-1").text
    co = fz["pooled_ushape"]["coincide"]
    check(("coincide" in v1) == (co is True) and ("differ" in v1) == (co is False),
          "test 1 verdict %r, API coincide %r" % (v1, co))
    v3 = d.find_element(By.ID, "falsify-verdict-3").text
    pp = fz["pooled_partial"][0]["permutation"]["p"]
    check(v3.startswith("no coupling") == (pp >= 0.05), "test 3 verdict %r, API p %r" % (v3, pp))
    rows = d.find_element(By.ID, "falsify-table").text
    check("%d observed" % fz["null_model"]["flips_observed"] in rows, "test 2 numbers on the page")
    check("p %s" % ("%.3g" % fz["null_model"]["p_flips"]) in rows,
          "test 2 p value %.3g on the page" % fz["null_model"]["p_flips"])
    check("tab=falsify" in d.current_url, "the stress tests' tab in the URL")
    d.find_element(By.ID, "export-falsify-json").click()
    path = os.path.join(downloads, "cape-falsify.json")
    wait(lambda: os.path.exists(path) and os.path.getsize(path) > 0, "the exported stress tests", 20)
    with open(path) as f:
        check(json.load(f)["tables"][0] == fz, "exported stress tests = the API's")
    check(d.find_elements(By.ID, "export-falsify-csv"), "a CSV export of the stress tests")
    # another seed: recomputed, kept in the URL, and a link to it reproduces it
    e = d.find_element(By.ID, "falsify-seed")
    e.clear()
    e.send_keys("7")
    d.find_element(By.ID, "falsify-go").click()
    wait(lambda: "seed 7," in d.find_element(By.ID, "falsify-out").text, "the stress tests with seed 7")
    check("seed=7" in d.current_url, "the seed in the URL")
    d.get(url + "#tab=falsify&seed=7&table=data/benchmarks/paper/set_b_14.csv")
    d.refresh()
    wait(lambda: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "1", "the linked stress tests")
    wait(lambda: "set_b_14.csv" in d.find_element(By.ID, "falsify-out").text and
         "seed 7," in d.find_element(By.ID, "falsify-out").text, "the linked stress tests view")
    fb = api("/api/falsify?table=data/benchmarks/paper/set_b_14.csv&seed=7")["tables"][0]
    check(("coincide" in d.find_element(By.ID, "falsify-verdict-1").text) ==
          (fb["pooled_ushape"]["coincide"] is True), "the linked view's test 1 verdict")
    # a table without sizes: the tab says what is missing (and asks the server nothing)
    Select(d.find_element(By.ID, "table-select")).select_by_value(
        "data/benchmarks/paper/paper_frontier_34_swe_gpqa.csv")
    wait(lambda: d.find_elements(By.ID, "falsify-error") and
         "need sizes" in d.find_element(By.ID, "falsify-error").text, "the stress tests' refusal")
    logs = d.get_log("browser")
    check(not logs, "the console is not empty: %s" % logs)
finally:
    d.quit()
print("   %d browser checks passed" % checks)
