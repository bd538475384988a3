"""The vocoder interface shared by copy synthesis and every TTS system."""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from synthesis.audio.features import DEFAULT_FEATURES, FeatureConfig


class Vocoder(ABC):
    """Turns frame-level acoustic features into a waveform, and analyses a waveform into them.

    Features are ``[T, feature_dim]`` float32 at the shared frame rate (hop 256 at 22,050 Hz):
    T = n_samples // hop for a clip of n_samples.
    """

    #: registry name, used in configs and recorded in listening-set provenance
    name: str = ""
    #: which features the acoustic model must predict for this vocoder ("log_mel" or "world")
    feature_kind: str = ""

    def __init__(self, features: FeatureConfig = DEFAULT_FEATURES):
        self.features = features

    @property
    def sample_rate(self) -> int:
        return self.features.sample_rate

    @property
    @abstractmethod
    def feature_dim(self) -> int:
        """Size of one feature frame."""

    @abstractmethod
    def analyse(self, wave: np.ndarray) -> np.ndarray:
        """``[n_samples]`` -> ``[T, feature_dim]`` features."""

    @abstractmethod
    def synthesise_batch(self, features: list[np.ndarray]) -> list[np.ndarray]:
        """Features of several utterances -> one waveform each (``[T * hop]`` samples)."""

    def synthesise(self, features: np.ndarray) -> np.ndarray:
        return self.synthesise_batch([features])[0]

    def check_features(self, features: np.ndarray) -> None:
        if features.ndim != 2 or features.shape[1] != self.feature_dim:
            raise ValueError(f"{self.name} vocoder expects [T, {self.feature_dim}] features, got {list(features.shape)}")

    def copy_synthesis(self, waves: list[np.ndarray]) -> list[np.ndarray]:
        """Recording -> features -> waveform, each output exactly as long as its input."""
        feats = [self.analyse(w) for w in waves]
        outs = self.synthesise_batch(feats)
        return [_fit_length(o, len(w)) for o, w in zip(outs, waves)]

    def describe(self) -> dict:
        return {"name": self.name, "feature_kind": self.feature_kind, "feature_dim": self.feature_dim}


class LogMelVocoder(Vocoder):
    """A vocoder of the shared log-mel (``synthesis.audio.features.log_mel``, DESIGN.md)."""

    feature_kind = "log_mel"

    @property
    def feature_dim(self) -> int:
        return self.features.n_mels

    def analyse(self, wave: np.ndarray) -> np.ndarray:
        from synthesis.audio.features import log_mel

        return log_mel(wave, self.features)


def _fit_length(wave: np.ndarray, length: int) -> np.ndarray:
    if len(wave) >= length:
        return wave[:length]
    return np.pad(wave, (0, length - len(wave)))


_REGISTRY: dict[str, type[Vocoder]] = {}


def register(cls: type[Vocoder]) -> type[Vocoder]:
    _REGISTRY[cls.name] = cls
    return cls


def available_vocoders() -> list[str]:
    _load_builtin()
    return sorted(_REGISTRY)


def get_vocoder(name: str, **kwargs) -> Vocoder:
    """A vocoder by registry name (``griffinlim``, ``world``, ``vocos``, ``hifigan``)."""
    _load_builtin()
    if name not in _REGISTRY:
        raise KeyError(f"unknown vocoder {name!r} (known: {', '.join(sorted(_REGISTRY))})")
    return _REGISTRY[name](**kwargs)


def _load_builtin() -> None:
    # Imported lazily: each implementation pulls in a heavy library (torch, pyworld).
    from synthesis.vocoders import griffinlim, neural, world  # noqa: F401
