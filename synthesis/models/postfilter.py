"""Adversarial post-filter for predicted mel-cepstra (after Kaneko et al., ICASSP 2017).

An acoustic model trained with an L1 loss predicts close to the conditional mean: its
mel-cepstral envelope moves over time at a fraction of the recordings' rate (transitions are
smeared, consonants get lost; ``benchmarks/feature_dynamics.py``). The post-filter is a small
residual convolutional network that maps the predicted (normalised) mel-cepstra c1.. to
recording-like ones. It is trained afterwards, on the frozen acoustic model's teacher-forced
predictions of the training clips, against a discriminator that tells predicted from recorded
spectrogram patches (time x quefrency), plus feature matching and an L1 anchor to the
recording (``synthesis.training.postfilter``).

The generator starts as the identity (zeroed output layer), so an untrained or weak post-filter
changes nothing. Only the spectral envelope is touched: c0 (loudness), log-F0, voicing and
aperiodicity pass unchanged, so every prosody metric stays the acoustic model's own.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from synthesis.errors import ConfigError


@dataclass(frozen=True)
class PostFilterConfig:
    """Shape of the generator; ``first_dim``..``end_dim`` are the feature columns it filters."""

    first_dim: int = 1          # c1: c0 is loudness, left alone
    end_dim: int = 60           # exclusive: the 60 mel-cepstra of the WORLD layout end at 60
    hidden: int = 192
    kernel: int = 5
    dilations: tuple[int, ...] = (1, 2, 4, 1)

    @property
    def n_dims(self) -> int:
        return self.end_dim - self.first_dim

    def to_dict(self) -> dict:
        d = asdict(self)
        d["dilations"] = list(self.dilations)
        return d

    @classmethod
    def from_dict(cls, d: dict, where: str = "[model]") -> PostFilterConfig:
        known = {"first_dim", "end_dim", "hidden", "kernel", "dilations"}
        bad = set(d) - known
        if bad:
            raise ConfigError(f"{where}: unknown keys {', '.join(sorted(bad))} ({', '.join(sorted(known))})")
        merged = {**cls().to_dict(), **d}
        for key in ("first_dim", "end_dim", "hidden", "kernel"):
            if not isinstance(merged[key], int) or isinstance(merged[key], bool):
                raise ConfigError(f"{where}: {key} must be an integer, got {merged[key]!r}")
        dil = merged["dilations"]
        if not isinstance(dil, list | tuple) or not dil or not all(isinstance(v, int) and v >= 1 for v in dil):
            raise ConfigError(f"{where}: dilations must be a non-empty list of positive integers, got {dil!r}")
        cfg = cls(merged["first_dim"], merged["end_dim"], merged["hidden"], merged["kernel"], tuple(dil))
        if not (0 <= cfg.first_dim < cfg.end_dim):
            raise ConfigError(f"{where}: need 0 <= first_dim < end_dim, got {cfg.first_dim}, {cfg.end_dim}")
        if cfg.hidden < 1 or cfg.kernel < 1 or cfg.kernel % 2 == 0:
            raise ConfigError(f"{where}: hidden must be positive and kernel odd, got {cfg.hidden}, {cfg.kernel}")
        return cfg


class CepstralPostFilter(nn.Module):
    """Generator: normalised mel-cepstra [B, T, D] -> the same plus a learned residual."""

    def __init__(self, cfg: PostFilterConfig):
        super().__init__()
        self.cfg = cfg
        k = cfg.kernel
        self.inp = nn.Conv1d(cfg.n_dims, cfg.hidden, k, padding=k // 2)
        self.blocks = nn.ModuleList(nn.Conv1d(cfg.hidden, cfg.hidden, k, padding=(k // 2) * d, dilation=d)
                                    for d in cfg.dilations)
        self.out = nn.Conv1d(cfg.hidden, cfg.n_dims, k, padding=k // 2)
        # identity at the start: the filter only ever adds what the discriminator asked for
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.leaky_relu(self.inp(x.transpose(1, 2)), 0.2)
        for block in self.blocks:
            h = h + F.leaky_relu(block(h), 0.2)
        return x + self.out(h).transpose(1, 2)


class PatchDiscriminator(nn.Module):
    """Scores each patch of a (time x quefrency) mel-cepstrogram: recorded (1) or predicted (0).

    Spectrally normalised 2-D convolutions; returns the patch scores and every layer's
    activations (for the feature-matching loss)."""

    def __init__(self, channels: int = 64):
        super().__init__()
        sn = nn.utils.parametrizations.spectral_norm
        c = channels
        self.layers = nn.ModuleList([
            sn(nn.Conv2d(1, c // 2, 5, 1, 2)), sn(nn.Conv2d(c // 2, c, 5, 2, 2)),
            sn(nn.Conv2d(c, c, 5, 2, 2)), sn(nn.Conv2d(c, c, 3, 1, 1))])
        self.out = sn(nn.Conv2d(c, 1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        h = x.unsqueeze(1)
        feats = []
        for layer in self.layers:
            h = F.leaky_relu(layer(h), 0.2)
            feats.append(h)
        return self.out(h), feats


def build_postfilter(cfg_dict: dict, state_dict: dict | None = None) -> CepstralPostFilter:
    """The generator from a stored config (and weights), in eval mode, float32."""
    module = CepstralPostFilter(PostFilterConfig.from_dict(cfg_dict))
    if state_dict is not None:
        module.load_state_dict({k: v.float() for k, v in state_dict.items()})
    return module.eval()


def weights_digest(state_dict: dict) -> str:
    """A short digest of a model's weights (names, shapes, values at float16), to tell whether a
    post-filter was trained on exactly this acoustic model."""
    import hashlib

    h = hashlib.sha256()
    for name in sorted(state_dict):
        t = state_dict[name]
        h.update(name.encode())
        h.update(str(tuple(t.shape)).encode())
        v = t.detach().cpu()
        v = v.half() if v.is_floating_point() else v
        h.update(v.contiguous().numpy().tobytes())
    return h.hexdigest()[:16]
