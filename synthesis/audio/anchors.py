"""The ITU-R BS.1534-3 anchors: the reference low-passed at 3.5 kHz (low) and 7 kHz (mid)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy.signal import firwin, kaiserord, oaconvolve

LOW_ANCHOR_HZ = 3_500.0
MID_ANCHOR_HZ = 7_000.0


@lru_cache(maxsize=16)
def lowpass_kernel(sample_rate: int, passband_hz: float, transition_hz: float = 400.0,
                   attenuation_db: float = 80.0) -> np.ndarray:
    """Linear-phase Kaiser-window FIR: flat to ``passband_hz``, >= ``attenuation_db`` down from
    ``passband_hz + transition_hz``. Odd length, so it is exactly zero-phase when centred."""
    nyquist = sample_rate / 2.0
    if not 0 < passband_hz + transition_hz < nyquist:
        raise ValueError(f"cut-off {passband_hz} Hz does not fit below Nyquist ({nyquist} Hz)")
    numtaps, beta = kaiserord(attenuation_db, transition_hz / nyquist)
    numtaps |= 1
    return firwin(numtaps, passband_hz + transition_hz / 2.0, window=("kaiser", beta), fs=sample_rate)


def lowpass_anchor(wave: np.ndarray, sample_rate: int, cutoff_hz: float) -> np.ndarray:
    """The reference low-passed at ``cutoff_hz``: same length, sample-aligned (no delay)."""
    kernel = lowpass_kernel(sample_rate, float(cutoff_hz))
    return oaconvolve(np.asarray(wave, dtype=np.float64), kernel, mode="same").astype(np.float32)
