"""Alignment learned inside the model (Badlani et al. 2021, "One TTS Alignment To Rule Them All").

A small text encoder and a mel encoder map phonemes and frames into one space; the negative
squared distance is a phoneme-given-frame log-likelihood. Training maximises the likelihood
of all monotonic alignments (the forward-sum / CTC loss), a beta-binomial prior keeps early
alignments near the diagonal, and monotonic alignment search (MAS, Kim et al. 2020) turns the
soft alignment into hard durations; a binarisation loss pulls soft towards hard.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from scipy.special import betaln
from torch import nn

try:
    from numba import njit
except ImportError:  # numba comes with librosa; keep a (slow) pure-numpy path regardless
    def njit(*args, **kwargs):
        return (lambda f: f) if not (args and callable(args[0])) else args[0]


class AlignmentEncoder(nn.Module):
    """Phoneme embeddings [B, P, E] and mel frames [B, T, M] -> log p(phoneme | frame) [B, T, P]."""

    def __init__(self, text_dim: int, mel_dim: int, att_dim: int = 80, temperature: float = 0.0005):
        super().__init__()
        self.temperature = temperature
        self.key = nn.Sequential(nn.Conv1d(text_dim, 2 * text_dim, 3, padding=1), nn.ReLU(),
                                 nn.Conv1d(2 * text_dim, att_dim, 1))
        self.query = nn.Sequential(nn.Conv1d(mel_dim, 2 * mel_dim, 3, padding=1), nn.ReLU(),
                                   nn.Conv1d(2 * mel_dim, mel_dim, 1), nn.ReLU(),
                                   nn.Conv1d(mel_dim, att_dim, 1))

    def forward(self, text: torch.Tensor, mel: torch.Tensor, phone_mask: torch.Tensor,
                log_prior: torch.Tensor | None = None) -> torch.Tensor:
        """Returns ``[B, T, P]`` log attention (log-softmax over phonemes, prior added)."""
        k = self.key(text.transpose(1, 2))            # [B, A, P]
        q = self.query(mel.transpose(1, 2))           # [B, A, T]
        # ||q - k||^2 = ||q||^2 + ||k||^2 - 2 q.k, without a [B, A, T, P] intermediate
        dist = (q ** 2).sum(1)[:, :, None] + (k ** 2).sum(1)[:, None, :] - 2 * torch.bmm(q.transpose(1, 2), k)
        logits = -self.temperature * dist
        logits = logits.masked_fill(~phone_mask[:, None, :], -1e4)
        logp = F.log_softmax(logits, dim=-1)
        if log_prior is not None:
            logp = logp + log_prior
        return logp.masked_fill(~phone_mask[:, None, :], -1e4)


@lru_cache(maxsize=4096)
def beta_binomial_prior(n_phones: int, n_frames: int, scale: float = 1.0) -> np.ndarray:
    """``[n_frames, n_phones]`` log beta-binomial prior favouring the diagonal (Badlani et al.).

    Row t is the log pmf of BetaBinomial(n_phones - 1, scale * t, scale * (n_frames + 1 - t)).
    """
    n = n_phones - 1
    k = np.arange(n_phones)[None, :]
    t = np.arange(1, n_frames + 1)[:, None]
    a, b = scale * t, scale * (n_frames + 1 - t)
    log_choose = -np.log(n + 1) - betaln(n - k + 1, k + 1)
    return (log_choose + betaln(k + a, n - k + b) - betaln(a, b)).astype(np.float32)


def forward_sum_loss(log_attn: torch.Tensor, phone_lens: torch.Tensor, frame_lens: torch.Tensor,
                     blank_logprob: float = -1.0) -> torch.Tensor:
    """CTC over the phoneme sequence: the likelihood of every monotonic alignment.

    Args:
        log_attn: ``[B, T, P]`` log attention.
    """
    B, T, P = log_attn.shape
    padded = F.pad(log_attn, (1, 0), value=blank_logprob)  # blank at index 0
    total = log_attn.new_zeros(())
    for b in range(B):
        p, t = int(phone_lens[b]), int(frame_lens[b])
        lp = F.log_softmax(padded[b, :t, : p + 1], dim=-1)[:, None, :]  # [t, 1, p+1]
        target = torch.arange(1, p + 1, device=log_attn.device)[None]
        total = total + F.ctc_loss(lp, target, torch.tensor([t]), torch.tensor([p]), blank=0,
                                   zero_infinity=True)
    return total / B


@njit(cache=True)
def _mas(logp: np.ndarray) -> np.ndarray:
    """Monotonic alignment search on one [T, P] log-likelihood matrix (T >= P): hard path [T, P]."""
    T, P = logp.shape
    neg = -1e9
    acc = np.full((T, P), neg)
    acc[0, 0] = logp[0, 0]
    for t in range(1, T):
        for p in range(0, min(P, t + 1)):
            stay = acc[t - 1, p]
            move = acc[t - 1, p - 1] if p > 0 else neg
            acc[t, p] = logp[t, p] + (stay if stay > move else move)
    path = np.zeros((T, P), np.float32)
    p = P - 1
    for t in range(T - 1, -1, -1):
        path[t, p] = 1.0
        if p > 0 and t > 0 and (p == t or acc[t - 1, p - 1] > acc[t - 1, p]):
            p -= 1
    return path


def monotonic_alignment_search(log_attn: torch.Tensor, phone_lens: torch.Tensor,
                               frame_lens: torch.Tensor) -> torch.Tensor:
    """Hard monotonic alignment ``[B, T, P]`` (each frame to one phoneme, every phoneme >= 1 frame).

    Raises:
        ValueError: a clip has fewer frames than phonemes (it cannot be aligned).
    """
    out = torch.zeros_like(log_attn)
    lp = log_attn.detach().float().cpu().numpy()
    for b in range(lp.shape[0]):
        t, p = int(frame_lens[b]), int(phone_lens[b])
        if t < p:
            raise ValueError(f"item {b}: {t} frames cannot hold {p} phonemes")
        out[b, :t, :p] = torch.from_numpy(_mas(np.ascontiguousarray(lp[b, :t, :p], dtype=np.float64)))
    return out


def binarization_loss(hard: torch.Tensor, log_attn: torch.Tensor) -> torch.Tensor:
    """``-mean log soft-attention`` on the hard path: pulls the soft alignment onto it."""
    sel = log_attn.masked_select(hard > 0.5)
    return -sel.clamp(min=-1e4).mean()
