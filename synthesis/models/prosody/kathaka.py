"""Kathaka stage 1: a sentence-level variational reference encoder (Karlapati et al., ICASSP 2021).

The reference recording's normalised log-mel goes through strided convolutions and a
bidirectional GRU; attention pooling over its outputs gives one vector per utterance, from
which a linear layer predicts the mean and log-variance of a small Gaussian latent ``z``.
A reparameterised sample (training) or the mean (validation, oracle) is projected to the
model width and added to every phoneme encoding through the backbone's hook.

Text-only inference (no recording) takes ``z`` from one of:

* ``prior``: ``z ~ N(0, temperature^2 I)``, the control that shows what the latent adds
  without any text-based prediction;
* ``mean`` / ``sample``: the distribution predicted from text by a stage-2 sampler
  (``samplers.py``): its mean, or a sample at ``temperature``.

The oracle (the reference encoder reading the held-out recording) is the same module given
``ProsodyContext.reference``; ``synthesis.inference`` arranges that.

Losses: the KL divergence of the posterior from N(0, I), per latent dimension averaged over
the batch, each dimension floored at ``free_bits`` nats (Kingma et al. 2016: a dimension
below its floor gets no gradient pushing it further to the prior, the guard against
posterior collapse), summed over dimensions and weighted by a linear warm-up from 0 at
``kl_anneal_start`` to ``kl_weight`` at ``kl_anneal_start + kl_anneal_steps`` (Bowman et
al. 2016). Logged beside the losses (not in the total): the raw KL per dimension and the
number of active dimensions (Burda et al. 2016: variance of the posterior mean across the
batch above 0.01).

Shapes: B batch, T frames, M mel bands, P phonemes, C model width, L latent size.
"""

from __future__ import annotations

import hashlib

import torch
import torch.nn.functional as F
from torch import nn

from synthesis.models.prosody import register_prosody
from synthesis.models.prosody.base import ProsodyContext, ProsodyModule, ProsodyOutput

INFERENCE_MODES = ("prior", "mean", "sample", "oracle")
ACTIVE_DIM_THRESHOLD = 0.01  # Burda et al. 2016, "active units"


def kl_per_dim(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, 1)) per dimension: [B, L] -> [B, L] nats."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)


def gaussian_kl(mu_q: torch.Tensor, logvar_q: torch.Tensor, mu_p: torch.Tensor,
                logvar_p: torch.Tensor) -> torch.Tensor:
    """KL(q || p) of diagonal Gaussians per dimension: four [B, L] tensors -> [B, L] nats."""
    return 0.5 * (logvar_p - logvar_q + (logvar_q.exp() + (mu_q - mu_p).pow(2)) / logvar_p.exp() - 1.0)


def kl_anneal_weight(step: int, weight: float, start: int, steps: int) -> float:
    """Linear KL warm-up: 0 before ``start``, ``weight`` from ``start + steps`` on."""
    if step < start:
        return 0.0
    if steps <= 0:
        return weight
    return weight * min(1.0, (step - start) / steps)


def free_bits_kl(kl: torch.Tensor, free_bits: float) -> torch.Tensor:
    """Sum over dimensions of the batch-mean KL [B, L], each dimension floored at ``free_bits``.

    The floor is applied to the batch mean (not per utterance) so a dimension is free only
    while it carries little information on average.
    """
    return torch.clamp(kl.mean(0), min=free_bits).sum()


def active_dims(mu: torch.Tensor, threshold: float = ACTIVE_DIM_THRESHOLD) -> torch.Tensor:
    """Number of latent dimensions whose posterior mean varies across the batch: [B, L] -> []."""
    if mu.shape[0] < 2:
        return torch.zeros((), device=mu.device)
    return (mu.var(0) > threshold).sum().float()


def _downsample_mask(mask: torch.Tensor) -> torch.Tensor:
    """Frame mask after a stride-2 conv with kernel 3, padding 1: length L -> ceil(L / 2)."""
    lengths = (mask.sum(1) + 1) // 2
    T = (mask.shape[1] + 1) // 2
    return torch.arange(T, device=mask.device)[None, :] < lengths[:, None]


