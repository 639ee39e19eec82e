#!/usr/bin/env bash
# The attacks on forgetting on the retrofitted Gemma 3 270M: in-context
# reintroduction (the UnUnlearning test, on models that can read their
# context), quantisation and prefix extraction. Does a model that never saw
# the forget authors, or one whose authors are switched off, answer about
# them once their facts are in the prompt; does rounding the weights or
# prompting with the start of an answer bring them back; and how much does
# the content filter stop? Run it after scripts/gemma_retrofit_demo.sh (with
# TRAIN_ONLY=1 if its evaluations are not wanted), on its output.
#
#   scripts/gemma_attack_demo.sh [OUT_DIR]
#
# OUT_DIR is the retrofit demonstration's output (its tofu/ subset and
# models/). Model kinds (those whose model exists), all asked through the
# fine-tuning's rendering (--template cape, or cape's own for the attacks
# that pick it from the model), sink models routed as deployed (--sinks off:
# a question goes to the sinks of the most similar author still on):
#   oracle           fine-tuned without the forget authors (run first: the
#                    other icl runs take its per-item scores, --oracle-run,
#                    for the residual knowledge instead of scoring it again)
#   base             Gemma before fine-tuning (it never saw any TOFU author)
#   plain            fine-tuned on all authors (the positive control)
#   rf-frozen-on     the frozen-backbone retrofit, every author on
#   rf-frozen-off    the same with the forget authors switched off
#   rf-frozen-placebo as many random retained authors off instead
#   rf-none-off      the retrofit whose backbone trained too, forget authors off
# Attacks (ATTACKS, default "icl quantize extract relearn"), outputs under
# OUT_DIR/attack:
#   icl/NAME.json, icl-filter/NAME.json  cape unlearn attack icl, without and
#                    with the forget filter (cape filter build on the subset)
#   quantize/NAME.json   q8_0, q4_0, q4_k, the forget split re-evaluated
#   extract/NAME.json    greedy continuation from growing answer prefixes
#   relearn/NAME.json    fine-tuning on the relearn half (RL_STEPS, RL_LR,
#                    batch 4, embeddings frozen as the fine-tuning froze
#                    them) through the --init trainer, the eval half
#                    measured at each step count; the full model is plain,
#                    the oracle is relearned in its own run (relearn/oracle).
#                    The rate is the attacker's: at the fine-tuning's 1e-4
#                    the plain fine-tune itself loses the eval half (forget
#                    probability 0.89 -> 0.32 in 20 steps), so nothing could
#                    show as recovered; at 1e-5 it keeps it (0.89 -> 0.86)
#   gcg/NAME.json    (not by default: GCG_ITEMS forget rows, GCG_ITERS
#                    iterations, GCG_CANDS candidates, GCG_TOKENS answer
#                    tokens as the target) the adversarial
#                    compression ratio; every candidate costs a forward pass
#                    with Gemma's 262144-token head: GCG_ITEMS=4 GCG_ITERS=20
#                    GCG_CANDS=16 GCG_TOKENS=16 took 19 minutes on the plain
#                    fine-tune and found no prompt even there
#                    (docs/UNLEARN.md)
# Then OUT_DIR/attack/summary.md and icl.svg (scripts/tofu_attack_summary.py).
# A step is skipped when its output exists, so a killed run continues where
# it stopped.
#
# Environment: K (0,1,2,4,8,16), PER_AUTHOR (5: icl questions per forget
# author and condition, of 20), MAX_NEW (48 greedy tokens for icl; quantize
# and extract use their commands' defaults), THREADS (1), KINDS (the list
# above), FILTER_KINDS (the kinds whose icl also runs behind the filter: all
# by default; where the filter blocks every input, as it does here since
# the facts and questions name the author, the filtered result is the same
# for every model but for the copying probe), ATTACKS, RL_STEPS
# (0,5,20), RL_LR (1e-5), GCG_ITEMS (2),
# GCG_ITERS (10), GCG_CANDS (8), GCG_TOKENS (32), CAPE.
#
# Cost, measured on a 2-core AMD EPYC (AVX-512 with BF16), one thread, the
# other core busy: docs/UNLEARN.md ("Attacks on Gemma 3 270M") gives the
# time of each run.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-gemma-retrofit-demo}
cape=${CAPE:-./build/rel/cape}
ks=${K:-0,1,2,4,8,16}
per=${PER_AUTHOR:-5}
maxnew=${MAX_NEW:-48}
threads=${THREADS:-1}
kinds=${KINDS:-oracle base plain rf-frozen-on rf-frozen-off rf-frozen-placebo rf-none-off}
attacks=${ATTACKS:-icl quantize extract relearn}
rl_steps=${RL_STEPS:-0,5,20}
rl_lr=${RL_LR:-1e-5}
gcg_items=${GCG_ITEMS:-2}
gcg_iters=${GCG_ITERS:-10}
gcg_cands=${GCG_CANDS:-8}
gcg_tokens=${GCG_TOKENS:-32}
filter_kinds=${FILTER_KINDS:-$kinds}
want() { case " $attacks " in *" $1 "*) return 0 ;; esac; return 1; }
m=$out/models
sub=$out/tofu
a=$out/attack
[ -f "$sub/forget01_perturbed.json" ] && [ -d "$m" ] || {
  echo "gemma_attack_demo: $out: no tofu/ subset or models/ (run scripts/gemma_retrofit_demo.sh first)" >&2
  exit 2
}
mkdir -p "$a/filter" "$a/icl" "$a/icl-filter"
filter=$a/filter/forget01.filter
[ -f "$filter" ] || "$cape" filter build --tofu "$sub" --forget forget01 -o "$filter"
[ -f "$a/filter/eval.json" ] ||
  "$cape" filter eval "$filter" --tofu "$sub" -o "$a/filter/eval.json" >"$a/filter/eval.txt"

