#!/usr/bin/env python3
"""Reference values for the scoring primitives of the unlearning evaluation
(tests/unit/test_rouge.c), computed by the packages the field uses:

  porter.txt   NLTK's PorterStemmer (NLTK_EXTENSIONS, the mode rouge_score
               uses) on every distinct word of the TOFU answers plus synthetic
               words built to reach each rule; a line is "word" when the stem
               is the word itself, else "word K tail": the stem is the first
               K characters of the word followed by tail.
  rouge.json   rouge_score.rouge_scorer.RougeScorer(["rouge1", "rougeL"],
               use_stemmer=True).score(reference, generated) on pairs built
               from TOFU answers: "texts" holds each text once, a pair is
               [ref index, gen index, r1 P, R, F, rL P, R, F].
  ks.json      scipy.stats.ks_2samp(a, b) (two-sided, method 'auto'): D and p;
               large samples are stored as [value, count] histograms. Also
               scipy.stats.kstwo.sf(x, n) over every branch of its method
               choice.
  auc.json     sklearn.metrics.roc_auc_score on scores with ties.

Run from the repository root (the TOFU data beside it in ../shared):
  pip install rouge_score nltk scipy scikit-learn
  python3 tests/ref/make_unlearn_ref.py
"""
import glob
import json
import os
import random
import re
import sys

import nltk
import numpy as np
import rouge_score
import scipy
import sklearn
from nltk.stem import porter
from rouge_score import rouge_scorer
from scipy import stats
from sklearn.metrics import roc_auc_score

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOFU = os.path.join(ROOT, "..", "shared", "data", "tofu")
OUT = os.path.join(ROOT, "tests", "ref", "unlearn")


def load_tofu(name):
    """The TOFU files are JSON arrays, some of them one array per line."""
    rows = []
    with open(os.path.join(TOFU, name), encoding="utf-8") as f:
        for line in f.read().splitlines():
            if line.strip():
                try:
                    rows.extend(json.loads(line))
                except json.JSONDecodeError:
                    rows = json.load(open(os.path.join(TOFU, name), encoding="utf-8"))
                    break
    return rows


def texts_of(rows):
    for r in rows:
        for v in r.values():
            for s in v if isinstance(v, list) else [v]:
                if isinstance(s, str):
                    yield s


def porter_words(all_texts):
    words = set()
    for s in all_texts:
        words.update(re.sub(r"[^a-z0-9]+", " ", s.lower()).split())
    # every rule's suffix on a few stems, the irregular forms, y runs, short words
    suffixes = """s sses ies ss ied eed ed ing ings at ate bl ble iz ize y ational tional enci
    anci izer bli abli alli entli eli ousli ization ation ator alism iveness fulness ousness
    aliti iviti biliti fulli logi icate ative alize iciti ical ful ness al ance ence er ic able
    ible ant ement ment ent ion sion tion ou ism iti ous ive e ll ying yed eying ly ily""".split()
    stems = """c b tr hop fil fail conflat troubl siz hiss fizz feed agre plaster bled motor
    sing happ sky enjo sp fl tr relat rational valen hesit digit conform radic differ vil
    analog vietnam predic oper feud decis hope call form sensi electr good reviv allow infer
    airlin gyroscop adjust defens irrit replac depend adopt homolog commun activ angular effect
    bowdler prob rat ceas control roll geo theo archaeo philo y yy yyy ay oy by sy xy wy d
    dy di die ti li sk new inn outing cann how proc exc succ gener cri quer fr mo ba""".split()
    rng = random.Random(12)
    for su in suffixes:
        for st in rng.sample(stems, 10):
            words.add(st + su)
    alphabet = "aeiouyybcdlmnrstzwx"
    for _ in range(1500):
        w = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 9)))
        words.add(w + rng.choice(suffixes + [""]))
    for w in ["skies", "dying", "lying", "tying", "news", "innings", "inning", "outings",
              "outing", "cannings", "canning", "howe", "proceed", "exceed", "succeed", "ies",
              "dies", "died", "spied", "flies", "a", "y", "yy", "s", "ss", "is", "as", "us",
              "eed", "ed", "ing", "ion", "ate", "logi", "ology", "geology", "x1990s", "1990s",
              "2nd", "4th", "mp3", "abc123ing", "generalization", "oscillators", "yyyyyyyy",
              "syzygy", "toy", "trees", "ivy", "orrery", "oaten", "troubles", "private"]:
        words.add(w)
    return sorted(words)


