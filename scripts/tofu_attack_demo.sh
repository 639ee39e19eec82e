#!/usr/bin/env bash
# The attack demonstration on TOFU: what do the models of the unlearning
# demonstration (scripts/tofu_unlearn_demo.sh) still know about the forget
# authors when pushed, and how much of what a prompt hands back does the
# content filter stop? Run it after that demonstration, on its output.
#
#   scripts/tofu_attack_demo.sh [TOFU_DIR] [OUT_DIR]
#
# OUT_DIR is the unlearning demonstration's output (its models/ and eval/).
# Model kinds, on the split SPLIT (default 10):
#   full            models/full (no sinks)
#   oracle          models/oracleNN (trained without the forget authors)
#   sinks-on        models/sinks, each question with its author's sinks (own;
#                   routed where the attack has no own mode: icl)
#   sinks-off       models/sinks-offNN.gguf, questions routed (deployment)
#   sinks-off-own   the same, each question with its true author (relearn,
#                   quantize: the attacks with --sinks own)
#   placebo         models/placeboNN.gguf, own ids (routed for extract, icl)
#   METHOD-lrLR     each post-hoc method (METHODS) at the learning rate the
#                   unlearning summary's rule picks (LRS=pick, the default;
#                   LRS="1e-4 1e-3" runs the rates given)
# Attacks (cape unlearn attack, docs/UNLEARN.md), outputs under OUT_DIR/attack:
#   relearn/K.json            --steps 0,1,2,5,10,20,50 on the relearn half,
#                             evaluated on the eval half, with the full model's
#                             values; the oracle's curve is its own run
#                             (relearn/oracle.json, the same halves), so the
#                             summary computes recovery beyond it
#   relearn-unrelated/K.json  the same, fine-tuned on 10 retain items
#   quantize/K.json           q8_0, q4_0, q4_k
#   extract/K.json            greedy extraction from answer prefixes
#   gcg/K.json                adversarial compression ratio on GCG_ITEMS (10)
#                             forget rows drawn (seeded) from all forget
#                             authors (gcg-data/: TOFU_DIR with the forget file
#                             cut to them); sinks-on and placebo with each
#                             row's author's sinks (--sinks own), sinks-off
#                             with every sink off (sinks-off-own is the same
#                             network, not run). Cost: about 2 minutes per
#                             kind for 10 rows at the demonstration's size
#                             (1.5M parameters) on one core of a busy 2-core
#                             AMD EPYC; an answer no shorter prompt elicits
#                             tries every prompt length with 40 iterations
#   icl/K.json, icl-filter/K.json   k 0,1,2,4,8,16 with the copying probe and
#                             the oracle (residual knowledge: the oracle's own
#                             run, --oracle-run), without and with the forget
#                             filter
#   filter/forgetNN.filter, filter/eval.json   cape filter build / eval
# Then OUT_DIR/attack/summary.md and relearn.svg, icl.svg
# (scripts/tofu_attack_summary.py). Each step is skipped when its output
# exists, so a killed run continues where it stopped; a failing step is
# logged in OUT_DIR/attack/failed.txt and the others go on.
# Environment: SPLIT, METHODS, LRS, THREADS, MAX_ITEMS (a quick look: the
# first rows of relearn, quantize, extract; one question per author for icl),
# ATTACKS (default "filter relearn unrelated quantize extract gcg icl"),
# GCG_ITEMS, GCG_ITERS, ICL_PER_AUTHOR, MAX_NEW (greedy tokens; the commands'
# defaults when unset).
set -euo pipefail
cd "$(dirname "$0")/.."
tofu=${1:-../shared/data/tofu}
out=${2:-tofu-unlearn-demo}
cape=${CAPE:-./build/rel/cape}
s=${SPLIT:-10}
methods=${METHODS:-ga graddiff npo simnpo rmu idkdpo}
lrs=${LRS:-pick}
threads=${THREADS:-2}
attacks=${ATTACKS:-filter relearn unrelated quantize extract gcg icl}
gcg_items=${GCG_ITEMS:-10}
gcg_iters=${GCG_ITERS:-40}
m=$out/models
a=$out/attack
items=()
icl_per=()
[ -n "${MAX_ITEMS:-}" ] && items=(--max-items "$MAX_ITEMS") && icl_per=(--per-author 1)
[ -n "${ICL_PER_AUTHOR:-}" ] && icl_per=(--per-author "$ICL_PER_AUTHOR")
newtok=()
[ -n "${MAX_NEW:-}" ] && newtok=(--max-new-tokens "$MAX_NEW")
[ -d "$m" ] || { echo "tofu_attack_demo: $m: no models (run scripts/tofu_unlearn_demo.sh first)" >&2; exit 2; }
mkdir -p "$a"
: > "$a/failed.txt.new"
want() { case " $attacks " in *" $1 "*) return 0 ;; esac; return 1; }

