"""Per-chapter breakdown of an evaluation's F0 metrics, and each chapter's pitch in the cache.

Why: in ljspeech-mini every LJ003 clip is pitched about an octave below LJ001/LJ002 (clip
median F0 ~105 Hz against ~180-210 Hz), so a corpus-wide F0 RMSE mixes two things: the
contour a system draws and whether it guessed the chapter's pitch level from the text.

    python benchmarks/f0_by_chapter.py out/eval-level/results.json [--cache cache/ljspeech-mini]

Prints markdown: per chapter and system, mean F0 RMSE (Hz), level error and level-removed
RMSE (cents), log-F0 r and F0 std ratio; paired Wilcoxon tests against the first system on
the clips outside the outlier chapter; and, with --cache, the median F0 of each chapter's
clips from the feature cache (Harvest, as the training features).
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np
from scipy.stats import wilcoxon

from synthesis.corpus import chapter_of as chapter
from synthesis.features.pitch_levels import clip_median_f0

METRICS = [("f0_rmse_hz", "F0 RMSE (Hz)", "{:.1f}"), ("f0_level_error_cents", "level err. (c)", "{:.0f}"),
           ("f0_rmse_shape_cents", "level-removed RMSE (c)", "{:.0f}"), ("log_f0_corr", "log-F0 r", "{:.2f}"),
           ("f0_std_ratio", "F0 std ratio", "{:.2f}")]


def cache_pitch(cache: Path) -> dict[str, list[float]]:
    per = defaultdict(list)
    for p in sorted((cache / "acoustic").glob("*.npz")):
        with np.load(p) as a:
            hz = clip_median_f0(a["f0"])
        if hz is not None:
            per[chapter(p.stem)].append(hz)
    return per


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", type=Path)
    ap.add_argument("--cache", type=Path, help="feature cache (synthesis prepare --out) for chapter pitch")
    ap.add_argument("--outlier", default="LJ003", help="chapter to leave out in the second test table")
    args = ap.parse_args()
    res = json.loads(args.results.read_text(encoding="utf-8"))
    ids = res["clip_ids"]
    systems = [s for s in res["per_clip"] if s not in ("recordings", "copy-world", "copy-griffinlim")]
    chapters = sorted({chapter(i) for i in ids})
    if args.cache:
        print("Clip median F0 (Hz) per chapter, feature cache:\n")
        print("| chapter | clips | median | min | max |\n|---|---|---|---|---|")
        for ch, v in sorted(cache_pitch(args.cache).items()):
            print(f"| {ch} | {len(v)} | {np.median(v):.0f} | {min(v):.0f} | {max(v):.0f} |")
        print()
    for key, label, fmt in METRICS:
        print(f"{label}, mean over the test clips of each chapter:\n")
        print("| system | " + " | ".join(f"{c} ({sum(chapter(i) == c for i in ids)})" for c in chapters)
              + " | all |")
        print("|---" * (len(chapters) + 2) + "|")
        for s in systems:
            cells = []
            for group in [[i for i in ids if chapter(i) == c] for c in chapters] + [ids]:
                v = np.array([res["per_clip"][s][i].get(key, np.nan) for i in group], dtype=float)
                cells.append(fmt.format(np.nanmean(v)))
            print(f"| {s} | " + " | ".join(cells) + " |")
        print()
    base = systems[0]
    rest = [i for i in ids if chapter(i) != args.outlier]
    print(f"Paired Wilcoxon against {base} on the {len(rest)} clips outside {args.outlier} "
          "(p, median per-clip difference):\n")
    print("| system | " + " | ".join("distance of the F0 std ratio from 1" if key == "f0_std_ratio" else label
                                      for key, label, _ in METRICS) + " |")
    print("|---" * (len(METRICS) + 1) + "|")
    for s in systems[1:]:
        cells = []
        for key, _, _ in METRICS:
            a = np.array([res["per_clip"][s][i].get(key, np.nan) for i in rest], dtype=float)
            b = np.array([res["per_clip"][base][i].get(key, np.nan) for i in rest], dtype=float)
            if key == "f0_std_ratio":  # closer to 1 is better: compare distances
                a, b = np.abs(a - 1), np.abs(b - 1)
            ok = np.isfinite(a) & np.isfinite(b)
            p = wilcoxon(a[ok], b[ok]).pvalue
            cells.append(f"{p:.2g} ({np.median(a[ok] - b[ok]):+.2g})")
        print(f"| {s} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
