"""Griffin-Lim on log-mel: mel -> linear magnitude (pseudo-inverse) -> fast Griffin-Lim."""

from __future__ import annotations

import numpy as np

from synthesis.audio.features import DEFAULT_FEATURES, FeatureConfig, log_mel, mel_filterbank
from synthesis.vocoders.base import Vocoder, register


@register
class GriffinLimVocoder(Vocoder):
    """Batched fast Griffin-Lim (Perraudin et al. 2013, momentum 0.99) in torch.

    32 iterations: on this corpus 100 iterations scored no better (DistillMOS 3.42 vs 3.46).
    The random initial phase is seeded, so the output is deterministic.
    """

    name = "griffinlim"
    feature_kind = "log_mel"

    def __init__(self, features: FeatureConfig = DEFAULT_FEATURES, n_iter: int = 32,
                 momentum: float = 0.99, seed: int = 0):
        super().__init__(features)
        self.n_iter = n_iter
        self.momentum = momentum
        self.seed = seed
        self._inverse = np.linalg.pinv(mel_filterbank(features)).astype(np.float32)

    @property
    def feature_dim(self) -> int:
        return self.features.n_mels

    def analyse(self, wave: np.ndarray) -> np.ndarray:
        return log_mel(wave, self.features)

    def synthesise_batch(self, features: list[np.ndarray]) -> list[np.ndarray]:
        import torch

        cfg = self.features
        for f in features:
            self.check_features(f)
        lengths = [f.shape[0] for f in features]
        t_max = max(lengths)
        mags = np.zeros((len(features), cfg.n_fft // 2 + 1, t_max + 1), dtype=np.float32)
        for i, f in enumerate(features):
            mel = np.exp(f.astype(np.float32))
            mags[i, :, : f.shape[0]] = np.maximum(mel @ self._inverse.T, 0.0).T
        target = torch.from_numpy(mags)
        window = torch.hann_window(cfg.win_length)
        # One generator per utterance: an utterance gets the same phase alone or in a batch.
        phase = torch.zeros(target.shape)
        for i, t in enumerate(lengths):
            gen = torch.Generator().manual_seed(self.seed)
            phase[i, :, : t + 1] = torch.rand((target.shape[1], t + 1), generator=gen) * 2 * np.pi
        spec = torch.polar(target, phase)
        n_samples = t_max * cfg.hop_length

        def istft(s):
            return torch.istft(s, cfg.n_fft, cfg.hop_length, cfg.win_length, window, center=True,
                               length=n_samples)

        def stft(x):
            return torch.stft(x, cfg.n_fft, cfg.hop_length, cfg.win_length, window, center=True,
                              return_complex=True)

        with torch.inference_mode():
            prev = torch.zeros_like(spec)
            for _ in range(self.n_iter):
                rebuilt = stft(istft(spec))
                accel = rebuilt - (self.momentum / (1 + self.momentum)) * prev
                prev = rebuilt
                spec = target * (accel / (accel.abs() + 1e-8))
            audio = istft(spec).numpy()
        # Our frames are centred half a hop later than torch's centred frames (see features.py).
        shift = cfg.hop_length // 2
        out = []
        for i, t in enumerate(lengths):
            y = np.concatenate([np.zeros(shift, np.float32), audio[i, : t * cfg.hop_length - shift]])
            out.append(y.astype(np.float32))
        return out