def rouge_pairs(answers, perturbed, paraphrased):
    rng = random.Random(7)
    pairs = []
    n = len(answers)
    for k in range(70):  # perturbed and paraphrased answers against the answer
        i = rng.randrange(n)
        pairs.append((answers[i], rng.choice(perturbed[i]) if perturbed[i] else answers[i]))
        pairs.append((answers[i], paraphrased[i]))
    for k in range(30):  # unrelated answers, truncations, repetitions
        i, j = rng.randrange(n), rng.randrange(n)
        pairs.append((answers[i], answers[j]))
        words = answers[i].split()
        cut = rng.randrange(len(words) + 1)
        pairs.append((answers[i], " ".join(words[:cut])))
        pairs.append((" ".join(words[cut:]), answers[i]))
        pairs.append((answers[i], " ".join(words[::-1])))
        pairs.append((answers[i], (answers[i] + " ") * rng.randint(2, 4)))
    for k in range(20):  # shuffled words, dropped and doubled tokens
        i = rng.randrange(n)
        words = answers[i].split()
        rng.shuffle(words)
        pairs.append((answers[i], " ".join(w for w in words if rng.random() > 0.3)))
        pairs.append((answers[i], " ".join(w + " " + w if rng.random() < 0.2 else w for w in words)))
    edge = ["", " ", "...", "!!! ???", "a", "A", "1990", "the the the", "The", "3.14 and 2,718",
            "don't stop-believing", "E-mail: x@y.z", "\n\t tab\tand\nnewline",
            "caf\u00e9 na\u00efve \u00c5ngstr\u00f6m", "\u0130stanbul \u0130I", "\u212aelvin 5\u212a",
            "Stra\u00dfe \u00dcber", "\u4e2d\u6587 text \u65e5\u672c", "\U0001F600 smile \U0001F600",
            "\u0391\u0392\u0393 greek \u03a3\u03c3\u03c2", "\ufb01ne \ufb02ow", "\u00bd \u2460 \u00b2",
            "running runs ran runner", "generalization generalizations general",
            "skies dying lying news innings", "connection connected connecting connections"]
    for a in edge:
        for b in edge:
            if rng.random() < 0.25 or a == "" or b == "":
                pairs.append((a, b))
    for i in range(8):
        pairs.append((answers[i], answers[i]))
        pairs.append((answers[i], ""))
        pairs.append(("", answers[i]))
        pairs.append((answers[i], answers[i].upper()))
        pairs.append((answers[i], rng.choice(edge) + " " + answers[i]))
    return pairs


def num(x):
    """An integral value as a JSON integer (shorter), any other as a float."""
    return int(x) if float(x).is_integer() else float(x)


def hist(v):
    vals, counts = np.unique(v, return_counts=True)
    return [[num(a), int(c)] for a, c in zip(vals, counts)]


def ks_cases():
    rng = np.random.default_rng(3)
    cases = []

    def add(a, b, big=False):
        a = np.asarray(a, dtype=float)
        b = np.asarray(b, dtype=float)
        with np.errstate(all="ignore"):
            import warnings
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                r = stats.ks_2samp(a, b)
        c = {"d": float(r.statistic), "p": float(r.pvalue)}
        if big:
            c["a_hist"], c["b_hist"] = hist(a), hist(b)
        else:
            c["a"], c["b"] = [num(x) for x in a], [num(x) for x in b]
        cases.append(c)

    for n1 in range(1, 61):  # every size 1..60, against random sizes
        for _ in range(2):
            n2 = int(rng.integers(1, 61))
            shift = float(rng.choice([0, 0.3, 1.0, 3.0]))
            add(np.round(rng.normal(0, 40, n1)), np.round(rng.normal(40 * shift, 40, n2)))
    for n in range(1, 61):  # equal sizes (the square method and its fallback)
        a = np.round(rng.normal(0, 40, n))
        add(a, np.round(rng.normal(float(rng.choice([0, 8, 40])), 40, n)))
        add(a, a)  # identical samples
        add(a, a + 0.5 * (np.arange(n) % 2))
    for _ in range(40):  # heavy ties: small integer values
        n1, n2 = int(rng.integers(1, 80)), int(rng.integers(1, 80))
        add(rng.integers(0, 4, n1), rng.integers(0, 5, n2))
    for n1, n2 in [(40, 40), (200, 200), (400, 400), (40, 37), (200, 199), (300, 120),
                   (250, 251), (397, 400), (500, 3), (1000, 999), (2000, 7)]:
        for shift in (0.0, 0.15, 0.5):
            big = n1 + n2 > 500
            add(np.round(rng.normal(0, 20, n1)), np.round(rng.normal(20 * shift, 20, n2)), big)
    # above the exact method's size limit: scipy's asymptotic law
    for n1, n2 in [(10001, 1), (10001, 3), (12000, 9), (12000, 40), (10500, 150), (11000, 700),
                   (10001, 10001), (15000, 5000), (20000, 300)]:
        for shift in (0.0, 0.4, 2.0):
            add(rng.integers(0, 60, n1), rng.integers(0, 60, n2) + int(round(shift * 20)),
                big=True)
    # kstwo.sf over its branches (Ruben-Gambino, Durbin/MTW, Pomeranz, Smirnov,
    # Pelz-Good, the tails)
    sf = []
    for n in [1, 2, 3, 5, 8, 13, 20, 40, 70, 100, 140, 141, 200, 500, 1000, 3000, 6000,
              20000, 100001, 200000]:
        for x in sorted(set([0.0, 0.3 / n, 0.5 / n, 0.7 / n, 1.0 / n, 1.5 / n, 2.5 / n,
                             0.05, 0.1, 0.2, 0.3, 0.45, 0.5, 0.6, 0.9, 1 - 1.5 / n, 1.0,
                             0.5 / np.sqrt(n), 0.8 / np.sqrt(n), 0.9 / np.sqrt(n),
                             1.2 / np.sqrt(n), 1.6 / np.sqrt(n), 2.5 / np.sqrt(n),
                             5 / np.sqrt(n), 12 / np.sqrt(n), 20 / np.sqrt(n)])):
            if 0 <= x <= 1:
                sf.append([float(x), n, float(stats.kstwo.sf(x, n))])
    return cases, sf


