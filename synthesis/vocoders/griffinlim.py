"""Griffin-Lim on log-mel: mel -> linear magnitude (pseudo-inverse) -> fast Griffin-Lim."""

from __future__ import annotations

import numpy as np

from synthesis.audio.features import DEFAULT_FEATURES, FeatureConfig, mel_filterbank
from synthesis.vocoders.base import LogMelVocoder, register


@register
class GriffinLimVocoder(LogMelVocoder):
    """Batched fast Griffin-Lim (Perraudin et al. 2013, momentum 0.99) in torch.

    32 iterations: on this corpus 100 iterations scored no better (DistillMOS 3.42 vs 3.46).
    The random initial phase is seeded, so the output is deterministic.
    """

    name = "griffinlim"

    def __init__(self, features: FeatureConfig = DEFAULT_FEATURES, n_iter: int = 32,
                 momentum: float = 0.99, seed: int = 0):
        super().__init__(features)
        self.n_iter = n_iter
        self.momentum = momentum
        self.seed = seed
        self._inverse = np.linalg.pinv(mel_filterbank(features)).astype(np.float32)

    def synthesise_batch(self, features: list[np.ndarray]) -> list[np.ndarray]:
        import torch

        cfg = self.features
        for f in features:
            self.check_features(f)
        lengths = [f.shape[0] for f in features]
        t_max = max(lengths)
        # Layout [batch, frame, bin] throughout: rfft/irfft over the last axis, no transposes.
        mags = np.zeros((len(features), t_max + 1, cfg.n_fft // 2 + 1), dtype=np.float32)
        for i, f in enumerate(features):
            mel = np.exp(f.astype(np.float32))
            mags[i, : f.shape[0]] = np.maximum(mel @ self._inverse.T, 0.0)
        target = torch.from_numpy(mags)
        # One generator per utterance: an utterance gets the same phase alone or in a batch.
        phase = torch.zeros(target.shape)
        for i, t in enumerate(lengths):
            gen = torch.Generator().manual_seed(self.seed)
            phase[i, : t + 1] = (torch.rand((target.shape[2], t + 1), generator=gen) * 2 * np.pi).T
        spec = torch.polar(target, phase)
        stft = _FrameTransform(cfg.n_fft, cfg.hop_length, cfg.win_length, t_max + 1, t_max * cfg.hop_length)
        with torch.inference_mode():
            prev = torch.zeros_like(spec)
            for _ in range(self.n_iter):
                rebuilt = stft.forward(stft.inverse(spec))
                accel = rebuilt - (self.momentum / (1 + self.momentum)) * prev
                prev = rebuilt
                # target * accel / |accel|, with the scale computed on real tensors (cheaper).
                r = torch.view_as_real(accel)
                spec = accel * (target / torch.hypot(r[..., 0], r[..., 1]).add_(1e-8))
            audio = stft.inverse(spec).numpy()
        # Our frames are centred half a hop later than torch's centred frames (see features.py).
        shift = cfg.hop_length // 2
        out = []
        for i, t in enumerate(lengths):
            y = np.concatenate([np.zeros(shift, np.float32), audio[i, : t * cfg.hop_length - shift]])
            out.append(y.astype(np.float32))
        return out


class _FrameTransform:
    """torch.stft / torch.istft (centre=True, reflect padding, Hann window) for one batch shape,
    on ``[batch, frame, bin]`` spectra: frames by ``unfold``, overlap-add by hop-sized slices and
    a window envelope computed once. Same numbers as torch's (to ~1e-6), about twice as fast on
    one CPU thread, which is most of Griffin-Lim's time."""

    def __init__(self, n_fft: int, hop: int, win_length: int, n_frames: int, n_samples: int):
        import torch

        if n_fft % hop:
            raise ValueError(f"n_fft {n_fft} must be a multiple of the hop {hop}")
        window = torch.hann_window(win_length)
        if win_length < n_fft:  # centred in the FFT frame, as torch.stft does
            left = (n_fft - win_length) // 2
            window = torch.nn.functional.pad(window, (left, n_fft - win_length - left))
        self.window = window
        self.n_fft, self.hop, self.n_frames, self.n_samples = n_fft, hop, n_frames, n_samples
        self.overlap = n_fft // hop
        envelope = torch.zeros((n_frames + self.overlap - 1) * hop)
        square = (window * window).reshape(self.overlap, hop)
        for k in range(self.overlap):
            envelope[k * hop: k * hop + n_frames * hop] += square[k].repeat(n_frames)
        self.inv_envelope = torch.where(envelope > 1e-11, 1.0 / envelope, torch.zeros(()))

    def forward(self, x):
        import torch

        pad = self.n_fft // 2
        padded = torch.nn.functional.pad(x[:, None], (pad, pad), mode="reflect")[:, 0]
        return torch.fft.rfft(padded.unfold(-1, self.n_fft, self.hop) * self.window, dim=-1)

    def inverse(self, spec):
        import torch

        frames = torch.fft.irfft(spec, n=self.n_fft, dim=-1) * self.window
        batch, n_frames, hop = frames.shape[0], frames.shape[1], self.hop
        out = torch.zeros(batch, (n_frames + self.overlap - 1) * hop)
        for k in range(self.overlap):
            out[:, k * hop: k * hop + n_frames * hop] += frames[:, :, k * hop:(k + 1) * hop].reshape(batch, -1)
        out *= self.inv_envelope
        start = self.n_fft // 2
        return out[:, start: start + self.n_samples]
