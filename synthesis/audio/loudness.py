"""BS.1770 loudness measurement and alignment without clipping."""

from __future__ import annotations

import numpy as np
from scipy.signal import resample_poly

from synthesis.errors import AudioError

# BS.1770 gates on 400 ms blocks: shorter stimuli have no defined integrated loudness.
MIN_SECONDS = 0.4


def measure_lufs(wave: np.ndarray, sample_rate: int) -> float:
    """Integrated loudness (LUFS, ITU-R BS.1770-4 via pyloudnorm)."""
    import pyloudnorm

    if len(wave) < MIN_SECONDS * sample_rate:
        raise AudioError(f"audio of {len(wave) / sample_rate:.2f} s is too short for BS.1770 loudness (>= 0.4 s)")
    lufs = pyloudnorm.Meter(sample_rate).integrated_loudness(np.asarray(wave, dtype=np.float64))
    if not np.isfinite(lufs):
        raise AudioError("audio is silent: its loudness is undefined")
    return float(lufs)


def true_peak_dbfs(wave: np.ndarray) -> float:
    """Peak after 4x oversampling (BS.1770 Annex 2 style true peak), in dBFS."""
    over = resample_poly(np.asarray(wave, dtype=np.float64), 4, 1)
    peak = max(float(np.max(np.abs(over))), float(np.max(np.abs(wave))), 1e-12)
    return 20.0 * np.log10(peak)


def align_loudness(waves: list[np.ndarray], sample_rate: int, target_lufs: float = -23.0,
                   peak_dbfs: float = -1.0) -> tuple[list[np.ndarray], float]:
    """Bring every wave to one common loudness without any of them exceeding the peak limit.

    All stimuli of a MUSHRA item must be equally loud. If bringing one of them to the target
    would push its true peak above ``peak_dbfs``, the common target is lowered for the whole
    group rather than limiting (and so distorting) that one stimulus.

    Returns:
        the gained waves (float32) and the loudness they now share (LUFS).
    """
    loudness = [measure_lufs(w, sample_rate) for w in waves]
    peaks = [true_peak_dbfs(w) for w in waves]
    # Highest common loudness at which every stimulus still fits under the peak limit.
    headroom = min(peak_dbfs - (p - lufs) for p, lufs in zip(peaks, loudness))
    common = min(target_lufs, headroom)
    out = []
    for w, lufs in zip(waves, loudness):
        gain = 10.0 ** ((common - lufs) / 20.0)
        out.append((np.asarray(w, dtype=np.float64) * gain).astype(np.float32))
    return out, float(common)