# step OUT.json cmd...: runs cmd (which writes OUT.json itself, atomically)
# unless OUT.json exists; the table goes to OUT.txt, a failure to failed.txt
step() {
  local o=$1; shift
  [ -f "$o" ] && return 0
  mkdir -p "$(dirname "$o")"
  echo "== ${o#"$a"/}"
  local t0=$SECONDS rc=0
  "$@" -o "$o" > "${o%.json}.txt" 2> "${o%.json}.err" || rc=$?
  if [ "$rc" != 0 ]; then
    echo "   failed (exit $rc): $(tail -n 1 "${o%.json}.err")" >&2
    echo "${o#"$a"/} exit $rc: $(tail -n 1 "${o%.json}.err")" >> "$a/failed.txt.new"
    rm -f "$o"
  else
    echo "$((SECONDS - t0))" > "${o%.json}.seconds"
  fi
}

# the model kinds: name, model file, sinks mode for own-capable attacks,
# sinks mode for routed-only attacks (- for none)
kinds=(
  "full $m/full/model.gguf - -"
  "oracle $m/oracle$s/model.gguf - -"
  "sinks-on $m/sinks/model.gguf own off"
  "sinks-off $m/sinks-off$s.gguf off off"
  "sinks-off-own $m/sinks-off$s.gguf own -"
  "placebo $m/placebo$s.gguf own off"
)
if [ "$lrs" = pick ]; then
  picked=$(python3 scripts/tofu_attack_summary.py --pick "$out" "$s")
  for pm in $methods; do
    grep -q "^$pm " <<< "$picked" ||
      echo "tofu_attack_demo: $pm: no evaluation in $out/eval/forget$s to pick a rate from, skipped" >&2
  done
else
  picked=$(for pm in $methods; do for lr in $lrs; do echo "$pm $lr"; done; done)
fi
while read -r pm lr; do
  [ -n "$pm" ] || continue
  case " $methods " in *" $pm "*) ;; *) continue ;; esac
  kinds+=("$pm-lr$lr $m/$pm-lr$lr-f$s.gguf - -")
done <<< "$picked"

full=$m/full/model.gguf
oracle=$m/oracle$s/model.gguf
filter=$a/filter/forget$s.filter
if want filter || want icl; then
  mkdir -p "$a/filter"
  [ -f "$filter" ] || "$cape" filter build --tofu "$tofu" --forget "forget$s" -o "$filter"
  [ -f "$a/filter/eval.json" ] ||
    "$cape" filter eval "$filter" --tofu "$tofu" -o "$a/filter/eval.json" > "$a/filter/eval.txt"
