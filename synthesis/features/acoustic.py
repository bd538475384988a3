"""Acoustic features of one recording, at the shared frame rate (hop 256 at 22,050 Hz).

One WORLD analysis per clip gives both the vocoder features and the F0 track: Harvest is the
slowest step of ``prepare`` (about 0.2 x real time), so it runs once, not twice.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field

import numpy as np

from synthesis.audio.features import DEFAULT_FEATURES, FeatureConfig, frame_energy, log_mel

ACOUSTIC_FORMAT_VERSION = 1


@dataclass(frozen=True)
class AcousticConfig:
    """What the acoustic side of the cache holds; its hash names a compatible cache."""

    features: FeatureConfig = field(default_factory=lambda: DEFAULT_FEATURES)
    world_n_mcep: int = 60
    world_f0_method: str = "harvest"

    def to_dict(self) -> dict:
        return {"format_version": ACOUSTIC_FORMAT_VERSION, **asdict(self)}

    def hash(self) -> str:
        blob = json.dumps(self.to_dict(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def vocoder(self, kind: str):
        """The vocoder whose features the cache holds for ``kind`` ("world" or "log_mel")."""
        from synthesis.vocoders import get_vocoder

        if kind == "world":
            return get_vocoder("world", features=self.features, n_mcep=self.world_n_mcep,
                               f0_method=self.world_f0_method)
        if kind == "log_mel":
            return get_vocoder("griffinlim", features=self.features)
        raise ValueError(f"unknown acoustic feature kind {kind!r} (world, log_mel)")


def extract_acoustic(wave: np.ndarray, cfg: AcousticConfig) -> dict[str, np.ndarray]:
    """All acoustic targets of one clip.

    Returns arrays with T = len(wave) // hop frames:
        ``log_mel`` [T, 80] float16 (log magnitudes: 3 significant digits are far below
        the model's error), ``world`` [T, 64] float32 (kept at full precision: log-F0 lives in
        one column and float16 would quantise it to ~7 cents), ``f0`` [T] float32 Hz, 0 where
        unvoiced, ``voiced`` [T] bool, ``energy`` [T] float16 dB.
    """
    world = cfg.vocoder("world")
    feats = world.analyse(wave)
    mel = log_mel(wave, cfg.features)
    energy = frame_energy(wave, cfg.features)
    count = min(len(feats), len(mel), len(energy))
    feats, mel, energy = feats[:count], mel[:count], energy[:count]
    _, lf0, voiced, _ = world.split(feats)
    voiced_b = voiced > 0.5
    f0 = np.where(voiced_b, np.exp(lf0), 0.0).astype(np.float32)
    return {
        "log_mel": mel.astype(np.float16),
        "world": feats.astype(np.float32),
        "f0": f0,
        "voiced": voiced_b,
        "energy": energy.astype(np.float16),
    }
