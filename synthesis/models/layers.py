"""Building blocks: masked transformer blocks (phoneme level), ConvNeXt blocks (frame level),
and the small convolutional predictors used for duration, pitch and energy.

Masks are bool with True on valid positions; shapes are [B, L, C] (batch, length, channels).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def sinusoidal_positions(length: int, dim: int, device=None) -> torch.Tensor:
    """``[length, dim]`` sinusoidal position encoding (Vaswani et al. 2017)."""
    pos = torch.arange(length, device=device, dtype=torch.float32)[:, None]
    div = torch.exp(torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(10_000.0) / dim))
    pe = torch.zeros(length, dim, device=device)
    pe[:, 0::2] = torch.sin(pos * div)
    pe[:, 1::2] = torch.cos(pos * div[: dim // 2])
    return pe


class MaskedConv1d(nn.Conv1d):
    """Conv over [B, L, C] that zeroes padded positions first (padding never leaks in)."""

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = x.masked_fill(~mask[..., None], 0.0)
        return super().forward(x.transpose(1, 2)).transpose(1, 2)


class TransformerBlock(nn.Module):
    """FastSpeech FFT block: self-attention + conv feed-forward, post-norm, dropout."""

    def __init__(self, dim: int, heads: int, ff_dim: int, kernel: int, dropout: float):
        super().__init__()
        self.attn = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.norm1 = nn.LayerNorm(dim)
        self.ff1 = MaskedConv1d(dim, ff_dim, kernel, padding=kernel // 2)
        self.ff2 = nn.Linear(ff_dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """x [B, L, C], mask [B, L] -> [B, L, C]."""
        a, _ = self.attn(x, x, x, key_padding_mask=~mask, need_weights=False)
        x = self.norm1(x + self.drop(a))
        h = self.ff2(self.drop(F.relu(self.ff1(x, mask))))
        x = self.norm2(x + self.drop(h))
        return x.masked_fill(~mask[..., None], 0.0)


class ShiftDepthwiseConv(nn.Module):
    """Depthwise (dilated) 1-D convolution over [B, T, C] as a sum of shifted, scaled copies.

    Mathematically ``nn.Conv1d(groups=C)``; written out because PyTorch's grouped-convolution
    backward on CPU was ~40x slower than the rest of a training step.
    """

    def __init__(self, dim: int, kernel: int, dilation: int):
        super().__init__()
        self.kernel, self.dilation = kernel, dilation
        self.weight = nn.Parameter(torch.randn(kernel, dim) / math.sqrt(kernel))
        self.bias = nn.Parameter(torch.zeros(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        T = x.shape[1]
        pad = self.dilation * (self.kernel // 2)
        xp = F.pad(x, (0, 0, pad, pad))
        out = self.bias.expand_as(x)
        for k in range(self.kernel):
            start = k * self.dilation
            out = out + xp[:, start:start + T] * self.weight[k]
        return out


class ConvNeXtBlock(nn.Module):
    """Depthwise (dilated) conv -> LayerNorm -> pointwise MLP, residual (Liu et al. 2022).

    Cheap per frame (mostly two dim x hidden matmuls), which is what makes frame-level
    decoding affordable on 2 CPU cores.
    """

    def __init__(self, dim: int, hidden: int, kernel: int, dilation: int, dropout: float):
        super().__init__()
        self.dw = ShiftDepthwiseConv(dim, kernel, dilation)
        self.norm = nn.LayerNorm(dim)
        self.pw1 = nn.Linear(dim, hidden)
        self.pw2 = nn.Linear(hidden, dim)
        # Dropout at frame level is a large share of a CPU step; p = 0 skips it entirely.
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """x [B, T, C] (zero on padded frames), mask [B, T] -> [B, T, C], zero on padding."""
        h = self.pw2(self.drop(F.gelu(self.pw1(self.norm(self.dw(x))))))
        return (x + h) * mask[..., None]


class ConvPredictor(nn.Module):
    """Two conv layers + LayerNorm + dropout -> one value per position (FastSpeech 2)."""

    def __init__(self, dim: int, hidden: int, kernel: int, dropout: float, out_dim: int = 1):
        super().__init__()
        self.conv1 = MaskedConv1d(dim, hidden, kernel, padding=kernel // 2)
        self.norm1 = nn.LayerNorm(hidden)
        self.conv2 = MaskedConv1d(hidden, hidden, kernel, padding=kernel // 2)
        self.norm2 = nn.LayerNorm(hidden)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(hidden, out_dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """x [B, L, C], mask [B, L] -> [B, L] (or [B, L, out_dim] when out_dim > 1)."""
        h = self.drop(self.norm1(F.relu(self.conv1(x, mask))))
        h = self.drop(self.norm2(F.relu(self.conv2(h, mask))))
        y = self.out(h).masked_fill(~mask[..., None], 0.0)
        return y.squeeze(-1) if y.shape[-1] == 1 else y
