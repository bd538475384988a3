"""The shared TTS backbone: phoneme encoder, learned alignment, duration model, length
regulator, frame decoder and postnet, plus the prosody hook and (fs2) pitch/energy predictors.

Systems are presets of one class: ``baseline`` is the backbone alone, ``fs2`` switches on
FastSpeech 2-style phone-level pitch and energy predictors (Ren et al. 2021), and Kathaka and
CAMP attach a ``ProsodyModule``. The architecture lives in ``ModelConfig``, which the
checkpoint stores, so a model is rebuilt from its file alone.

Shapes: B batch, P phonemes, T frames, C model width, D output feature size, M mel bands.
Masks are bool, True on valid positions.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from synthesis.models.alignment import (
    AlignmentEncoder,
    beta_binomial_prior,
    binarization_loss,
    forward_sum_loss,
    monotonic_alignment_search,
)
from synthesis.models.layers import (
    ConvNeXtBlock,
    ConvPredictor,
    MaskedConv1d,
    TransformerBlock,
    sinusoidal_positions,
)
from synthesis.models.prosody import PROSODY_MODULES, register_prosody  # noqa: F401 (re-exported)
from synthesis.models.prosody.base import ProsodyContext, ProsodyModule

SYSTEMS = ("baseline", "fs2")


@dataclass
class ModelConfig:
    """Architecture only (training settings live in ``training.config.TrainConfig``)."""

    system: str = "baseline"
    feature_kind: str = "world"          # what the decoder predicts: "world" or "log_mel"
    n_symbols: int = 64
    out_dim: int = 64
    binary_dims: tuple[int, ...] = (61,)  # output dims predicted as logits (WORLD voicing)
    mel_dim: int = 80
    d_model: int = 192
    enc_layers: int = 4
    enc_heads: int = 2
    enc_ff: int = 384
    enc_kernel: int = 5
    enc_dropout: float = 0.2
    dec_layers: int = 6
    dec_hidden: int = 512
    dec_kernel: int = 7
    dec_dilations: tuple[int, ...] = (1, 2, 4, 1, 2, 4)
    dec_dropout: float = 0.1
    postnet_layers: int = 3
    postnet_channels: int = 128
    postnet_kernel: int = 5
    predictor_hidden: int = 192
    predictor_kernel: int = 3
    predictor_dropout: float = 0.5
    att_dim: int = 80
    pitch_energy: bool = False           # fs2: phone-level pitch and energy predictors
    phone_position: bool = False         # decoder input: each frame's position within its phoneme
    # "learned": durations from the model's own aligner (MAS); "forced": from the cache's
    # pocketsphinx alignment (the aligner still trains, pulled towards it, for recordings
    # without one)
    alignment: str = "learned"
    prosody: str | None = None           # name of a registered prosody module, None for baseline
    prosody_args: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown model config keys: {', '.join(sorted(unknown))}")
        d = dict(d)
        for key in ("binary_dims", "dec_dilations"):
            if key in d:
                d[key] = tuple(d[key])
        return cls(**d)


PHONE_POSITION_HARMONICS = 4


def phone_position_features(alignment: torch.Tensor) -> torch.Tensor:
    """Where each frame lies inside its phoneme, from a (hard) alignment [B, T, P] -> [B, T, 2K + 1].

    Length regulation gives every frame of a phoneme the same vector, so a decoder has to work
    out from its context where in the phoneme a frame is; transitions and short events
    (closures, bursts) then come out smeared. This hands it the relative position r in (0, 1)
    as K sine/cosine harmonics, plus the phoneme's log length in frames.
    """
    dur = alignment.sum(1)                                             # [B, P]
    start = torch.cumsum(dur, dim=1) - dur
    frame_start = torch.bmm(alignment, start[..., None]).squeeze(-1)   # [B, T]
    frame_dur = torch.bmm(alignment, dur[..., None]).squeeze(-1)
    t = torch.arange(alignment.shape[1], device=alignment.device, dtype=alignment.dtype)[None]
    inside = frame_dur > 0
    rel = ((t - frame_start + 0.5) / frame_dur.clamp(min=1.0)).clamp(0.0, 1.0)
    k = torch.arange(1, PHONE_POSITION_HARMONICS + 1, device=alignment.device, dtype=alignment.dtype)
    angle = math.pi * rel[..., None] * k
    feats = torch.cat([torch.sin(angle), torch.cos(angle), torch.log(frame_dur.clamp(min=1.0))[..., None] / 3.0], -1)
    return feats * inside[..., None]


def with_defaults(model: dict) -> dict:
    """A saved ``[model]`` with the settings added to ``ModelConfig`` after it was written filled
    in with their defaults (which keep the earlier behaviour); as it is if it does not parse."""
    try:
        return ModelConfig.from_dict(model).to_dict()
    except (TypeError, ValueError):
        return model


def same_architecture(saved: dict, current: dict) -> bool:
    """Whether a checkpoint's ``[model]`` (``saved``) describes the same model as ``current``,
    counting settings added later as their defaults (``with_defaults``)."""
    return with_defaults(saved) == with_defaults(current)


def lengths_to_mask(lengths: torch.Tensor, max_len: int | None = None) -> torch.Tensor:
    max_len = int(lengths.max()) if max_len is None else max_len
    return torch.arange(max_len, device=lengths.device)[None, :] < lengths[:, None]


def durations_to_alignment(durations: torch.Tensor, phone_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Integer durations [B, P] -> hard alignment [B, T, P] and frame mask [B, T]."""
    durations = durations.masked_fill(~phone_mask, 0).long()
    ends = durations.cumsum(1)                         # [B, P]
    starts = ends - durations
    total = ends[:, -1]
    T = max(int(total.max()), 1)
    t = torch.arange(T, device=durations.device)[None, :, None]
    align = ((t >= starts[:, None, :]) & (t < ends[:, None, :])).float()
    return align, lengths_to_mask(total, T)


