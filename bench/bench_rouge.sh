#!/usr/bin/env bash
# ROUGE-L + ROUGE-1 (src/unlearn/rouge.c) against Google's rouge_score
# (use_stemmer=True, the scorer TOFU uses) on the same TOFU pairs: each
# forget10 answer against its perturbed answers, 200 new words of generation
# at most (TOFU's generation length). CPU time per pair, both measured in
# this run; the sums of the recalls must agree.
#   REPEAT=20 bash bench/bench_rouge.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cape=${CAPE:-./build/rel/cape}
tofu=${TOFU:-../shared/data/tofu}
repeat=${REPEAT:-20}
"$cape" version | sed -n 's/^isa: /ISA: /p'
[ -f "$tofu/forget10_perturbed.json" ] || { echo "bench_rouge: no TOFU data in $tofu, skipped"; exit 0; }
python3 -c "import rouge_score, nltk" 2>/dev/null || python3 -m pip install -q rouge_score nltk
make --no-print-directory -s build/rel/libcape.a
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cc -std=c17 -O2 -Isrc -o "$tmp/rouge_bench" bench/rouge_bench.c build/rel/libcape.a -lm
python3 - "$tofu/forget10_perturbed.json" "$tmp/pairs.bin" <<'PY'
import json, sys
rows = json.load(open(sys.argv[1], encoding="utf-8"))
with open(sys.argv[2], "wb") as f:
    for r in rows:
        for gen in r["perturbed_answer"] + [r["paraphrased_answer"]]:
            gen = " ".join(gen.split()[:200])
            f.write(r["answer"].encode() + b"\0" + gen.encode() + b"\0")
PY
read -r pairs cape_us cape_l cape_1 < <("$tmp/rouge_bench" "$tmp/pairs.bin" "$repeat")
python3 - "$tmp/pairs.bin" "$pairs" "$cape_us" "$cape_l" "$cape_1" "$repeat" <<'PY'
import sys, time
from rouge_score import rouge_scorer
data = open(sys.argv[1], "rb").read().split(b"\0")[:-1]
pairs = [(data[i].decode(), data[i + 1].decode()) for i in range(0, len(data), 2)]
n, cape_us, cape_l, cape_1 = int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
repeat = max(1, int(sys.argv[6]) // 10)
sc = rouge_scorer.RougeScorer(["rouge1", "rougeL"], use_stemmer=True)
t0 = time.process_time()
for _ in range(repeat):
    sl = s1 = 0.0
    for ref, gen in pairs:
        r = sc.score(ref, gen)
        sl += r["rougeL"].recall
        s1 += r["rouge1"].recall
py_us = (time.process_time() - t0) * 1e6 / (repeat * len(pairs))
assert n == len(pairs)
ok = abs(sl - cape_l) < 1e-9 and abs(s1 - cape_1) < 1e-9
print(f"pairs {n}: cape {cape_us:.2f} us/pair, rouge_score {py_us:.1f} us/pair, "
      f"ratio {py_us / cape_us:.0f}x; recall sums {'agree' if ok else 'DIFFER'} "
      f"(ROUGE-L {cape_l:.6f}, ROUGE-1 {cape_1:.6f})")
sys.exit(0 if ok else 1)
PY
