"""Silence trimming by one rule for every condition of an item."""

from __future__ import annotations

import numpy as np


def silence_bounds(wave: np.ndarray, sample_rate: int, top_db: float = 40.0, pad_s: float = 0.1
                   ) -> tuple[int, int]:
    """``(start, end)`` sample indices of the non-silent part plus ``pad_s`` on each side.

    Silence is anything more than ``top_db`` below the clip's loudest 2048-sample frame
    (librosa.effects.trim). Conditions that are sample-aligned with the recording (anchors,
    copy synthesis) reuse the recording's bounds, so they keep exactly the same span; other
    systems get their own bounds by the same rule.
    """
    import librosa

    _, (start, end) = librosa.effects.trim(np.asarray(wave, dtype=np.float32), top_db=top_db,
                                           frame_length=2048, hop_length=256)
    pad = int(round(pad_s * sample_rate))
    return max(0, int(start) - pad), min(len(wave), int(end) + pad)


def apply_bounds(wave: np.ndarray, bounds: tuple[int, int], fade_s: float = 0.01,
                 sample_rate: int = 22_050) -> np.ndarray:
    """Cut ``wave`` to ``bounds`` with short raised-cosine fades so the cut cannot click."""
    start, end = bounds
    out = np.array(wave[start:end], dtype=np.float32)
    n = min(int(round(fade_s * sample_rate)), len(out) // 2)
    if n > 0:
        ramp = (0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, n))).astype(np.float32)
        out[:n] *= ramp
        out[-n:] *= ramp[::-1]
    return out
