"""CAMP stage 1: a word-level, non-variational reference encoder (Hodari et al., ICASSP 2021,
"CAMP: a two-stage approach to modelling prosody in context").

The recording's normalised log-mel frames pass through a frame encoder (convolutions, then a
bidirectional GRU); the frame states are averaged within each token's span, which the hard
alignment gives (frames -> phonemes) together with the phoneme -> token index; a linear
bottleneck of a few dimensions turns each token's mean into its prosody vector, small enough
that it cannot carry the words themselves (the phonemes do); a linear layer lifts it back to
the model width and every phoneme of the token receives its token's vector, added to the
encoder output through the conditioning hook.

Which positions receive what:

* word tokens: their own vector, pooled over the frames of all their phonemes (a word that
  gruut splits into several pieces or phonemises alone is still one token: the phonemes carry
  one token index whatever G2P did);
* punctuation tokens (``,`` ``.`` ``--`` ``"`` ...): each is a token with one phoneme symbol
  and its own frames (the pause, or the brief transition when the speaker does not pause),
  so it gets its own vector too: whether and how long the speaker paused there is prosody;
* ``<bos>``/``<eos>`` (token index -1, the edge silence) and padding: zero conditioning;
* a token with no frames (no phonemes: a word G2P gave nothing for): a zero vector, and
  stage 2 leaves it out of its loss (``word_frame_counts`` is 0 there).

Stage 2 (``camp_predictor.CampPredictor``, trained by ``synthesis.training.camp_stage2``)
predicts the same vectors from text; when a predictor is present and no reference is given,
this module conditions on its predictions and hands the backbone its text-only durations.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from synthesis.errors import SynthesisError
from synthesis.models.layers import MaskedConv1d
from synthesis.models.prosody import ProsodyContext, ProsodyModule, ProsodyOutput, register_prosody

INFERENCE_MODES = ("predicted", "oracle")


def phone_word_matrix(word_index: torch.Tensor, n_words: int) -> torch.Tensor:
    """One-hot phoneme -> token membership ``[B, P, N]`` (rows of -1 indices are all zero).

    Args:
        word_index: ``[B, P]`` long, token index per phoneme, -1 for ``<bos>``/``<eos>``/padding.
        n_words: N, the padded number of tokens.
    """
    valid = (word_index >= 0) & (word_index < n_words)
    onehot = F.one_hot(word_index.clamp(min=0, max=max(n_words - 1, 0)), num_classes=max(n_words, 1))
    return (onehot * valid[..., None]).to(torch.float32)[..., :n_words]


def word_frame_matrix(alignment: torch.Tensor, word_index: torch.Tensor, n_words: int) -> torch.Tensor:
    """Which frames belong to which token: ``[B, N, T]`` 0/1.

    Args:
        alignment: ``[B, T, P]`` hard alignment (1 where frame t is spoken as phoneme p).
        word_index: ``[B, P]`` token index per phoneme (-1: belongs to no token).
    """
    return torch.bmm(phone_word_matrix(word_index, n_words).transpose(1, 2), alignment.transpose(1, 2))


def pool_words(frames: torch.Tensor, alignment: torch.Tensor, word_index: torch.Tensor,
               n_words: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean of frame states within each token's span.

    Args:
        frames: ``[B, T, H]`` frame states (anything on padded frames: the alignment is 0 there).
        alignment: ``[B, T, P]`` hard alignment; word_index ``[B, P]``.

    Returns:
        ``[B, N, H]`` means (zero for a token with no frames) and ``[B, N]`` frame counts.
    """
    membership = word_frame_matrix(alignment, word_index, n_words)   # [B, N, T]
    counts = membership.sum(-1)
    pooled = torch.bmm(membership, frames) / counts.clamp(min=1.0)[..., None]
    return pooled, counts


def broadcast_words(word_values: torch.Tensor, word_index: torch.Tensor) -> torch.Tensor:
    """Token-level ``[B, N, D]`` -> phoneme-level ``[B, P, D]``; zero where word_index is -1."""
    n_words = word_values.shape[1]
    return torch.bmm(phone_word_matrix(word_index, n_words), word_values)


