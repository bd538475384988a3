"""Acoustic features at the shared frame rate (hop 256 at 22,050 Hz, 11.6 ms).

The log-mel follows the common LJSpeech/HiFi-GAN setting so that outside vocoders fit:
reflect-pad (n_fft - hop) / 2 on both sides, STFT without centring, magnitude (not power),
librosa's Slaney mel filterbank, natural log of the magnitudes clamped at 1e-5. A clip of N
samples gives N // hop frames; frame i is centred on sample i * hop + hop / 2.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache

import numpy as np


@dataclass(frozen=True)
class FeatureConfig:
    sample_rate: int = 22_050
    n_fft: int = 1024
    hop_length: int = 256
    win_length: int = 1024
    n_mels: int = 80
    fmin: float = 0.0
    fmax: float = 8_000.0
    log_clamp: float = 1e-5
    f0_floor: float = 65.0
    f0_ceil: float = 600.0

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def frame_seconds(self) -> float:
        return self.hop_length / self.sample_rate


DEFAULT_FEATURES = FeatureConfig()


@lru_cache(maxsize=8)
def mel_filterbank(cfg: FeatureConfig = DEFAULT_FEATURES) -> np.ndarray:
    """``[n_mels, n_fft // 2 + 1]`` Slaney-normalised mel filterbank (librosa's default)."""
    import librosa

    return librosa.filters.mel(sr=cfg.sample_rate, n_fft=cfg.n_fft, n_mels=cfg.n_mels,
                               fmin=cfg.fmin, fmax=cfg.fmax).astype(np.float32)


def n_frames(n_samples: int, cfg: FeatureConfig = DEFAULT_FEATURES) -> int:
    return n_samples // cfg.hop_length


def _frames(wave: np.ndarray, cfg: FeatureConfig) -> np.ndarray:
    """``[T, win]`` windowed frames with the HiFi-GAN padding; T = N // hop."""
    pad = (cfg.n_fft - cfg.hop_length) // 2
    padded = np.pad(np.asarray(wave, dtype=np.float32), (pad, pad), mode="reflect")
    count = n_frames(len(wave), cfg)
    idx = np.arange(cfg.win_length)[None, :] + cfg.hop_length * np.arange(count)[:, None]
    return padded[idx]


def magnitude_spectrogram(wave: np.ndarray, cfg: FeatureConfig = DEFAULT_FEATURES) -> np.ndarray:
    """``[T, n_fft // 2 + 1]`` STFT magnitudes (Hann window)."""
    if len(wave) < cfg.n_fft:
        raise ValueError(f"audio of {len(wave)} samples is shorter than one analysis window ({cfg.n_fft})")
    window = np.hanning(cfg.win_length + 1)[:-1].astype(np.float32)  # periodic Hann, as torch/librosa
    spec = np.fft.rfft(_frames(wave, cfg) * window, n=cfg.n_fft, axis=1)
    return np.abs(spec).astype(np.float32)


def log_mel(wave: np.ndarray, cfg: FeatureConfig = DEFAULT_FEATURES) -> np.ndarray:
    """``[T, n_mels]`` natural-log mel magnitudes, clamped at ``cfg.log_clamp``."""
    mel = magnitude_spectrogram(wave, cfg) @ mel_filterbank(cfg).T
    return np.log(np.maximum(mel, cfg.log_clamp)).astype(np.float32)


def frame_energy(wave: np.ndarray, cfg: FeatureConfig = DEFAULT_FEATURES) -> np.ndarray:
    """``[T]`` frame energy in dB (RMS of the windowed frame, floor -100 dB)."""
    window = np.hanning(cfg.win_length + 1)[:-1].astype(np.float32)
    frames = _frames(wave, cfg) * window
    rms = np.sqrt(np.mean(frames ** 2, axis=1) / np.mean(window ** 2))
    return (20.0 * np.log10(np.maximum(rms, 1e-5))).astype(np.float32)


def pitch(wave: np.ndarray, cfg: FeatureConfig = DEFAULT_FEATURES, method: str = "harvest"
          ) -> tuple[np.ndarray, np.ndarray]:
    """F0 and voicing at the mel frame centres.

    Uses WORLD's Harvest (robust, slower) or DIO + StoneMask (fast). Returns ``(f0_hz [T],
    voiced [T] bool)``; f0 is 0 where unvoiced.
    """
    import pyworld

    x = np.asarray(wave, dtype=np.float64)
    count = n_frames(len(x), cfg)
    # Analyse at the mel frame centres so F0 lines up with the log-mel frames exactly.
    t = (np.arange(count) * cfg.hop_length + cfg.hop_length / 2) / cfg.sample_rate
    period_ms = 1000.0 * cfg.hop_length / cfg.sample_rate
    if method == "harvest":
        f0, _ = pyworld.harvest(x, cfg.sample_rate, f0_floor=cfg.f0_floor, f0_ceil=cfg.f0_ceil,
                                       frame_period=period_ms)
    elif method == "dio":
        f0, t_native = pyworld.dio(x, cfg.sample_rate, f0_floor=cfg.f0_floor, f0_ceil=cfg.f0_ceil,
                                   frame_period=period_ms)
        f0 = pyworld.stonemask(x, f0, t_native, cfg.sample_rate)
    else:
        raise ValueError(f"unknown F0 method {method!r} (harvest, dio)")
    # Interpolate between the two native frames around each centre when both are voiced;
    # otherwise take the nearer one, so voicing edges never produce half-way F0 values.
    pos = t / (period_ms / 1000.0)
    lo = np.clip(np.floor(pos).astype(int), 0, len(f0) - 1)
    hi = np.clip(lo + 1, 0, len(f0) - 1)
    frac = pos - lo
    both = (f0[lo] > 0) & (f0[hi] > 0)
    nearest = np.where(frac < 0.5, f0[lo], f0[hi])
    out = np.where(both, (1 - frac) * f0[lo] + frac * f0[hi], nearest)
    voiced = out > 0
    return out.astype(np.float32), voiced