fi
if want gcg && [ ! -f "$a/gcg-data/forget${s}_perturbed.json" ]; then
  # gcg attacks the first rows of a split: a seeded draw across all the
  # forget authors instead, in a copy of the data directory
  mkdir -p "$a/gcg-data"
  for f in "$tofu"/*; do ln -sf "$(cd "$(dirname "$f")" && pwd)/$(basename "$f")" "$a/gcg-data/"; done
  rm -f "$a/gcg-data/forget${s}_perturbed.json"
  python3 - "$tofu/forget${s}_perturbed.json" "$a/gcg-data" "$gcg_items" <<'PY'
import json, os, random, sys
rows = json.load(open(sys.argv[1]))
n = min(int(sys.argv[3]), len(rows))
pick = sorted(random.Random(1).sample(range(len(rows)), n))
d = sys.argv[2]
json.dump(pick, open(os.path.join(d, "rows.json"), "w"))
tmp = os.path.join(d, ".forget.tmp")
json.dump([rows[i] for i in pick], open(tmp, "w"), ensure_ascii=False)
os.replace(tmp, os.path.join(d, os.path.basename(sys.argv[1])))
PY
fi

for kind in "${kinds[@]}"; do
  read -r name model own routed <<< "$kind"
  if [ ! -f "$model" ]; then
    echo "== $name: $model missing, skipped" >&2
    echo "$name: $model missing" >> "$a/failed.txt.new"
    continue
  fi
  sk=()
  [ "$own" != - ] && sk=(--sinks "$own")
  rt=()
  [ "$routed" != - ] && rt=(--sinks "$routed")
  common=(--tofu "$tofu" --forget "forget$s" --threads "$threads")
  if want relearn; then
    step "$a/relearn/$name.json" "$cape" unlearn attack relearn "$model" "${common[@]}" \
      --steps 0,1,2,5,10,20,50 --full-model "$full" "${sk[@]}" "${items[@]}" "${newtok[@]}"
  fi
  if want unrelated; then
    step "$a/relearn-unrelated/$name.json" "$cape" unlearn attack relearn "$model" "${common[@]}" \
      --steps 0,1,2,5,10,20,50 --full-model "$full" --unrelated retain --unrelated-items 10 \
      "${sk[@]}" "${items[@]}" "${newtok[@]}"
  fi
  if want quantize; then
    step "$a/quantize/$name.json" "$cape" unlearn attack quantize "$model" "${common[@]}" \
      --types q8_0,q4_0,q4_k "${sk[@]}" "${items[@]}" "${newtok[@]}"
  fi
  # extract and icl have no own mode: the sinks-off-own kind is left out,
  # sinks-on and placebo are routed
  if want extract && [ "$name" != sinks-off-own ]; then
    step "$a/extract/$name.json" "$cape" unlearn attack extract "$model" "${common[@]}" \
      "${rt[@]}" "${items[@]}" "${newtok[@]}"
  fi
  # gcg with the sinks of the own-capable attacks: sinks-on and placebo
  # with each row's author's sinks, sinks-off all off (sinks-off-own would
  # be the same network: its forget authors are off)
  if want gcg && [ "$name" != sinks-off-own ]; then
    step "$a/gcg/$name.json" "$cape" unlearn attack gcg "$model" --tofu "$a/gcg-data" \
      --forget "forget$s" --max-items "$gcg_items" --iters "$gcg_iters" --seed 1 "${sk[@]}"
  fi
  if want icl && [ "$name" != sinks-off-own ]; then
    # the oracle's own runs stand for it in every other kind's residual
    # knowledge (--oracle-run): it is scored once, not once per kind
    for f in "" -filter; do
      flt=()
      [ -n "$f" ] && flt=(--filter "$filter")
      step "$a/icl$f/oracle.json" "$cape" unlearn attack icl "$oracle" "${common[@]}" \
        --k 0,1,2,4,8,16 "${flt[@]}" "${icl_per[@]}" "${newtok[@]}"
      [ -f "$a/icl$f/oracle.json" ] || continue
      [ "$name" = oracle ] || step "$a/icl$f/$name.json" "$cape" unlearn attack icl "$model" \
        "${common[@]}" --k 0,1,2,4,8,16 "${flt[@]}" --oracle-run "$a/icl$f/oracle.json" "${rt[@]}" \
        "${icl_per[@]}" "${newtok[@]}"
    done
  fi
done

mv "$a/failed.txt.new" "$a/failed.txt"
python3 scripts/tofu_attack_summary.py "$out" "$s"
if [ -s "$a/failed.txt" ]; then
  echo "tofu_attack_demo: some steps failed (see $a/failed.txt)" >&2
  exit 1
fi
