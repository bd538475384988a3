#!/usr/bin/env bash
# Baseline against CAMP on one pitch level: ljspeech-mini without LJ003 (whose clips sit about
# an octave below LJ001/LJ002, docs/corpus.md), with its own seeded split. Everything else is
# the committed recipe (configs/baseline_cpu.toml + duration pass, configs/camp_stage1.toml,
# configs/camp_stage2.toml). Results: docs/camp.md ("One pitch level").
#
#   scripts/experiment_one_pitch_level.sh [setup|baseline|camp|kathaka|evaluate|all]
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
R=runs/lj12
WHAT=${1:-all}
want() { [[ $WHAT == all || $WHAT == "$1" ]]; }

config() {  # SRC DST [stage1 path]: the committed config on the view's cache and split
  sed -e "s#^cache = .*#cache = \"$R/cache\"\nsplit = \"$R/split.json\"#" \
      ${3:+-e "s#^stage1 = .*#stage1 = \"$3\"#"} "$1" > "$2"
}

if want setup; then
  mkdir -p $R/corpus/wavs $R/cache
  grep -v "^$DROP-" "$SRC_CORPUS/metadata.csv" > $R/corpus/metadata.csv
  src_wavs=$(cd "$SRC_CORPUS/wavs" && pwd)
  cut -d'|' -f1 $R/corpus/metadata.csv | while read -r id; do
    ln -sf "$src_wavs/$id.wav" "$R/corpus/wavs/$id.wav"
  done
  src_cache=$(cd "$SRC_CACHE" && pwd)
  for side in acoustic text alignment; do
    mkdir -p $R/cache/$side
    cut -d'|' -f1 $R/corpus/metadata.csv | while read -r id; do
      ln -sf "$src_cache/$side/$id.npz" "$R/cache/$side/$id.npz"
    done
  done
  "$SYN" prepare --corpus $R/corpus --out $R/cache --quiet     # all clips found done: writes the manifest
  "$SYN" corpus split $R/corpus --out $R/split.json
  config configs/baseline_cpu.toml $R/baseline.toml
  config configs/baseline_durations.toml $R/baseline_durations.toml $R/baseline/best.pt
  config configs/camp_stage1.toml $R/camp_stage1.toml
  config configs/camp_stage2.toml $R/camp_stage2.toml $R/camp_stage1/best.pt
  config configs/kathaka_stage1.toml $R/kathaka_stage1.toml
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
      --corpus $R/corpus --split-file $R/split.json --out out/eval-lj12 \
      --checkpoint baseline=$R/exports/baseline/model.pt --checkpoint camp=$R/exports/camp/model.pt \
      --checkpoint camp-oracle=$R/exports/camp_oracle/model.pt \
      $([[ -f $R/exports/kathaka/model.pt ]] && echo --checkpoint kathaka-both=$R/exports/kathaka/model.pt)
fi
