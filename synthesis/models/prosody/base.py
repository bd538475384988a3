"""The conditioning hook of the backbone: how a prosody module enters the encoder output.

A prosody module sees the phoneme encoder output and everything the batch knows about the
text (word index per phoneme, word-level features) and, while training or for the oracle,
the reference recording's frames and the hard alignment. It returns an *additive*
conditioning at phoneme level (broadcast from sentence or word level as it likes) and its own
losses, which the backbone adds to the total. The baseline has no prosody module.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import torch
from torch import nn


@dataclass
class ProsodyContext:
    """What a prosody module may read. B batch, P phonemes, N words, T frames, C channels.

    encoder_out: [B, P, C] phoneme encoder output.
    phone_mask: [B, P] bool, True on real phonemes.
    word_index: [B, P] long, token index per phoneme (-1 for <bos>/<eos> and padding).
    batch: the whole collated batch (word vectors [B, N, 384], syntax ids [B, N], ...).
    reference: [B, T, M] normalised log-mel of the reference recording, or None (text-only).
    frame_mask: [B, T] bool, or None.
    alignment: [B, T, P] hard alignment of the reference (training / oracle), or None.
    step: the training step (for annealing schedules).
    """

    encoder_out: torch.Tensor
    phone_mask: torch.Tensor
    word_index: torch.Tensor
    batch: dict
    reference: torch.Tensor | None = None
    frame_mask: torch.Tensor | None = None
    alignment: torch.Tensor | None = None
    step: int = 0


@dataclass
class ProsodyOutput:
    conditioning: torch.Tensor                      # [B, P, C], added to the encoder output
    losses: dict[str, torch.Tensor] = field(default_factory=dict)  # already weighted
    extras: dict = field(default_factory=dict)      # vectors worth logging or caching


class ProsodyModule(nn.Module, ABC):
    """Base class of every prosody treatment plugged into ``Backbone``.

    Subclasses must work with ``reference=None`` at inference time (text-only prediction);
    ``needs_reference`` says whether training feeds them the recording's frames.
    """

    needs_reference: bool = True

    @abstractmethod
    def forward(self, ctx: ProsodyContext) -> ProsodyOutput:
        """Additive phoneme-level conditioning [B, P, C] and the module's weighted losses."""
