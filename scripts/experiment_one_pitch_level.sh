#!/usr/bin/env bash
# Baseline, CAMP and Kathaka in a run folder of their own, for variants of the committed recipe
# (configs/baseline_cpu.toml + duration pass, configs/camp_stage1.toml, configs/camp_stage2.toml,
# configs/kathaka_stage{1,2}.toml): another F0 weight, another split. The default split is the
# committed one, ljspeech-mini without LJ003 (whose files are pitched about an octave down and
# very likely altered, docs/corpus.md). Results: docs/camp.md ("One pitch level", "Weighting
# log-F0 in the loss").
#
#   scripts/experiment_one_pitch_level.sh [setup|baseline|camp|kathaka|evaluate|ablations|all]
#
# `ablations` (not part of `all`) trains the stage-2 ablations of configs/camp_stage2_<a>.toml on
# this stage 1 and evaluates them against this baseline.
#
# A variant of the recipe trains in its own folder on the same split:
#   R=runs/lj12-f0 F0_WEIGHT=10 scripts/experiment_one_pitch_level.sh all
# (F0_WEIGHT: [loss] f0 of every config that trains a decoder, docs/synthesis.md; the committed
# configs have 30)
#
# Reads the feature cache of the whole corpus (run `synthesis prepare --out cache/ljspeech-mini`
# first); the split leaves LJ003 out. Each training resumes from its RUN/last.pt.
set -euo pipefail
cd "$(dirname "$0")/.."
SYN=${SYN:-.venv/bin/synthesis}
CORPUS=${CORPUS:-../shared/corpora/ljspeech-mini}
CACHE=${CACHE:-cache/ljspeech-mini}
DROP=${DROP:-LJ003}
SPLIT=${SPLIT:-data/splits/$(basename "$CORPUS").json}
R=${R:-runs/one-pitch-level}   # the runs
EVAL=${EVAL:-out/eval-${R#runs/}}
WHAT=${1:-all}
ABLATIONS=${ABLATIONS:-bert_only syntax_only no_pos no_word_class no_noun_chunk no_punctuation}
want() { [[ $WHAT == all || $WHAT == "$1" ]]; }

config() {  # SRC DST [stage1 path]: the committed config on the cache and the split without $DROP
  sed -e "s#^cache = .*#cache = \"$CACHE\"\nsplit = \"$SPLIT\"#" \
      ${3:+-e "s#^stage1 = .*#stage1 = \"$3\"#"} "$1" > "$2"
}
decoder_config() {  # SRC DST: config() plus the F0 weight of the feature loss
  config "$1" "$2"
  if [[ -n ${F0_WEIGHT:-} ]]; then sed -i "s#^f0 = .*#f0 = $F0_WEIGHT#" "$2"; fi
}

if want setup; then
  mkdir -p $R
  [[ -f $SPLIT ]] || "$SYN" corpus split "$CORPUS" --exclude-chapter "$DROP" --out "$SPLIT"
  decoder_config configs/baseline_cpu.toml $R/baseline.toml
  config configs/baseline_durations.toml $R/baseline_durations.toml $R/baseline/best.pt
  decoder_config configs/camp_stage1.toml $R/camp_stage1.toml
  config configs/camp_stage2.toml $R/camp_stage2.toml $R/camp_stage1/best.pt
  decoder_config configs/kathaka_stage1.toml $R/kathaka_stage1.toml
  config configs/kathaka_stage2.toml $R/kathaka_stage2.toml $R/kathaka_stage1/best.pt
fi
if want baseline; then
  "$SYN" train --system baseline --config $R/baseline.toml --out $R/baseline --max-minutes 0 --quiet
  [[ -f $R/baseline_durations/done ]] || { "$SYN" train --system baseline --stage 2 \
      --config $R/baseline_durations.toml --out $R/baseline_durations --quiet && touch $R/baseline_durations/done; }
  "$SYN" export-checkpoint $R/baseline_durations --out $R/exports/baseline
fi
if want camp; then
  "$SYN" train --system camp --stage 1 --config $R/camp_stage1.toml --out $R/camp_stage1 --max-minutes 0 --quiet
  [[ -f $R/camp_stage2/done ]] || { "$SYN" train --system camp --stage 2 --config $R/camp_stage2.toml \
      --out $R/camp_stage2 --quiet && touch $R/camp_stage2/done; }
  "$SYN" export-checkpoint $R/camp_stage2 --out $R/exports/camp
  "$SYN" export-checkpoint $R/camp_stage2 --out $R/exports/camp_oracle --mode oracle
fi
if want kathaka; then
  "$SYN" train --system kathaka --stage 1 --config $R/kathaka_stage1.toml --out $R/kathaka_stage1 --max-minutes 0 --quiet
  [[ -f $R/kathaka_stage2/done ]] || { "$SYN" train --system kathaka --stage 2 --sampler both \
      --config $R/kathaka_stage2.toml --out $R/kathaka_stage2 --quiet && touch $R/kathaka_stage2/done; }
  "$SYN" export-checkpoint $R/kathaka_stage2 --out $R/exports/kathaka
fi
if want evaluate; then
  "$SYN" evaluate --force --no-wavs --copy-vocoder world --metrics mcd f0 duration --compare-to baseline \
      --corpus "$CORPUS" --split-file "$SPLIT" --out $EVAL \
      --checkpoint baseline=$R/exports/baseline/model.pt --checkpoint camp=$R/exports/camp/model.pt \
      --checkpoint camp-oracle=$R/exports/camp_oracle/model.pt \
      $([[ -f $R/exports/kathaka/model.pt ]] && echo --checkpoint kathaka-both=$R/exports/kathaka/model.pt)
fi
if [[ $WHAT == ablations ]]; then
  args=()
  for a in $ABLATIONS; do
    config configs/camp_stage2_$a.toml $R/camp_stage2_$a.toml $R/camp_stage1/best.pt
    [[ -f $R/camp_stage2_$a/done ]] || { "$SYN" train --system camp --stage 2 --config $R/camp_stage2_$a.toml \
        --out $R/camp_stage2_$a --quiet && touch $R/camp_stage2_$a/done; }
    "$SYN" export-checkpoint $R/camp_stage2_$a --out $R/exports/camp_$a
    args+=(--checkpoint "camp-$a=$R/exports/camp_$a/model.pt")
  done
  "$SYN" evaluate --force --no-wavs --copy-vocoder world --metrics mcd f0 duration --compare-to baseline \
      --corpus "$CORPUS" --split-file "$SPLIT" --out $EVAL-ablations \
      --checkpoint baseline=$R/exports/baseline/model.pt --checkpoint camp=$R/exports/camp/model.pt "${args[@]}"
fi
