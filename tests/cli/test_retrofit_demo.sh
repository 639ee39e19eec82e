#!/usr/bin/env bash
# scripts/gemma_retrofit_demo.sh on the tiny gemma3 of tests/ref/hf (a few
# steps, 8 rows per split): the TOFU subset has TOFU's layout with the chosen
# authors' rows; the trainer sees the subset's 8 authors as tofu-001..008; with
# the backbone frozen, the forget authors switched off (own sinks) are scored
# exactly as the model before fine-tuning, and so are the real-authors and
# world-facts questions (no author's sinks), while the sinks on change the
# forget answers and a trained backbone changes them even switched off; a
# second run does nothing (every output exists); another recipe in the same
# directory is refused.
. "$(dirname "$0")/lib.sh"

demo=(env CAPE="$CAPE" MODEL=tests/ref/hf/gemma3.gguf STEPS=40 LR=1e-2 SINK_UNITS=32 SINK_K=4
      THREADS=1 MAX_ITEMS=8 MAX_NEW_TOKENS=8 CKPT_EVERY=20
      bash scripts/gemma_retrofit_demo.sh ../shared/data/tofu "$TMP/d")
expect_exit 0 "${demo[@]}"
expect_out "forget: tofu-007,tofu-008"
expect_out "## Placebo"

python3 - ../shared/data/tofu "$TMP/d/tofu" <<'PY' || die "the TOFU subset"
import json, os, sys
src, sub = sys.argv[1], sys.argv[2]
full = [r for l in open(os.path.join(src, "full.json")) if l.strip() for r in json.loads(l)]
sf = json.load(open(os.path.join(sub, "full.json")))
assert sf == full[:120] + full[3960:], "full.json: the first 6 and last 2 authors"
key = lambda r: (r["question"], r["answer"])
fp = json.load(open(os.path.join(sub, "forget01_perturbed.json")))
assert sorted(map(key, fp)) == sorted(map(key, json.load(open(os.path.join(src, "forget01_perturbed.json")))))
assert key(fp[0]) == key(full[3960]) and key(fp[1]) == key(full[3980]), "forget rows interleaved"
rp = json.load(open(os.path.join(sub, "retain_perturbed.json")))
assert sorted(map(key, rp)) == sorted(map(key, full[:120])) and all("perturbed_answer" in r for r in rp)
assert [key(r) for r in rp[:6]] == [key(full[20 * a]) for a in range(6)], "retain rows interleaved"
assert json.load(open(os.path.join(sub, "holdout01.json"))) == json.load(open(os.path.join(src, "holdout01.json")))
for f in ("real_authors_perturbed.json", "world_facts_perturbed.json"):
    assert open(os.path.join(sub, f), "rb").read() == open(os.path.join(src, f), "rb").read(), f
assert open(os.path.join(sub, "forget_sources")).read().strip() == "tofu-007,tofu-008"
PY
npass=$((npass + 1))

expect_exit 0 "$CAPE" info "$TMP/d/models/rf-frozen/model.gguf"
expect_out "sources +8: tofu-001, .*tofu-008"
expect_out "backbone 64 \+ pool 32 units"
expect_exit 0 "$CAPE" info "$TMP/d/models/rf-frozen-off.gguf"
expect_out "switched off +tofu-007, tofu-008"

python3 - "$TMP/d/eval" <<'PY' || die "the retrofit's switches"
import json, sys
ev = lambda n: json.load(open(f"{sys.argv[1]}/{n}/TOFU_EVAL.json"))
by = lambda e, k: e[k]["value_by_index"]
base, on, off, none_off = ev("base"), ev("rf-frozen-on"), ev("rf-frozen-off"), ev("rf-none-off")
for k in ("forget_Q_A_Prob", "forget_truth_ratio", "forget_Q_A_PERT_Prob"):
    assert by(off, k) == by(base, k), "frozen backbone, forget authors off: " + k
    assert by(on, k) != by(base, k), "the sinks did not change " + k
    assert by(none_off, k) != by(base, k), "the trained backbone did not change " + k
for k in ("ra_Q_A_Prob", "ra_Truth_Ratio", "wf_Q_A_Prob", "wf_Truth_Ratio"):
    assert by(on, k) == by(base, k), "frozen backbone, no author's sinks: " + k