def auc_cases():
    rng = np.random.default_rng(5)
    cases = []
    for _ in range(80):
        n1, n2 = int(rng.integers(1, 150)), int(rng.integers(1, 150))
        k = int(rng.choice([3, 10, 100, 1000]))
        pos = rng.integers(0, k, n1) + int(rng.choice([0, k // 10, k // 3]))
        neg = rng.integers(0, k, n2)
        y = np.r_[np.ones(n1), np.zeros(n2)]
        s = np.r_[pos, neg]
        cases.append({"pos": [int(v) for v in pos], "neg": [int(v) for v in neg],
                      "auc": float(roc_auc_score(y, s))})
    for pos, neg in [([1.0], [0.0]), ([0.0], [1.0]), ([0.5], [0.5]), ([1, 1, 0], [1, 0, 0]),
                     ([-2.5, 3.0, 3.0], [3.0, -1e300, 1e300]), ([0.1] * 5, [0.1] * 7)]:
        y = np.r_[np.ones(len(pos)), np.zeros(len(neg))]
        cases.append({"pos": [float(v) for v in pos], "neg": [float(v) for v in neg],
                      "auc": float(roc_auc_score(y, np.r_[pos, neg]))})
    return cases


def main():
    os.makedirs(OUT, exist_ok=True)
    all_texts = []
    for name in ("full.json", "real_authors_perturbed.json", "world_facts_perturbed.json"):
        all_texts.extend(r["answer"] for r in load_tofu(name))
    stemmer = porter.PorterStemmer()
    with open(os.path.join(OUT, "porter.txt"), "w", encoding="ascii") as f:
        f.write(f"# nltk {nltk.__version__} PorterStemmer (NLTK_EXTENSIONS): word [K tail]\n")
        for w in porter_words(all_texts):
            s = stemmer.stem(w)
            k = 0
            while k < min(len(w), len(s)) and w[k] == s[k]:
                k += 1
            f.write(w + "\n" if s == w else f"{w} {k}{s[k:]}\n")

    rows = load_tofu("forget10_perturbed.json") + load_tofu("retain_perturbed.json")
    answers = [r["answer"] for r in rows]
    perturbed = [r.get("perturbed_answer", []) for r in rows]
    paraphrased = [r.get("paraphrased_answer", r["answer"]) for r in rows]
    scorer = rouge_scorer.RougeScorer(["rouge1", "rougeL"], use_stemmer=True)
    out, texts, index = [], [], {}

    def text_id(t):
        if t not in index:
            index[t] = len(texts)
            texts.append(t)
        return index[t]

    for ref, gen in rouge_pairs(answers, perturbed, paraphrased):
        sc = scorer.score(ref, gen)
        r1, rl = sc["rouge1"], sc["rougeL"]
        out.append([text_id(ref), text_id(gen), r1.precision, r1.recall, r1.fmeasure,
                    rl.precision, rl.recall, rl.fmeasure])
    with open(os.path.join(OUT, "rouge.json"), "w", encoding="utf-8") as f:
        json.dump({"source": f"rouge_score {getattr(rouge_score, '__version__', '0.1.2')}, "
                             f"nltk {nltk.__version__}", "texts": texts, "pairs": out}, f,
                  ensure_ascii=False, separators=(",", ":"))

    ks, sf = ks_cases()
    with open(os.path.join(OUT, "ks.json"), "w") as f:
        json.dump({"source": f"scipy {scipy.__version__}", "ks_2samp": ks, "kstwo_sf": sf}, f,
                  separators=(",", ":"))
    with open(os.path.join(OUT, "auc.json"), "w") as f:
        json.dump({"source": f"scikit-learn {sklearn.__version__}", "cases": auc_cases()}, f,
                  separators=(",", ":"))
    for name in ("porter.txt", "rouge.json", "ks.json", "auc.json"):
        print(name, os.path.getsize(os.path.join(OUT, name)), file=sys.stderr)


if __name__ == "__main__":
    main()