model_of() { # kind -> model file and sinks flags
  case $1 in
    oracle | base | plain) echo "$m/$1/model.gguf" ;;
    rf-frozen-on) echo "$m/rf-frozen/model.gguf --sinks off" ;;
    *) echo "$m/$1.gguf --sinks off" ;;
  esac
}
# run OUT.json cmd...: cmd (which writes OUT.json atomically) unless OUT.json
# exists; the table to OUT.txt, the time to OUT.seconds
run() {
  local o=$1; shift
  [ -f "$o" ] && return 0
  mkdir -p "$(dirname "$o")"
  echo "== ${o#"$a"/}"
  local t0=$SECONDS
  "$@" -o "$o" >"${o%.json}.txt"
  echo "$((SECONDS - t0))" >"${o%.json}.seconds"
}
common=(--tofu "$sub" --forget forget01 --threads "$threads")
for kind in $kinds; do
  read -r model sinks <<<"$(model_of "$kind")"
  [ -f "$model" ] || { echo "== $kind: $model missing, skipped" >&2; continue; }
  sk=()
  [ -n "$sinks" ] && read -ra sk <<<"$sinks"
  if want icl; then
    for f in "" -filter; do
      case " $filter_kinds " in *" $kind "*) ;; *) [ -n "$f" ] && continue ;; esac
      flt=()
      [ -n "$f" ] && flt=(--filter "$filter")
      orc=()
      [ "$kind" != oracle ] && orc=(--oracle-run "$a/icl$f/oracle.json")
      run "$a/icl$f/$kind.json" "$cape" unlearn attack icl "$model" "${common[@]}" "${sk[@]}" \
        "${flt[@]}" "${orc[@]}" --k "$ks" --per-author "$per" --max-new-tokens "$maxnew" \
        --template cape
    done
  fi
  if want quantize; then
    run "$a/quantize/$kind.json" "$cape" unlearn attack quantize "$model" "${common[@]}" "${sk[@]}" \
      --types q8_0,q4_0,q4_k
  fi
  if want extract; then
    run "$a/extract/$kind.json" "$cape" unlearn attack extract "$model" "${common[@]}" "${sk[@]}"
  fi
  if want relearn; then
    full=()
    [ -f "$m/plain/model.gguf" ] && full=(--full-model "$m/plain/model.gguf")
    run "$a/relearn/$kind.json" "$cape" unlearn attack relearn "$model" "${common[@]}" "${sk[@]}" \
      "${full[@]}" --steps "$rl_steps" --lr "$rl_lr" --batch 4 --freeze-embeddings
  fi
  if want gcg; then
    # the sinks of a sink model are off in gcg (its own mode, no routing)
    run "$a/gcg/$kind.json" "$cape" unlearn attack gcg "$model" --tofu "$sub" --forget forget01 \
      --threads "$threads" --max-items "$gcg_items" --iters "$gcg_iters" --cands "$gcg_cands" \
      --max-tokens "$gcg_tokens"
  fi
done
python3 scripts/tofu_attack_summary.py "$out" 01 >/dev/null
echo "== $a/summary.md"
