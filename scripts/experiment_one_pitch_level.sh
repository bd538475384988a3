#!/usr/bin/env bash
# Baseline against CAMP on one pitch level: ljspeech-mini without LJ003 (whose clips sit about
# an octave below LJ001/LJ002, docs/corpus.md), with its own seeded split. Everything else is
# the committed recipe (configs/baseline_cpu.toml + duration pass, configs/camp_stage1.toml,
# configs/camp_stage2.toml). Results: docs/camp.md ("One pitch level").
#
#   scripts/experiment_one_pitch_level.sh [setup|baseline|camp|kathaka|evaluate|ablations|all]
#
# `ablations` (not part of `all`) trains the stage-2 ablations of configs/camp_stage2_<a>.toml on
# this stage 1 and evaluates them against this baseline.
#
# A variant of the recipe trains in its own folder on the same corpus view and split:
#   R=runs/lj12-f0 F0_WEIGHT=10 scripts/experiment_one_pitch_level.sh all
# (F0_WEIGHT: [loss] f0 of every config that trains the decoder, docs/synthesis.md)
#
# Nothing is copied: the corpus view in runs/lj12/corpus links to the shared wavs, and its
# feature cache links to cache/ljspeech-mini's files (run `synthesis prepare --out
# cache/ljspeech-mini` first). Each training resumes from its RUN/last.pt.
set -euo pipefail
cd "$(dirname "$0")/.."
SYN=${SYN:-.venv/bin/synthesis}
SRC_CORPUS=${SRC_CORPUS:-../shared/corpora/ljspeech-mini}
SRC_CACHE=${SRC_CACHE:-cache/ljspeech-mini}
DROP=${DROP:-LJ003}
V=runs/lj12                    # the corpus view, its cache and split
R=${R:-$V}                     # the runs
EVAL=${EVAL:-out/eval-${R#runs/}}
WHAT=${1:-all}
ABLATIONS=${ABLATIONS:-bert_only syntax_only no_pos no_word_class no_noun_chunk no_punctuation}
want() { [[ $WHAT == all || $WHAT == "$1" ]]; }

config() {  # SRC DST [stage1 path]: the committed config on the view's cache and split
  sed -e "s#^cache = .*#cache = \"$V/cache\"\nsplit = \"$V/split.json\"#" \
      ${3:+-e "s#^stage1 = .*#stage1 = \"$3\"#"} "$1" > "$2"
}
decoder_config() {  # SRC DST: config() plus the F0 weight of the feature loss
  config "$1" "$2"
  if [[ -n ${F0_WEIGHT:-} ]]; then sed -i "s#^\[loss\]#[loss]\nf0 = $F0_WEIGHT#" "$2"; fi
}

if want setup; then
  mkdir -p $V/corpus/wavs $V/cache $R
  if [[ ! -f $V/split.json ]]; then
    grep -v "^$DROP-" "$SRC_CORPUS/metadata.csv" > $V/corpus/metadata.csv
    src_wavs=$(cd "$SRC_CORPUS/wavs" && pwd)
    cut -d'|' -f1 $V/corpus/metadata.csv | while read -r id; do
      ln -sf "$src_wavs/$id.wav" "$V/corpus/wavs/$id.wav"
    done
    src_cache=$(cd "$SRC_CACHE" && pwd)
    for side in acoustic text alignment; do
      mkdir -p $V/cache/$side
      cut -d'|' -f1 $V/corpus/metadata.csv | while read -r id; do
        ln -sf "$src_cache/$side/$id.npz" "$V/cache/$side/$id.npz"
      done
    done
    "$SYN" prepare --corpus $V/corpus --out $V/cache --quiet     # all clips found done: writes the manifest
    "$SYN" corpus split $V/corpus --out $V/split.json
  fi
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
      --corpus $V/corpus --split-file $V/split.json --out $EVAL \
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
      --corpus $V/corpus --split-file $V/split.json --out $EVAL-ablations \
      --checkpoint baseline=$R/exports/baseline/model.pt --checkpoint camp=$R/exports/camp/model.pt "${args[@]}"
fi