for n in ("base", "plain", "rf-frozen-on", "rf-none-placebo"):
    assert ev(n)["forget_quality"]["agg_value"] is not None, n + ": no forget quality"
PY
npass=$((npass + 1))

# every output exists: nothing is trained or evaluated again
expect_exit 0 "${demo[@]}"
! grep -q "== train\|== eval" "$TMP/out" || die "a second run redid work: $(cat "$TMP/out")"
npass=$((npass + 1))
expect_exit 2 env CAPE="$CAPE" MODEL=tests/ref/hf/gemma3.gguf STEPS=41 MAX_ITEMS=8 \
  bash scripts/gemma_retrofit_demo.sh ../shared/data/tofu "$TMP/d"
expect_err "another recipe"

# scripts/gemma_attack_demo.sh on those models (icl, extract and relearn;
# the tiny model's rows are too short for q4_k): one report per kind and
# attack, the oracle's icl run standing for it in the others' residual
# knowledge, relearning through the --init trainer (the sink models with the
# forget authors' sinks off), and the summary with its figures
attack=(env CAPE="$CAPE" K=0,1 PER_AUTHOR=1 MAX_NEW=4 THREADS=1 ATTACKS="icl extract relearn"
        RL_STEPS=0,2 RL_LR=1e-2 bash scripts/gemma_attack_demo.sh "$TMP/d")
expect_exit 0 "${attack[@]}"
python3 - "$TMP/d/attack" <<'PY' || die "gemma_attack_demo outputs"
import json, os, sys
a = sys.argv[1]
kinds = ["oracle", "base", "plain", "rf-frozen-on", "rf-frozen-off", "rf-frozen-placebo", "rf-none-off"]
for sub in ("icl", "icl-filter", "extract"):
    for k in kinds:
        assert os.path.exists(os.path.join(a, sub, k + ".json")), (sub, k)
o = json.load(open(os.path.join(a, "icl", "oracle.json")))
for k in kinds[1:]:
    r = json.load(open(os.path.join(a, "icl", k + ".json")))
    assert r["oracle_run"].endswith("icl/oracle.json") and r["models"]["oracle"]["items"] == o["models"]["model"]["items"], k
    assert [x["k"] for x in r["residual_knowledge"]] == [0, 1], k
f = json.load(open(os.path.join(a, "icl-filter", "rf-frozen-off.json")))
assert f["settings"]["filtered"] and f["models"]["model"]["curves"]["echo"][0]["input_blocked"] >= 1
s = open(os.path.join(a, "summary.md")).read()
assert "## In-context reintroduction" in s and "rf-frozen-off" in s
assert open(os.path.join(a, "icl.svg")).read().startswith("<svg")
for k in kinds:
    r = json.load(open(os.path.join(a, "relearn", k + ".json")))
    assert r["steps"] == [0, 2] and r["full"]["path"].endswith("plain/model.gguf"), k
    # the subset's forget rows interleave the two authors: each is counted once
    assert r["authors"] == 2 and r["relearn_rows"] == r["eval_rows"] == 20, r
    assert r["frozen_embeddings"] is True and r["lr"] == 1e-2, r
    assert r["sinks"] == ("off" if k.startswith("rf-") else None), (k, r["sinks"])
    c = r["curves"]["model"]["curve"]
    assert c[1]["forget_Q_A_Prob"] > c[0]["forget_Q_A_Prob"], (k, c)
assert "## Relearning" in s and "beyond oracle" in s
assert open(os.path.join(a, "relearn.svg")).read().startswith("<svg")
PY
npass=$((npass + 1))
expect_exit 0 "${attack[@]}"
! grep -q "^== .*\.json$" "$TMP/out" || die "a second attack run redid work: $(cat "$TMP/out")"
npass=$((npass + 1))
# gcg on the gemma3 retrofit, its sinks off
expect_exit 0 env CAPE="$CAPE" KINDS=rf-frozen-off ATTACKS=gcg GCG_ITEMS=1 GCG_ITERS=1 GCG_CANDS=2 \
  bash scripts/gemma_attack_demo.sh "$TMP/d"
python3 -c "
import json
g = json.load(open('$TMP/d/attack/gcg/rf-frozen-off.json'))
assert g['items'] == 1 and g['iters'] == 1, g" || die "gcg on the retrofit"
npass=$((npass + 1))
done_ok