def reverse_within_lengths(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each sequence of ``x`` ``[B, T, H]`` within its own length; padding stays put."""
    T = x.shape[1]
    t = torch.arange(T, device=x.device)[None, :]
    idx = torch.where(t < lengths[:, None], lengths[:, None] - 1 - t, t)
    return torch.gather(x, 1, idx[..., None].expand(-1, -1, x.shape[2]))


class FrameEncoder(nn.Module):
    """Log-mel frames -> frame states: masked convolutions, then a bidirectional GRU.

    The GRU runs at ``1 / downsample`` of the frame rate (means of ``downsample`` consecutive
    valid frames) and its states are repeated back to every frame: a word lasts tens of
    frames, and on CPU the GRU's sequential steps are most of this module's cost. The two
    directions are two GRUs, the backward one over each sequence reversed within its own
    length, so padding never reaches a real frame's state (PyTorch's packed sequences do
    the same but ran ~4x slower on CPU).
    """

    def __init__(self, mel_dim: int, channels: int, layers: int, kernel: int, gru_hidden: int, dropout: float,
                 downsample: int = 2):
        super().__init__()
        if downsample < 1:
            raise ValueError(f"camp downsample must be at least 1, got {downsample}")
        self.downsample = downsample
        self.convs = nn.ModuleList(MaskedConv1d(mel_dim if i == 0 else channels, channels, kernel, padding=kernel // 2)
                                   for i in range(layers))
        self.norms = nn.ModuleList(nn.LayerNorm(channels) for _ in range(layers))
        self.drop = nn.Dropout(dropout)
        self.gru_fwd = nn.GRU(channels, gru_hidden, batch_first=True)
        self.gru_bwd = nn.GRU(channels, gru_hidden, batch_first=True)
        self.out_dim = 2 * gru_hidden

    def forward(self, mel: torch.Tensor, frame_mask: torch.Tensor) -> torch.Tensor:
        """mel ``[B, T, M]``, frame_mask ``[B, T]`` -> ``[B, T, 2 * gru_hidden]`` (zero on padding)."""
        B, T, _ = mel.shape
        x = mel
        for conv, norm in zip(self.convs, self.norms):
            x = self.drop(norm(F.relu(conv(x, frame_mask))))
        k = self.downsample
        Td = -(-T // k)
        m = F.pad(frame_mask.float(), (0, Td * k - T))                         # [B, Td * k]
        x = F.pad(x, (0, 0, 0, Td * k - T)) * m[..., None]
        counts = m.view(B, Td, k).sum(-1)                                       # valid frames per group
        x = x.view(B, Td, k, -1).sum(2) / counts.clamp(min=1.0)[..., None]     # [B, Td, channels]
        lengths = (counts > 0).sum(1)
        fwd, _ = self.gru_fwd(x)
        bwd, _ = self.gru_bwd(reverse_within_lengths(x, lengths))
        h = torch.cat([fwd, reverse_within_lengths(bwd, lengths)], dim=-1)
        h = h.repeat_interleave(k, dim=1)[:, :T]
        return h * frame_mask[..., None]


@register_prosody("camp")
class CampProsody(ProsodyModule):
    """Word-level prosody vectors: from the recording (stage 1, oracle) or from text (stage 2).

    Args (``[model] prosody_args``):
        d_model: the backbone width C (given by the backbone).
        bottleneck: dimensions of a word's prosody vector (CAMP: a few, so it holds prosody only).
        mel_dim, conv_channels, conv_layers, conv_kernel, gru_hidden, dropout, downsample: the
            frame encoder (``FrameEncoder``).
        predictor: stage-2 predictor arguments (``CampPredictor``; with ``members`` > 1 an ensemble,
            ``CampPredictorEnsemble``); absent in a stage-1 model.
        inference: the default inference mode (``predicted`` or ``oracle``; see ``set_inference``).
    """

    needs_reference = True

    def __init__(self, d_model: int, bottleneck: int = 4, mel_dim: int = 80, conv_channels: int = 128,
                 conv_layers: int = 2, conv_kernel: int = 5, gru_hidden: int = 64, dropout: float = 0.1,
                 downsample: int = 2, predictor: dict | None = None, inference: str | None = None):
        super().__init__()
        if bottleneck < 1:
            raise ValueError(f"camp bottleneck must be at least 1, got {bottleneck}")
        self.bottleneck = bottleneck
        self.frame_encoder = FrameEncoder(mel_dim, conv_channels, conv_layers, conv_kernel, gru_hidden, dropout,
                                          downsample)
        self.to_vector = nn.Linear(self.frame_encoder.out_dim, bottleneck)
        self.expand = nn.Linear(bottleneck, d_model)
        self.predictor = None
        if predictor is not None:
            from synthesis.models.prosody.camp_predictor import build_predictor

            self.predictor = build_predictor(d_model=d_model, bottleneck=bottleneck, **predictor)
        # A stage-1 model can only copy a recording's prosody; stage 2 speaks from text.
        self.inference = "predicted" if self.predictor is not None else "oracle"
        self.temperature = None
        if inference is not None:  # stored by `synthesis export-checkpoint --mode`
            self.set_inference(inference)

    # --- inference modes (the interface synthesis.inference.Synthesizer reads) -----------------
    def set_inference(self, mode: str, temperature: float | None = None) -> None:
        """``predicted`` (text only, stage 2) or ``oracle`` (the recording's own word vectors).

        Raises:
            ValueError: an unknown mode, a temperature (CAMP is deterministic), or
                ``predicted`` on a stage-1 model.
        """
        if mode not in INFERENCE_MODES:
            raise ValueError(f"camp inference must be one of {', '.join(INFERENCE_MODES)}, got {mode!r}")
        if temperature is not None:
            raise ValueError("camp has no sampling temperature (its word vectors are deterministic)")
        if mode == "predicted" and self.predictor is None:
            raise ValueError("camp inference 'predicted' needs a stage-2 checkpoint; a stage-1 model has 'oracle'")
        self.inference = mode

    @property
    def wants_reference(self) -> bool:
        """True in oracle mode: the caller passes the recording (``synthesis.inference`` does)."""
        return self.inference == "oracle"

    @property
    def ablation(self) -> str | None:
        """The stage-2 input ablation (``camp_predictor.ABLATIONS`` key), None in stage 1."""
        if self.predictor is None:
            return None
        from synthesis.models.prosody.camp_predictor import ABLATIONS

        return next((k for k, v in ABLATIONS.items() if v == self.predictor.inputs), "+".join(self.predictor.inputs))

    def label(self) -> str:
        """A name for this model and mode in tables: camp, camp-bert_only, ..., camp-oracle."""
        if self.inference == "oracle":
            return "camp-oracle"
        return "camp" if self.ablation == "both" else f"camp-{self.ablation}"

    # --- stage 1 ------------------------------------------------------------------------------
    def reference_vectors(self, reference: torch.Tensor, frame_mask: torch.Tensor, alignment: torch.Tensor,
                          word_index: torch.Tensor, n_words: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-token prosody vectors of a recording.

        Args:
            reference: ``[B, T, M]`` normalised log-mel; frame_mask ``[B, T]``;
            alignment: ``[B, T, P]`` hard; word_index ``[B, P]``; n_words: N.

        Returns:
            ``[B, N, bottleneck]`` vectors (zero for tokens without frames) and ``[B, N]`` frame counts.
        """
        states = self.frame_encoder(reference, frame_mask)
        pooled, counts = pool_words(states, alignment, word_index, n_words)
        vectors = self.to_vector(pooled) * (counts > 0)[..., None]
        return vectors, counts

    def condition(self, vectors: torch.Tensor, word_index: torch.Tensor, phone_mask: torch.Tensor) -> torch.Tensor:
        """``[B, N, bottleneck]`` token vectors -> ``[B, P, C]`` phoneme conditioning (0 off-token)."""
        cond = broadcast_words(self.expand(vectors), word_index)
        return cond * phone_mask[..., None]

    @staticmethod
    def n_words(ctx: ProsodyContext) -> int:
        if "word_pos" in ctx.batch:
            return int(ctx.batch["word_pos"].shape[1])
        return int(ctx.word_index.max().clamp(min=0)) + 1

    def forward(self, ctx: ProsodyContext) -> ProsodyOutput:
        """Conditioning ``[B, P, C]``; vectors ``[B, N, bottleneck]`` in ``extras["word_vectors"]``.

        With a reference and its alignment (training, oracle): vectors from the recording.
        Without (text-only synthesis): the stage-2 predictor's vectors, and its log-durations
        ``[B, P]`` in ``extras["log_durations"]`` for the backbone to use.
        """
        n_words = self.n_words(ctx)
        if ctx.reference is not None and ctx.alignment is not None:
            vectors, counts = self.reference_vectors(ctx.reference, ctx.frame_mask, ctx.alignment,
                                                     ctx.word_index, n_words)
            return ProsodyOutput(self.condition(vectors, ctx.word_index, ctx.phone_mask),
                                 extras={"word_vectors": vectors, "word_frame_counts": counts})
        if self.predictor is None or self.inference == "oracle":
            what = ("this CAMP model is stage 1 only: it needs a reference recording (oracle mode) or a "
                    "stage-2 checkpoint to speak from text") if self.predictor is None else \
                "camp oracle mode needs the reference recording"
            raise SynthesisError(what)
        pred = self.predictor(ctx.batch, ctx.encoder_out, ctx.phone_mask, self)
        cond = self.condition(pred["vectors"], ctx.word_index, ctx.phone_mask)
        return ProsodyOutput(cond, extras={"word_vectors": pred["vectors"],
                                           "log_durations": pred["calibrated_log_durations"]})
