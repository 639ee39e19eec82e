#!/usr/bin/env python3
"""One complete TOFU evaluation of a tiny Hugging Face model in Python, for
tests/cli/test_unlearn_eval.sh to set `cape unlearn eval` beside.

The model is the tiny random llama of tests/ref/hf/llama (transformers,
float32). On the first ITEMS rows of each TOFU split (forget01) this script
measures, with transformers, what cape measures: every answer's per-token
log-probabilities after the plain prompt "Question: {q}\\nAnswer:" (the
prompt and " " + answer tokenised as one text, the answer being the tokens
after the prompt's own, as lm-evaluation-harness does; no BOS, as the
fixture's tokenizer adds none; a text longer than the model's context is cut
to it, as cape and open-unlearning's max_length do), the argmax hits, the mean and variance of
log p over the vocabulary (Min-K%++), and the greedy continuation of the
prompt (MAX_NEW tokens, stripped). Then it computes every metric with
make_tofu_eval_ref.expected (open-unlearning's formulas over rouge_score,
scipy and sklearn).

    pip install torch transformers numpy scipy scikit-learn rouge-score
    python3 tests/ref/make_tofu_hf_ref.py     # from the repository root
Writes tests/ref/tofu_eval/hf_llama.json.
"""
import json
import os
import sys

import numpy as np
import torch
import transformers as tf

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_tofu_eval_ref import expected  # noqa: E402

ITEMS, MAX_NEW = 3, 8
MODEL = "tests/ref/hf/llama"
TOFU = os.environ.get("TOFU", "../shared/data/tofu")
FILES = {"forget": "forget01_perturbed.json", "retain": "retain_perturbed.json",
         "ra": "real_authors_perturbed.json", "wf": "world_facts_perturbed.json",
         "holdout": "holdout01.json"}


def rows_of(path):
    text = open(path).read().strip()
    try:
        d = json.loads(text)
        return d if isinstance(d, list) else [d]
    except json.JSONDecodeError:
        out = []
        for line in text.splitlines():
            v = json.loads(line)
            out += v if isinstance(v, list) else [v]
        return out


tok = tf.PreTrainedTokenizerFast(tokenizer_file=os.path.join(MODEL, "tokenizer.json"))
model = tf.AutoModelForCausalLM.from_pretrained(MODEL, dtype=torch.float32).eval()
N_CTX = model.config.max_position_embeddings


def measure(prompt, answer):
    ctx, cont = prompt, " " + answer
    ctx_ids = tok(ctx, add_special_tokens=False)["input_ids"]
    ids = tok(ctx + cont, add_special_tokens=False)["input_ids"][:N_CTX]  # cut at the context
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0].double()
    logp = torch.log_softmax(logits, -1)
    lp, hit, mu, var = [], [], [], []
    for t in range(len(ctx_ids), len(ids)):
        row = logp[t - 1]
        lp.append(float(row[ids[t]]))
        hit.append(int(int(torch.argmax(row)) == ids[t]))
        p = row.exp()
        m = float((p * row).sum())
        mu.append(m)
        var.append(float((p * row * row).sum()) - m * m)
    return {"lp": lp, "hit": hit, "mu": mu, "var": var}


def generate(prompt):
    ids = tok(prompt, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        out = model.generate(torch.tensor([ids]), max_new_tokens=MAX_NEW, do_sample=False,
                             eos_token_id=tok.eos_token_id, pad_token_id=0)
    return tok.decode(out[0][len(ids):], skip_special_tokens=True).strip()


splits = {}
for name, f in FILES.items():
    rows = []
    for r in rows_of(os.path.join(TOFU, f))[:ITEMS]:
        prompt = "Question: %s\nAnswer:" % r["question"]
        row = {"question": r["question"], "answer": r["answer"], "input": prompt,
               "ans": measure(prompt, r["answer"])}
        if name in ("forget", "retain"):
            row["para"] = measure(prompt, r["paraphrased_answer"])
        row["pert"] = [measure(prompt, p) for p in r.get("perturbed_answer", [])]
        if name != "holdout":
            row["generation"] = generate(prompt)
        rows.append(row)
    splits[name] = rows

# what the test compares: every metric per item and aggregated, and the
# greedy generations (the per-token records stay here)
brief = {k: [{"generation": r.get("generation"), "answer_tokens": len(r["ans"]["lp"])} for r in v]
         for k, v in splits.items()}
out = {"model": MODEL, "items": ITEMS, "max_new_tokens": MAX_NEW, "splits": brief,
       "expected": expected(splits, None, None, False)}
os.makedirs("tests/ref/tofu_eval", exist_ok=True)
with open("tests/ref/tofu_eval/hf_llama.json", "w") as fp:
    json.dump(out, fp, separators=(",", ":"))
    fp.write("\n")
print("wrote tests/ref/tofu_eval/hf_llama.json")
