#!/usr/bin/env bash
# Kathaka and CAMP from the feature cache to their ablation tables, on CPU.
#
#   scripts/train_prosody_systems.sh [kathaka|camp|main|all] [STAGE]
#
# kathaka / camp: train, export and evaluate that system's ablation (prosody metrics: MCD, F0,
# duration); main: every metric (DistillMOS and Whisper WER too) for the baseline, Kathaka and
# CAMP with their oracles (out/eval-main); all: the three in turn.
# STAGE: stage1, stage2, export, evaluate or all (default all). Every step resumes: a training
# continues from RUN/last.pt, a finished stage-2 run (RUN/done) is skipped, an evaluation reuses
# its per-clip cache. Stage 1 gets the baseline's number of updates (the configs' max_steps,
# 1,900, with the final weights kept; BASELINE_STEPS overrides). Exports go to runs/exports/ (the committed subset is
# copied to checkpoints/ by hand, see docs/kathaka.md and docs/camp.md). Evaluations go to
# out/eval-kathaka, out/eval-camp and out/eval-main (40 test clips; EVAL_LIMIT to shorten).
set -euo pipefail
cd "$(dirname "$0")/.."
SYN=${SYN:-.venv/bin/synthesis}
WHICH=${1:-all}
STAGE=${2:-all}
BASELINE=${BASELINE:-checkpoints/baseline/model.pt}
STEPS=${BASELINE_STEPS:-1900}
LIMIT=${EVAL_LIMIT:+--limit $EVAL_LIMIT}
WORKERS=${EVAL_WORKERS:-2}
CAMP_ABLATIONS="bert_only syntax_only no_pos no_word_class no_noun_chunk no_punctuation"

want() { [[ $STAGE == all || $STAGE == "$1" ]]; }

stage2() {  # RUN, then the train arguments; marks RUN/done when training ended by itself
  local run=$1; shift
  [[ -f $run/done ]] && { echo "$run: done"; return; }
  "$SYN" train "$@" --out "$run" --quiet
  touch "$run/done"
}

export_ckpt() {  # RUN OUT [--mode M]
  local run=$1 out=$2; shift 2
  [[ -f $out/model.pt && $out/model.pt -nt $run/best.pt ]] || "$SYN" export-checkpoint "$run" --out "$out" "$@"
}

kathaka() {
  want stage1 && "$SYN" train --system kathaka --stage 1 --config configs/kathaka_stage1.toml \
      --out runs/kathaka_stage1 --max-steps "$STEPS" --max-minutes 0 --quiet
  if want stage2; then
    for s in both bert graph; do
      stage2 runs/kathaka_stage2_$s --system kathaka --stage 2 --sampler $s \
          --config configs/kathaka_stage2.toml --stage1 runs/kathaka_stage1/best.pt
    done
  fi
  if want export; then
    for s in both bert graph; do export_ckpt runs/kathaka_stage2_$s runs/exports/kathaka_$s; done
    export_ckpt runs/kathaka_stage1 runs/exports/kathaka_prior --mode prior
    export_ckpt runs/kathaka_stage1 runs/exports/kathaka_oracle --mode oracle
  fi
  if want evaluate; then
    "$SYN" evaluate --force --no-wavs --workers "$WORKERS" $LIMIT --out out/eval-kathaka --compare-to baseline \
        --metrics mcd f0 duration \
        --checkpoint "baseline=$BASELINE" \
        --checkpoint kathaka-prior=runs/exports/kathaka_prior/model.pt \
        --checkpoint kathaka-bert=runs/exports/kathaka_bert/model.pt \
        --checkpoint kathaka-graph=runs/exports/kathaka_graph/model.pt \
        --checkpoint kathaka-both=runs/exports/kathaka_both/model.pt \
        --checkpoint kathaka-oracle=runs/exports/kathaka_oracle/model.pt
  fi
}

camp() {
  want stage1 && "$SYN" train --system camp --stage 1 --config configs/camp_stage1.toml \
      --out runs/camp_stage1 --max-steps "$STEPS" --max-minutes 0 --quiet
  if want stage2; then
    stage2 runs/camp_stage2 --system camp --stage 2 --config configs/camp_stage2.toml
    for a in $CAMP_ABLATIONS; do
      stage2 runs/camp_stage2_$a --system camp --stage 2 --config configs/camp_stage2_$a.toml
    done
  fi
  if want export; then
    export_ckpt runs/camp_stage2 runs/exports/camp
    export_ckpt runs/camp_stage2 runs/exports/camp_oracle --mode oracle
    for a in $CAMP_ABLATIONS; do export_ckpt runs/camp_stage2_$a runs/exports/camp_$a; done
  fi
  if want evaluate; then
    local args=()
    for a in $CAMP_ABLATIONS; do args+=(--checkpoint "camp-$a=runs/exports/camp_$a/model.pt"); done
    "$SYN" evaluate --force --no-wavs --workers "$WORKERS" $LIMIT --out out/eval-camp --compare-to baseline \
        --metrics mcd f0 duration \
        --checkpoint "baseline=$BASELINE" --checkpoint camp=runs/exports/camp/model.pt \
        --checkpoint camp-oracle=runs/exports/camp_oracle/model.pt "${args[@]}"
  fi
}

main() {  # every metric for the systems a listening test would hold, against the baseline
  "$SYN" evaluate --force --workers "$WORKERS" $LIMIT --out out/eval-main --compare-to baseline \
      --checkpoint "baseline=$BASELINE" \
      --checkpoint kathaka-both=runs/exports/kathaka_both/model.pt \
      --checkpoint kathaka-oracle=runs/exports/kathaka_oracle/model.pt \
      --checkpoint camp=runs/exports/camp/model.pt --checkpoint camp-oracle=runs/exports/camp_oracle/model.pt
}

case $WHICH in
  kathaka) kathaka ;;
  camp) camp ;;
  main) main ;;
  all) kathaka; camp; main ;;
  *) echo "usage: $0 [kathaka|camp|main|all] [stage1|stage2|export|evaluate|all]" >&2; exit 2 ;;
esac
