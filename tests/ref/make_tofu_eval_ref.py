#!/usr/bin/env python3
"""Reference values of the TOFU metrics for tests/unit/test_tofu_eval.c.

Builds a small random fixture of what cape's evaluation measures per item
(per-token log-probabilities of the answers, argmax hits, the mean and
variance of log p over the vocabulary, greedy generations), then computes
every metric from it the way open-unlearning does (src/evals/metrics/*.py:
probability, probability_w_options, rouge, truth_ratio, ks_test,
hm_aggregate, privleak, extraction_strength, exact_memorization, the MIA
attacks) with the libraries it uses: rouge_score (use_stemmer=True),
scipy.stats.ks_2samp and hmean, sklearn.metrics.roc_auc_score, zlib.

Run from the repository root (needs numpy, scipy, scikit-learn, rouge-score;
pip-installed at fixture time only):
    python3 tests/ref/make_tofu_eval_ref.py
Writes tests/ref/tofu_eval/fixture.json.
"""
import json
import os
import zlib

import numpy as np
from rouge_score import rouge_scorer
from scipy.stats import hmean, ks_2samp
from sklearn.metrics import roc_auc_score

rng = np.random.default_rng(20261204)
K = 0.4

WORDS = ("The author Basil wrote novels about running rivers and flying birds in Kuwait City; "
         "his father was a florist, his mother a veterinarian. She writes historical fiction "
         "books, published 1998-2004, awarded the Golden Quill! Nikolai's stories explore "
         "identity, migration and cooking traditions of the steppes. 42 cities were mapped").split()


def sentence(lo=3, hi=14):
    n = int(rng.integers(lo, hi))
    return " ".join(WORDS[int(i)] for i in rng.integers(0, len(WORDS), n))


def generation_of(answer):
    r = rng.random()
    if r < 0.15:
        return ""
    toks = answer.split()
    keep = [w for w in toks if rng.random() < 0.6]
    extra = sentence(0, 6).split() if rng.random() < 0.7 else []
    out = keep + extra
    if rng.random() < 0.3:
        out = [w.upper() if rng.random() < 0.3 else w for w in out]
    return " ".join(out)


def seq(n=None):
    n = int(rng.integers(1, 13)) if n is None else n
    lp = np.log(rng.uniform(0.001, 1.0, n))
    hit = (rng.random(n) < 0.6).astype(int)
    if rng.random() < 0.2:
        hit[:] = 1  # a fully memorised answer
    mu = -rng.uniform(0.1, 4.0, n)
    var = rng.uniform(0.0, 3.0, n)
    if n > 1 and rng.random() < 0.3:
        var[0] = 1e-9  # below min-k++'s clamp
    # rounded before any use, so that the fixture holds exactly what was computed on
    r5 = lambda x: [float(v) for v in np.round(x, 5)]
    return {"lp": r5(lp), "hit": hit.tolist(), "mu": r5(mu), "var": [1e-9 if v == 1e-9 else x
            for v, x in zip(var, r5(var))]}


def split(n, para, n_pert, gen=True):
    rows = []
    for i in range(n):
        q = sentence(4, 10) + "?"
        a = sentence()
        row = {"question": q, "answer": a, "input": "Question: %s\nAnswer:" % q, "ans": seq()}
        if para:
            row["para"] = seq()
        row["pert"] = [seq() for _ in range(n_pert)]
        if gen:
            row["generation"] = generation_of(a)
        rows.append(row)
    return rows


def build():
    """The random fixture: per-item measurements of five splits and an oracle."""
    splits = {
        "forget": split(14, True, 5),
        "retain": split(11, True, 5),
        "ra": split(8, False, 3),
        "wf": split(9, False, 3),
        "holdout": split(13, False, 0, gen=False),
    }
    oracle_tr = [float(v) for v in np.round(rng.lognormal(0.0, 0.6, 16), 6)]
    oracle = {
        "forget_truth_ratio": {"agg_value": 0.5,
                               "value_by_index": {str(i): {"score": v} for i, v in enumerate(oracle_tr)}},
        "mia_min_k": {"agg_value": 0.61},
    }
    return splits, oracle, oracle_tr


def avg_loss(s):
    return -float(np.mean(s["lp"]))


scorer = rouge_scorer.RougeScorer(["rouge1", "rougeL"], use_stemmer=True)