class AttentionPool(nn.Module):
    """Masked attention pooling: [B, L, D] -> [B, D] (a learned query scores every position)."""

    def __init__(self, dim: int):
        super().__init__()
        self.score = nn.Linear(dim, 1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        s = self.score(x).squeeze(-1).masked_fill(~mask, float("-inf"))
        w = torch.softmax(s, dim=1).masked_fill(~mask, 0.0)
        return torch.bmm(w[:, None, :], x).squeeze(1)


class ReferenceEncoder(nn.Module):
    """Log-mel [B, T, M] -> posterior mean and log-variance [B, L] of the utterance latent.

    Stride-2 convolutions (ReLU, LayerNorm) shorten the sequence by ``2 ** len(channels)``
    before a packed bidirectional GRU, so padding never changes a clip's result.
    """

    def __init__(self, mel_dim: int, channels: tuple[int, ...], gru: int, latent_dim: int):
        super().__init__()
        self.convs = nn.ModuleList()
        self.norms = nn.ModuleList()
        ch = mel_dim
        for out in channels:
            self.convs.append(nn.Conv1d(ch, out, 3, stride=2, padding=1))
            self.norms.append(nn.LayerNorm(out))
            ch = out
        self.gru = nn.GRU(ch, gru, batch_first=True, bidirectional=True)
        self.pool = AttentionPool(2 * gru)
        self.to_stats = nn.Linear(2 * gru, 2 * latent_dim)

    def forward(self, mel: torch.Tensor, frame_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x, mask = mel.masked_fill(~frame_mask[..., None], 0.0), frame_mask
        for conv, norm in zip(self.convs, self.norms):
            x = conv(x.transpose(1, 2)).transpose(1, 2)
            mask = _downsample_mask(mask)
            x = norm(F.relu(x)).masked_fill(~mask[..., None], 0.0)
        lengths = mask.sum(1).clamp(min=1)
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        h, _ = self.gru(packed)
        h, _ = nn.utils.rnn.pad_packed_sequence(h, batch_first=True, total_length=x.shape[1])
        mask = mask | (torch.arange(mask.shape[1], device=mask.device)[None, :] == 0)  # >= 1 position
        mu, logvar = self.to_stats(self.pool(h, mask)).chunk(2, dim=-1)
        # Bounded log-variance keeps exp() finite early in training.
        return mu, logvar.clamp(-8.0, 4.0)


def _sentence_generator(phoneme_ids: torch.Tensor, length: int, salt: str) -> torch.Generator:
    """A generator seeded by the utterance's phonemes: the same text gets the same sample."""
    key = hashlib.sha256((salt + ",".join(map(str, phoneme_ids[:length].tolist()))).encode()).digest()
    return torch.Generator().manual_seed(int.from_bytes(key[:8], "little") & (2 ** 63 - 1))


@register_prosody("kathaka")
class KathakaProsody(ProsodyModule):
    """Sentence-level variational prosody (stage 1) with an optional text-only sampler (stage 2).

    Args:
        d_model: backbone width C (given by the backbone).
        latent_dim: size L of the utterance latent.
        ref_channels, ref_gru: reference encoder sizes.
        kl_weight, kl_anneal_start, kl_anneal_steps, free_bits: the KL term (module docstring).
        sampler: None (stage 1) or ``"bert"``, ``"graph"``, ``"both"`` (stage 2, see samplers.py).
        sampler_args: keyword arguments of the sampler.
        inference: text-only default ``"prior"``, ``"mean"``, ``"sample"``; ``"oracle"`` asks
            the caller to pass the recording (``synthesis.inference`` does).
        temperature: scale of the standard deviation when sampling (prior or predicted).
    """

    needs_reference = True

    def __init__(self, d_model: int, latent_dim: int = 8, ref_channels: tuple[int, ...] | list[int] = (128, 128, 128),
                 ref_gru: int = 64, mel_dim: int = 80, kl_weight: float = 1e-3, kl_anneal_start: int = 0,
                 kl_anneal_steps: int = 1000, free_bits: float = 0.25, sampler: str | None = None,
                 sampler_args: dict | None = None, inference: str | None = None, temperature: float = 1.0):
        super().__init__()
        self.latent_dim = latent_dim
        self.kl_weight, self.kl_anneal_start, self.kl_anneal_steps = kl_weight, kl_anneal_start, kl_anneal_steps
        self.free_bits = free_bits
        self.sampler_kind = sampler
        self.set_inference(inference or ("mean" if sampler else "prior"), temperature)
        self.reference_encoder = ReferenceEncoder(mel_dim, tuple(ref_channels), ref_gru, latent_dim)
        self.project = nn.Linear(latent_dim, d_model)
        self.sampler: nn.Module | None = None
        if sampler:
            from synthesis.models.prosody.samplers import build_sampler

            self.sampler = build_sampler(sampler, latent_dim, **(sampler_args or {}))

    def set_inference(self, mode: str, temperature: float | None = None) -> None:
        """Choose where text-only synthesis takes z from (see the class docstring).

        Raises:
            ValueError: an unknown mode, a sampler mode without a sampler, a bad temperature.
        """
        if mode not in INFERENCE_MODES:
            raise ValueError(f"kathaka inference must be one of {', '.join(INFERENCE_MODES)}, got {mode!r}")
        if mode in ("mean", "sample") and not self.sampler_kind:
            raise ValueError(f"kathaka inference {mode!r} needs a stage-2 sampler; a stage-1 model "
                             "has 'prior' and 'oracle'")
        temperature = getattr(self, "temperature", 1.0) if temperature is None else float(temperature)
        if not 0.0 <= temperature <= 10.0:
            raise ValueError(f"kathaka temperature must be in 0..10, got {temperature}")
        self.inference, self.temperature = mode, temperature

    @property
    def wants_reference(self) -> bool:
        """True in oracle mode: the caller must pass the recording (``synthesis.inference`` does)."""
        return self.inference == "oracle"

    def label(self) -> str:
        """A name for this model and mode in tables: kathaka-both, kathaka-prior-t0.7, kathaka-oracle."""
        name = {"mean": f"kathaka-{self.sampler_kind}", "sample": f"kathaka-{self.sampler_kind}-sample",
                "prior": "kathaka-prior", "oracle": "kathaka-oracle"}[self.inference]
        if self.inference in ("sample", "prior") and self.temperature != 1.0:
            name += f"-t{self.temperature:g}"
        return name

    # --- pieces -------------------------------------------------------------------------------
    def posterior(self, mel: torch.Tensor, frame_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised log-mel [B, T, M], mask [B, T] -> posterior (mu, logvar), each [B, L]."""
        return self.reference_encoder(mel, frame_mask)

    def predict(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """The stage-2 sampler's distribution from text: (mu, logvar), each [B, L]."""
        if self.sampler is None:
            raise ValueError("this Kathaka model has no stage-2 sampler")
        return self.sampler(batch)

    def text_only_latent(self, batch: dict, phone_lens: torch.Tensor) -> torch.Tensor:
        """z [B, L] without a recording, by ``self.inference`` (prior / mean / sample)."""
        B, device = phone_lens.shape[0], phone_lens.device
        if self.inference == "oracle":
            raise ValueError("kathaka oracle mode needs the reference recording")
        if self.inference == "mean":
            return self.predict(batch)[0]
        mu = torch.zeros(B, self.latent_dim, device=device)
        std = torch.ones(B, self.latent_dim, device=device)
        if self.inference == "sample":
            mu, logvar = self.predict(batch)
            std = (0.5 * logvar).exp()
        # One seeded draw per utterance: synthesis is reproducible and independent of batching.
        eps = torch.stack([torch.randn(self.latent_dim, generator=_sentence_generator(
            batch["phoneme_ids"][b], int(phone_lens[b]), self.inference)) for b in range(B)]).to(device)
        return mu + self.temperature * std * eps

    # --- the hook -----------------------------------------------------------------------------
    def forward(self, ctx: ProsodyContext) -> ProsodyOutput:
        """Conditioning [B, P, C] (the projected latent on every real phoneme) and the KL loss.

        With ``ctx.reference`` the latent comes from the posterior (a sample in training
        mode, its mean in eval mode); without, from ``text_only_latent``.
        """
        losses, extras = {}, {}
        if ctx.reference is not None:
            if ctx.frame_mask is None:
                raise ValueError("kathaka: a reference needs its frame mask")
            mu, logvar = self.posterior(ctx.reference, ctx.frame_mask)
            z = mu + torch.randn_like(mu) * (0.5 * logvar).exp() if self.training else mu
            kl = kl_per_dim(mu, logvar)                                    # [B, L]
            weight = kl_anneal_weight(ctx.step, self.kl_weight, self.kl_anneal_start, self.kl_anneal_steps)
            losses["kathaka_kl"] = weight * free_bits_kl(kl, self.free_bits)
            metrics = {f"kathaka_kl_d{d}": v for d, v in enumerate(kl.detach().mean(0))}
            metrics["kathaka_kl_raw"] = kl.detach().sum(1).mean()
            metrics["kathaka_active_dims"] = active_dims(mu.detach())
            metrics["kathaka_kl_weight"] = torch.tensor(weight)
            extras = {"mu": mu, "logvar": logvar, "metrics": metrics}
        else:
            z = self.text_only_latent(ctx.batch, ctx.phone_mask.sum(1))
            extras = {"z": z}
        cond = self.project(z)[:, None, :] * ctx.phone_mask[..., None].to(z.dtype)
        return ProsodyOutput(cond, losses, extras)