class Backbone(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        if cfg.system not in SYSTEMS and cfg.prosody is None:
            raise ValueError(f"unknown system {cfg.system!r}")
        self.cfg = cfg
        C = cfg.d_model
        self.embed = nn.Embedding(cfg.n_symbols, C, padding_idx=0)
        self.stress_embed = nn.Embedding(3, C)
        self.pos_scale = nn.Parameter(torch.ones(2))
        self.encoder = nn.ModuleList(TransformerBlock(C, cfg.enc_heads, cfg.enc_ff, cfg.enc_kernel, cfg.enc_dropout)
                                     for _ in range(cfg.enc_layers))
        self.aligner = AlignmentEncoder(C, cfg.mel_dim, cfg.att_dim)
        self.duration = ConvPredictor(C, cfg.predictor_hidden, cfg.predictor_kernel, cfg.predictor_dropout)
        if cfg.pitch_energy:
            self.pitch = ConvPredictor(C, cfg.predictor_hidden, cfg.predictor_kernel, cfg.predictor_dropout)
            self.energy = ConvPredictor(C, cfg.predictor_hidden, cfg.predictor_kernel, cfg.predictor_dropout)
            self.pitch_embed = nn.Conv1d(1, C, 3, padding=1)
            self.energy_embed = nn.Conv1d(1, C, 3, padding=1)
        self.prosody: ProsodyModule | None = None
        if cfg.prosody is not None:
            if cfg.prosody not in PROSODY_MODULES:
                raise ValueError(f"unknown prosody module {cfg.prosody!r} (known: {sorted(PROSODY_MODULES)})")
            self.prosody = PROSODY_MODULES[cfg.prosody](C, **cfg.prosody_args)
        if cfg.phone_position:
            self.phone_position = nn.Linear(2 * PHONE_POSITION_HARMONICS + 1, C)
        self.decoder = nn.ModuleList(ConvNeXtBlock(C, cfg.dec_hidden, cfg.dec_kernel, d, cfg.dec_dropout)
                                     for d in cfg.dec_dilations[: cfg.dec_layers])
        self.dec_norm = nn.LayerNorm(C)
        self.out = nn.Linear(C, cfg.out_dim)
        layers, ch = [], cfg.out_dim
        for i in range(cfg.postnet_layers):
            last = i == cfg.postnet_layers - 1
            layers.append(MaskedConv1d(ch, cfg.out_dim if last else cfg.postnet_channels, cfg.postnet_kernel,
                                       padding=cfg.postnet_kernel // 2))
            ch = cfg.postnet_channels
        self.postnet = nn.ModuleList(layers)
        self.postnet_drop = nn.Dropout(cfg.dec_dropout) if cfg.dec_dropout > 0 else nn.Identity()
        # Normalisation statistics of the training data, saved with the weights.
        self.register_buffer("target_mean", torch.zeros(cfg.out_dim))
        self.register_buffer("target_std", torch.ones(cfg.out_dim))
        self.register_buffer("mel_mean", torch.zeros(cfg.mel_dim))
        self.register_buffer("mel_std", torch.ones(cfg.mel_dim))
        self.register_buffer("var_stats", torch.tensor([0.0, 1.0, 0.0, 1.0]))  # pitch mean/std, energy mean/std
        # Per-symbol log-duration offset added at inference (0 until the duration pass calibrates
        # it, see synthesis.training.duration_stage); files from before it existed load with zeros.
        self.register_buffer("duration_bias", torch.zeros(cfg.n_symbols))
        # Global variance of each target dim in the training recordings (mean per-utterance
        # variance over time), for spectral enhancement at inference (synthesis.features.enhance);
        # zeros (files from before it existed) switch that enhancement off.
        self.register_buffer("target_gv", torch.zeros(cfg.out_dim))
        self.register_load_state_dict_pre_hook(_zero_optional_buffers_if_missing)
        bin_mask = torch.zeros(cfg.out_dim, dtype=torch.bool)
        bin_mask[list(cfg.binary_dims)] = True
        self.register_buffer("binary_mask", bin_mask, persistent=False)

    # --- statistics ---------------------------------------------------------------------------
    def set_stats(self, target_mean, target_std, mel_mean, mel_std, var_stats=(0.0, 1.0, 0.0, 1.0),
                  target_gv=None) -> None:
        """Per-dimension normalisation from training data (binary dims stay 0/1), and the
        targets' global variance (``target_gv``, None: unknown)."""
        tm = torch.as_tensor(np.asarray(target_mean), dtype=torch.float32).clone()
        ts = torch.as_tensor(np.asarray(target_std), dtype=torch.float32).clamp(min=1e-3).clone()
        tm[self.binary_mask], ts[self.binary_mask] = 0.0, 1.0
        self.target_mean.copy_(tm)
        self.target_std.copy_(ts)
        self.mel_mean.copy_(torch.as_tensor(np.asarray(mel_mean), dtype=torch.float32))
        self.mel_std.copy_(torch.as_tensor(np.asarray(mel_std), dtype=torch.float32).clamp(min=1e-3))
        vs = torch.as_tensor(var_stats, dtype=torch.float32).clone()
        vs[1], vs[3] = vs[1].clamp(min=1e-3), vs[3].clamp(min=1e-3)
        self.var_stats.copy_(vs)
        if target_gv is not None:
            self.target_gv.copy_(torch.as_tensor(np.asarray(target_gv), dtype=torch.float32))

    # --- pieces -------------------------------------------------------------------------------
    def encode(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Returns (encoder output [B, P, C], token embedding [B, P, C], phone mask [B, P])."""
        ids = batch["phoneme_ids"]
        mask = lengths_to_mask(batch["phone_lens"], ids.shape[1])
        emb = self.embed(ids) + self.stress_embed(batch["stress"])
        x = emb + self.pos_scale[0] * sinusoidal_positions(ids.shape[1], emb.shape[-1], ids.device)[None]
        x = x.masked_fill(~mask[..., None], 0.0)
        for block in self.encoder:
            x = block(x, mask)
        return x, emb, mask

    def align(self, emb: torch.Tensor, mel_n: torch.Tensor, phone_mask: torch.Tensor,
              frame_mask: torch.Tensor, phone_lens: torch.Tensor, frame_lens: torch.Tensor,
              durations: torch.Tensor | None = None):
        """Soft log-alignment [B, T, P] (with prior) and hard alignment [B, T, P]: the forced
        one from ``durations`` [B, P] when the model uses them and they are given, else MAS."""
        B, T, P = mel_n.shape[0], mel_n.shape[1], emb.shape[1]
        prior = torch.full((B, T, P), -1e4, device=mel_n.device)
        for b in range(B):
            p, t = int(phone_lens[b]), int(frame_lens[b])
            prior[b, :t, :p] = torch.from_numpy(beta_binomial_prior(p, t))
        log_attn = self.aligner(emb, mel_n, phone_mask, prior)
        log_attn = log_attn.masked_fill(~frame_mask[..., None], -1e4)
        if self.cfg.alignment == "forced" and durations is not None:
            hard = durations_to_alignment(durations, phone_mask)[0]
            hard = F.pad(hard, (0, 0, 0, T - hard.shape[1])) if hard.shape[1] < T else hard[:, :T]
        else:
            hard = monotonic_alignment_search(log_attn, phone_lens, frame_lens)
        return log_attn, hard

    def decode(self, enc: torch.Tensor, alignment: torch.Tensor, frame_mask: torch.Tensor):
        """Length-regulate by the alignment and decode: (before, after postnet) [B, T, D] normalised."""
        x = torch.bmm(alignment, enc)                       # [B, T, C]
        x = x + self.pos_scale[1] * sinusoidal_positions(x.shape[1], x.shape[2], x.device)[None]
        if self.cfg.phone_position:
            x = x + self.phone_position(phone_position_features(alignment))
        x = x.masked_fill(~frame_mask[..., None], 0.0)
        for block in self.decoder:
            x = block(x, frame_mask)
        before = self.out(self.dec_norm(x))
        h = before
        for i, conv in enumerate(self.postnet):
            h = conv(h, frame_mask)
            if i < len(self.postnet) - 1:
                h = self.postnet_drop(torch.tanh(h))
        # The postnet refines the continuous features only; voicing logits pass through.
        after = before + h.masked_fill(self.binary_mask, 0.0)
        return before.masked_fill(~frame_mask[..., None], 0.0), after.masked_fill(~frame_mask[..., None], 0.0)

    def _phone_average(self, alignment: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
        """Mean of a frame-level track [B, T] over each phoneme's frames -> [B, P]."""
        total = torch.bmm(alignment.transpose(1, 2), frames[..., None]).squeeze(-1)
        return total / alignment.sum(1).clamp(min=1.0)

    def _variance(self, enc, phone_mask, pitch_target=None, energy_target=None):
        pitch_pred = self.pitch(enc, phone_mask)
        energy_pred = self.energy(enc, phone_mask)
        p = pitch_target if pitch_target is not None else pitch_pred
        e = energy_target if energy_target is not None else energy_pred
        add = (self.pitch_embed(p[:, None, :]) + self.energy_embed(e[:, None, :])).transpose(1, 2)
        return enc + add.masked_fill(~phone_mask[..., None], 0.0), pitch_pred, energy_pred

    # --- training -----------------------------------------------------------------------------
    def forward(self, batch: dict, step: int = 0) -> dict:
        """Teacher-forced pass on a collated batch (see ``training.data.collate``).

        Returns a dict of tensors: ``before``/``after`` [B, T, D] normalised predictions,
        ``log_attn``/``alignment`` [B, T, P], ``durations`` [B, P] (from MAS),
        ``log_dur_pred`` [B, P], masks, and the prosody module's losses.
        """
        enc, emb, phone_mask = self.encode(batch)
        frame_mask = lengths_to_mask(batch["frame_lens"], batch["mel"].shape[1])
        mel_n = (batch["mel"] - self.mel_mean) / self.mel_std
        if self.cfg.alignment == "forced" and "durations" not in batch:
            raise ValueError("this model trains on forced alignments, and the batch has none "
                             "(a cache from before `synthesis prepare` aligned the clips: run it again)")
        log_attn, hard = self.align(emb, mel_n, phone_mask, frame_mask, batch["phone_lens"], batch["frame_lens"],
                                    batch.get("durations"))
        durations = hard.sum(1)
        out = {"phone_mask": phone_mask, "frame_mask": frame_mask, "log_attn": log_attn, "alignment": hard,
               "durations": durations, "prosody_losses": {}}
        if self.prosody is not None:
            ctx = ProsodyContext(enc, phone_mask, batch["word_index"], batch, mel_n, frame_mask, hard, step)
            pros = self.prosody(ctx)
            enc = enc + pros.conditioning
            out["prosody_losses"] = pros.losses
            out["prosody_metrics"] = pros.extras.get("metrics", {})
        out["log_dur_pred"] = self.duration(enc.detach(), phone_mask)
        if self.cfg.pitch_energy:
            ps = self.var_stats
            pitch_t = (self._phone_average(hard, batch["lf0"]) - ps[0]) / ps[1]
            energy_t = (self._phone_average(hard, batch["energy"]) - ps[2]) / ps[3]
            pitch_t, energy_t = pitch_t.masked_fill(~phone_mask, 0.0), energy_t.masked_fill(~phone_mask, 0.0)
            enc, out["pitch_pred"], out["energy_pred"] = self._variance(enc, phone_mask, pitch_t, energy_t)
            out["pitch_target"], out["energy_target"] = pitch_t, energy_t
        out["before"], out["after"] = self.decode(enc, hard, frame_mask)
        return out

    def losses(self, batch: dict, out: dict, step: int, weights: dict) -> dict[str, torch.Tensor]:
        """Weighted loss terms (``total`` is their sum). ``weights`` from the training config."""
        fm, pm = out["frame_mask"], out["phone_mask"]
        target = (batch["target"] - self.target_mean) / self.target_std
        cont = (~self.binary_mask).float()
        n_cont = fm.sum() * cont.sum()
        dim_weight = cont * self._cepstral_weights(float(weights.get("cepstral_weighting", 0.0)))
        dim_weight = dim_weight * self._f0_weight(float(weights.get("f0", 1.0)))
        losses = {}
        for name in ("before", "after"):
            err = (out[name] - target).abs() * dim_weight * fm[..., None]
            losses[f"feat_{name}"] = err.sum() / n_cont
        delta_w = float(weights.get("delta", 0.0))
        if delta_w > 0:
            # Frame-to-frame change of the features: an L1 loss on statics alone is met by
            # trajectories that blur transitions (closures, bursts, formant movements).
            pair = (fm[:, 1:] & fm[:, :-1]).float()[..., None]
            d_target = target[:, 1:] - target[:, :-1]
            n_pairs = (pair.sum() * cont.sum()).clamp(min=1.0)
            for name in ("before", "after"):
                d_err = ((out[name][:, 1:] - out[name][:, :-1]) - d_target).abs() * dim_weight * pair
                losses[f"delta_{name}"] = delta_w * d_err.sum() / n_pairs
        if self.binary_mask.any():
            logits = out["after"][..., self.binary_mask]
            bce = F.binary_cross_entropy_with_logits(logits, target[..., self.binary_mask], reduction="none")
            losses["voicing"] = (bce * fm[..., None]).sum() / (fm.sum() * self.binary_mask.sum())
        log_dur = torch.log1p(out["durations"])
        losses["duration"] = weights.get("duration", 1.0) * (((out["log_dur_pred"] - log_dur) ** 2) * pm).sum() / pm.sum()
        losses["align_ctc"] = weights.get("ctc", 1.0) * forward_sum_loss(out["log_attn"], batch["phone_lens"], batch["frame_lens"])
        bin_w = weights.get("binarization", 1.0) if step >= weights.get("binarization_start", 0) else 0.0
        if bin_w:
            losses["align_bin"] = bin_w * binarization_loss(out["alignment"], out["log_attn"])
        if self.cfg.pitch_energy:
            for k in ("pitch", "energy"):
                losses[k] = weights.get(k, 1.0) * (((out[f"{k}_pred"] - out[f"{k}_target"]) ** 2) * pm).sum() / pm.sum()
        losses.update(out["prosody_losses"])
        losses["total"] = sum(losses.values())
        # Diagnostics a prosody module reports (e.g. KL per latent dimension): logged with the
        # losses, never part of the total.
        losses.update({k: v.detach() for k, v in out.get("prosody_metrics", {}).items()})
        return losses

    def _f0_weight(self, weight: float) -> torch.Tensor:
        """Per-dim factor [D]: ``weight`` on WORLD log-F0, 1 elsewhere.

        With every target dim normalised, log-F0 is one of 63 continuous dims, so the decoder
        learns pitch from a sixty-third of the feature loss; a larger weight makes it follow what
        the conditioning (a prosody vector) says about pitch.
        """
        from synthesis.features.enhance import log_f0_dim

        w = torch.ones_like(self.target_std)
        dim = log_f0_dim(self.cfg.feature_kind)
        if dim is not None:
            w[dim] = weight
        return w

    def _cepstral_weights(self, gamma: float) -> torch.Tensor:
        """Per-dim loss weights [D]: 1, except WORLD mel-cepstra c1..c59 weighted by
        (std / their mean std) ** gamma, renormalised to mean 1.

        Normalising every target dim to unit variance gives the 40 high-order cepstra, which
        carry little of what listeners (or a recogniser) hear, two thirds of the spectral
        loss; gamma = 1 weights errors as in raw cepstral units, i.e. as mel-cepstral
        distortion does.
        """
        w = torch.ones_like(self.target_std)
        if gamma <= 0 or self.cfg.feature_kind != "world":
            return w
        from synthesis.features.enhance import spectral_dims

        dims = torch.as_tensor(spectral_dims("world", self.cfg.out_dim), device=w.device)
        std = self.target_std[dims]
        scaled = (std / std.mean()) ** gamma
        w[dims] = scaled / scaled.mean()
        return w

    # --- inference ----------------------------------------------------------------------------
    @torch.inference_mode()
    def infer(self, batch: dict, duration_scale: float = 1.0) -> dict:
        """Text-only synthesis of a collated batch (phoneme_ids, stress, word_index, phone_lens, ...).

        A batch that also holds ``mel`` [B, T, M] and ``frame_lens`` passes that recording to
        the prosody module as its reference (oracle prosody), with its hard alignment from the
        aligner; durations are still predicted. A prosody module may supply its own text-only
        log-durations [B, P] as ``extras["log_durations"]`` (CAMP's jointly trained duration model).

        Returns ``features`` [B, T, D] de-normalised (voicing as 0/1), ``frame_mask`` [B, T],
        ``durations`` [B, P] long frames per phoneme (0 on padding), ``prosody_extras`` (dict).
        """
        enc, emb, phone_mask = self.encode(batch)
        log_dur, extras = None, {}
        if self.prosody is not None:
            ctx = ProsodyContext(enc, phone_mask, batch["word_index"], batch)
            if "mel" in batch:  # the oracle: the prosody module reads the reference recording
                ctx.frame_mask = lengths_to_mask(batch["frame_lens"], batch["mel"].shape[1])
                ctx.reference = ((batch["mel"] - self.mel_mean) / self.mel_std).masked_fill(~ctx.frame_mask[..., None], 0.0)
                _, ctx.alignment = self.align(emb, ctx.reference, phone_mask, ctx.frame_mask, batch["phone_lens"],
                                              batch["frame_lens"], batch.get("durations"))
            pros = self.prosody(ctx)
            enc = enc + pros.conditioning
            extras = pros.extras
            log_dur = extras.get("log_durations")
        if log_dur is None:
            log_dur = self.duration(enc, phone_mask) + self.duration_bias[batch["phoneme_ids"]]
        durations = torch.clamp(torch.round(torch.expm1(log_dur) * duration_scale), min=1).long()
        durations = durations.masked_fill(~phone_mask, 0)
        if self.cfg.pitch_energy:
            enc, _, _ = self._variance(enc, phone_mask)
        alignment, frame_mask = durations_to_alignment(durations, phone_mask)
        _, after = self.decode(enc, alignment, frame_mask)
        feats = after * self.target_std + self.target_mean
        if self.binary_mask.any():
            feats[..., self.binary_mask] = (after[..., self.binary_mask] > 0).float()
        return {"features": feats.masked_fill(~frame_mask[..., None], 0.0), "frame_mask": frame_mask,
                "durations": durations, "prosody_extras": extras}


def _zero_optional_buffers_if_missing(module, state_dict, prefix, *args) -> None:
    """Buffers added after the first checkpoints were written load as zeros (= not calibrated)."""
    for name in ("duration_bias", "target_gv"):
        if prefix + name not in state_dict:
            state_dict[prefix + name] = torch.zeros_like(getattr(module, name))


def build_model(cfg: ModelConfig) -> Backbone:
    """The model of a system preset (baseline, fs2) or of a registered prosody module."""
    if cfg.system == "fs2" and not cfg.pitch_energy:
        raise ValueError("system fs2 needs pitch_energy = true")
    if cfg.system == "baseline" and (cfg.pitch_energy or cfg.prosody):
        raise ValueError("system baseline has no pitch/energy predictors and no prosody module")
    return Backbone(cfg)


def training_step(model: Backbone, batch: dict, step: int, weights: dict) -> dict[str, torch.Tensor]:
    """One teacher-forced pass and its weighted losses (``total`` to back-propagate)."""
    return model.losses(batch, model(batch, step), step, weights)