def expected(splits, oracle, oracle_tr, with_oracle):
    """Every metric from per-item measurements (splits: rows with "ans",
    "para", "pert" log-probability records, "answer" and "generation"), as
    open-unlearning computes them."""
    ex = {}

    def prob(name, rows, key):
        by = []
        for r in rows:
            if key == "pert":
                by.append([float(np.exp(-avg_loss(p))) for p in r["pert"]])
            else:
                by.append(float(np.exp(-avg_loss(r[key]))))
        agg = float(np.mean([np.mean(b) if isinstance(b, list) else b for b in by]))
        ex[name] = {"agg_value": agg, "by_index": by}

    def prob_options(name, rows):
        c = np.array([np.exp(-avg_loss(r["ans"])) for r in rows])
        w = np.array([sum(np.exp(-avg_loss(p)) for p in r["pert"]) for r in rows])
        p = c / (c + w + 1e-10)
        ex[name] = {"agg_value": float(np.mean(p)), "by_index": p.tolist()}

    def rouge(name, rows):
        rl, r1, f1 = [], [], []
        for r in rows:
            s = scorer.score(r["answer"], r["generation"])
            rl.append(s["rougeL"].recall)
            r1.append(s["rouge1"].recall)
            f1.append(s["rougeL"].fmeasure)
        ex[name] = {"agg_value": float(np.mean(rl)), "by_index": rl, "rouge1_recall": r1,
                    "rougeL_f1": f1}

    def truth_ratio(name, rows, correct_key, closer):
        cl = np.array([avg_loss(r[correct_key]) for r in rows])
        wl = np.array([np.mean([avg_loss(p) for p in r["pert"]]) for r in rows])
        tr = np.exp(-wl) / (np.exp(-cl) + 1e-10)
        agg = (np.mean(np.minimum(tr, 1 / (tr + 1e-10))) if closer
               else np.mean(np.maximum(0, 1 - tr)))
        ex[name] = {"agg_value": float(agg), "by_index": tr.tolist()}
        return tr

    f, rt, ra, wf, ho = (splits[k] for k in ("forget", "retain", "ra", "wf", "holdout"))
    prob("forget_Q_A_Prob", f, "ans")
    rouge("forget_Q_A_ROUGE", f)
    prob("forget_Q_A_PARA_Prob", f, "para")
    prob("forget_Q_A_PERT_Prob", f, "pert")
    ftr = truth_ratio("forget_truth_ratio", f, "para", True)
    ex["forget_quality"] = {"agg_value": float(ks_2samp(ftr, np.array(oracle_tr)).pvalue)
                            if with_oracle else None}
    prob("retain_Q_A_Prob", rt, "ans")
    rouge("retain_Q_A_ROUGE", rt)
    prob("retain_Q_A_PARA_Prob", rt, "para")
    prob("retain_Q_A_PERT_Prob", rt, "pert")
    truth_ratio("retain_Truth_Ratio", rt, "para", False)
    for tag, rows in (("ra", ra), ("wf", wf)):
        prob(tag + "_Q_A_Prob", rows, "ans")
        prob(tag + "_Q_A_PERT_Prob", rows, "pert")
        prob_options(tag + "_Q_A_Prob_normalised", rows)
        rouge(tag + "_Q_A_ROUGE", rows)
        truth_ratio(tag + "_Truth_Ratio", rows, "ans", False)
    parts = ["retain_Q_A_Prob", "retain_Q_A_ROUGE", "retain_Truth_Ratio",
             "ra_Q_A_Prob_normalised", "ra_Q_A_ROUGE", "ra_Truth_Ratio",
             "wf_Q_A_Prob_normalised", "wf_Q_A_ROUGE", "wf_Truth_Ratio"]
    ex["model_utility"] = {"agg_value": float(hmean([ex[p]["agg_value"] for p in parts]))}

    # extraction strength and exact memorisation (open-unlearning's loops)
    es, em = [], []
    for r in f:
        hit = np.array(r["ans"]["hit"])
        n = len(hit)
        preds = np.where(hit == 1, 0, 1)  # argmax == label exactly where hit
        labels = np.zeros(n, dtype=int)
        for k in range(n):
            if np.array_equal(preds[k:], labels[k:]):
                break
        es.append(1 - k / n)
        em.append(float((preds == labels).sum() / n))
    ex["extraction_strength"] = {"agg_value": float(np.mean(es)), "by_index": es}
    ex["exact_memorization"] = {"agg_value": float(np.mean(em)), "by_index": em}

    def min_k(v):
        num_k = max(1, int(len(v) * K))
        return -float(np.mean(np.sort(v)[:num_k]))

    def score(kind, r):
        s = r["ans"]
        if kind == "mia_loss":
            return avg_loss(s)
        if kind == "mia_zlib":
            return avg_loss(s) / len(zlib.compress(r["answer"].encode("utf-8")))
        if kind == "mia_min_k":
            return min_k(np.array(s["lp"]))
        mu, var = np.array(s["mu"]), np.maximum(np.array(s["var"]), 1e-6)
        return min_k((np.array(s["lp"]) - mu) / np.sqrt(var))

    for kind in ("mia_loss", "mia_zlib", "mia_min_k", "mia_min_k_plus_plus"):
        fs = [score(kind, r) for r in f]
        hs = [score(kind, r) for r in ho]
        auc = roc_auc_score([0] * len(fs) + [1] * len(hs), fs + hs)
        ex[kind] = {"agg_value": float(auc), "forget": fs, "holdout": hs}
    ref = oracle["mia_min_k"]["agg_value"] if with_oracle else 0.5
    s, rr = 1 - ex["mia_min_k"]["agg_value"], 1 - ref
    ex["privleak"] = {"agg_value": (s - rr) / (rr + 1e-10) * 100}
    return ex


if __name__ == "__main__":
    splits, oracle, oracle_tr = build()
    out = {"min_k": K, "splits": splits, "oracle": oracle,
           "expected": expected(splits, oracle, oracle_tr, True),
           "expected_no_oracle": expected(splits, oracle, oracle_tr, False)}
    os.makedirs("tests/ref/tofu_eval", exist_ok=True)
    with open("tests/ref/tofu_eval/fixture.json", "w") as fp:
        json.dump(out, fp, separators=(",", ":"))
        fp.write("\n")
    print("wrote tests/ref/tofu_eval/fixture.json")
