"""Pitch level of each chapter of a corpus: a data check before training on it.

A single-speaker corpus can still hold recordings whose pitch level differs by far more than
reading style explains: in ljspeech-mini every LJ003 clip sits about an octave below LJ001
and LJ002 (clip median F0 ~105 Hz against ~180-210 Hz). A text-only model then has to guess
each sentence's pitch level from its content, and corpus-wide F0 errors mostly measure that
guess (docs/corpus.md). Pure logic: clip medians in, per-chapter summary out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synthesis.corpus import chapter_of

#: a chapter whose median F0 is further than this from the median chapter is reported; reading
#: style moves a speaker's level by a few semitones, an octave is another voice or a processing
#: accident
OUTLIER_SEMITONES = 5.0
#: fewer clips than this do not establish a chapter's level (ids without chapters are one each)
MIN_CLIPS = 5


@dataclass(frozen=True)
class ChapterPitch:
    chapter: str
    n_clips: int
    median_hz: float
    semitones_from_typical: float   # against the median of the chapter medians

    @property
    def outlier(self) -> bool:
        return self.n_clips >= MIN_CLIPS and abs(self.semitones_from_typical) > OUTLIER_SEMITONES


def clip_median_f0(f0: np.ndarray) -> float | None:
    """Median F0 (Hz) of a clip's voiced frames (F0 > 0); None for a clip without any."""
    f0 = np.asarray(f0, dtype=np.float64)
    voiced = f0[f0 > 0]
    return float(np.median(voiced)) if len(voiced) else None


def chapter_pitch_levels(clip_medians: dict[str, float]) -> list[ChapterPitch]:
    """Per-chapter pitch summary, sorted by chapter; empty for no clips."""
    groups: dict[str, list[float]] = {}
    for cid, hz in clip_medians.items():
        if hz is not None and hz > 0:
            groups.setdefault(chapter_of(cid), []).append(float(hz))
    if not groups:
        return []
    medians = {ch: float(np.median(v)) for ch, v in groups.items()}
    typical = float(np.median(list(medians.values())))
    return [ChapterPitch(ch, len(v), medians[ch], 12.0 * float(np.log2(medians[ch] / typical)))
            for ch, v in sorted(groups.items())]


def pitch_warnings(levels: list[ChapterPitch]) -> list[str]:
    """One line per outlier chapter."""
    return [f"chapter {c.chapter}: median F0 {c.median_hz:.0f} Hz over {c.n_clips} clips is "
            f"{c.semitones_from_typical:+.1f} semitones from the typical chapter; F0 metrics that mix "
            f"chapters mostly measure pitch level there (docs/corpus.md)"
            for c in levels if c.outlier]
