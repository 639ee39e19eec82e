"""Reading one `cape unlearn eval` output directory, for the demonstration
summaries (tofu_unlearn_summary.py, tofu_sweep_summary.py)."""
import json
import math
import os


def load_eval(d):
    """TOFU_SUMMARY.json of directory d with two derived numbers, or None when
    the evaluation is missing: _retain_nll, the retain split's mean answer
    loss (-log of the length-normalised probability), and _retain_utility,
    the harmonic mean of the retain split's probability, ROUGE and truth
    ratio."""
    try:
        s = json.load(open(os.path.join(d, "TOFU_SUMMARY.json")))
        e = json.load(open(os.path.join(d, "TOFU_EVAL.json")))
    except OSError:
        return None
    probs = [v["prob"] if isinstance(v, dict) else v
             for v in e["retain_Q_A_Prob"]["value_by_index"].values()]
    s["_retain_nll"] = sum(-math.log(max(p, 1e-300)) for p in probs) / len(probs)
    three = [s["retain_Q_A_Prob"], s["retain_Q_A_ROUGE"], s["retain_Truth_Ratio"]]
    s["_retain_utility"] = 0.0 if min(three) <= 0 else 3 / sum(1 / v for v in three)
    return s
