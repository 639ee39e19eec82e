#!/usr/bin/env bash
# In-context reintroduction on the retrofitted Gemma 3 270M (the UnUnlearning
# test on models that can read their context): does a model that never saw
# the forget authors, or one whose authors are switched off, answer about
# them once their facts are in the prompt, and how much of that does the
# content filter stop? Run it after scripts/gemma_retrofit_demo.sh (with
# TRAIN_ONLY=1 if the evaluations are not wanted), on its output.
#
#   scripts/gemma_icl_demo.sh [OUT_DIR]
#
# OUT_DIR is the retrofit demonstration's output (its tofu/ subset and
# models/). Model kinds (those whose model exists; each with --template cape,
# the fine-tuning's rendering, so that every model is asked alike):
#   oracle           fine-tuned without the forget authors (run first: every
#                    other run takes its per-item scores, --oracle-run, for
#                    the residual knowledge, instead of scoring it again)
#   base             Gemma before fine-tuning (it never saw any TOFU author)
#   plain            fine-tuned on all authors (the positive control)
#   rf-frozen-on     the frozen-backbone retrofit, sinks routed (all on)
#   rf-frozen-off    the same with the forget authors switched off, routed
#                    (as deployed: a question goes to the nearest author on)
#   rf-frozen-placebo as many random retained authors off, routed
#   rf-none-off      the retrofit whose backbone trained too, forget authors
#                    off, routed
# Each runs without and with the forget filter (cape filter build on the
# subset): OUT_DIR/attack/icl/NAME.json and icl-filter/NAME.json, then
# OUT_DIR/attack/summary.md and icl.svg (scripts/tofu_attack_summary.py, the
# icl and filter sections). A step is skipped when its output exists, so a
# killed run continues where it stopped.
#
# Environment: K (0,1,2,4,8,16), PER_AUTHOR (5: questions per forget author
# and condition, of 20), MAX_NEW (48 greedy tokens), THREADS (1), KINDS (the
# list above), CAPE.
#
# Cost, measured on a 2-core AMD EPYC (AVX-512 with BF16), one thread, the
# other core busy, defaults: see docs/UNLEARN.md ("In-context reintroduction
# on Gemma 3 270M") for the times of each kind; sink models in routed mode
# score one question at a time (one mask each), about three times the
# plain models' time.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-gemma-retrofit-demo}
cape=${CAPE:-./build/rel/cape}
ks=${K:-0,1,2,4,8,16}
per=${PER_AUTHOR:-5}
maxnew=${MAX_NEW:-48}
threads=${THREADS:-1}
kinds=${KINDS:-oracle base plain rf-frozen-on rf-frozen-off rf-frozen-placebo rf-none-off}
m=$out/models
sub=$out/tofu
a=$out/attack
[ -f "$sub/forget01_perturbed.json" ] && [ -d "$m" ] || {
  echo "gemma_icl_demo: $out: no tofu/ subset or models/ (run scripts/gemma_retrofit_demo.sh first)" >&2
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
# step OUT.json args...: one icl run unless OUT.json exists; the table to
# OUT.txt, the time to OUT.seconds
step() {
  local o=$1; shift
  [ -f "$o" ] && return 0
  echo "== ${o#"$a"/}"
  local t0=$SECONDS
  "$cape" unlearn attack icl "$@" --tofu "$sub" --forget forget01 --k "$ks" --per-author "$per" \
    --max-new-tokens "$maxnew" --template cape --threads "$threads" -o "$o" >"${o%.json}.txt"
  echo "$((SECONDS - t0))" >"${o%.json}.seconds"
}
for kind in $kinds; do
  read -r model sinks <<<"$(model_of "$kind")"
  [ -f "$model" ] || { echo "== $kind: $model missing, skipped" >&2; continue; }
  sk=()
  [ -n "$sinks" ] && read -ra sk <<<"$sinks"
  for f in "" -filter; do
    flt=()
    [ -n "$f" ] && flt=(--filter "$filter")
    orc=()
    [ "$kind" != oracle ] && orc=(--oracle-run "$a/icl$f/oracle.json")
    step "$a/icl$f/$kind.json" "$model" "${sk[@]}" "${flt[@]}" "${orc[@]}"
  done
done
python3 scripts/tofu_attack_summary.py "$out" 01 >/dev/null
echo "== $a/summary.md, $a/icl.svg"
