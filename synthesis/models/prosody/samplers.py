"""Kathaka stage 2: samplers that predict the utterance latent's distribution from text alone.

Each sampler reads the collated batch's word-level text features and returns the mean and
log-variance ``[B, L]`` of a diagonal Gaussian over stage 1's latent (Karlapati et al. 2021):

* ``bert``: the sentence's MiniLM contextual word vectors (all-MiniLM-L6-v2, a 6-layer BERT,
  one vector per token, the mean of its word pieces) -> a bidirectional GRU -> attention
  pooling;
* ``graph``: graph attention (GAT, Velickovic et al. 2018) over the spaCy dependency tree,
  tokens as nodes, each node its MiniLM vector plus an embedding of its dependency label
  (``synthesis.text.graph`` builds the edges) -> attention pooling over the nodes;
* ``both``: the two summaries concatenated before the output layer.

Padding words never change a result: the GRU runs on packed sequences, padding nodes have
only self-loops, and pooling is masked.

Shapes: B batch, N tokens, D MiniLM size (384), H hidden size, L latent size.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from synthesis.text.graph import batch_adjacency
from synthesis.text.syntax import DEP_LABELS

SAMPLER_KINDS = ("bert", "graph", "both")
WORD_VECTOR_DIM = 384
N_DEP_LABELS = len(DEP_LABELS) + 1  # + "unknown" (syntax.py maps unseen labels to len(DEP_LABELS))


def word_mask(batch: dict) -> torch.Tensor:
    """[B, N] bool, True on the real tokens of each text."""
    lens = batch["word_lens"]
    return torch.arange(batch["word_vectors"].shape[1], device=lens.device)[None, :] < lens[:, None]


class MaskedAttentionPool(nn.Module):
    """[B, N, H] and mask [B, N] -> [B, H]: softmax-weighted mean with a learned scorer."""

    def __init__(self, dim: int):
        super().__init__()
        self.score = nn.Linear(dim, 1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        s = self.score(x).squeeze(-1).masked_fill(~mask, float("-inf"))
        return torch.bmm(torch.softmax(s, dim=1).masked_fill(~mask, 0.0)[:, None, :], x).squeeze(1)


class GATLayer(nn.Module):
    """One multi-head graph-attention layer on a dense adjacency (Velickovic et al. 2018).

    ``e_ij = LeakyReLU(a_dst . W h_i + a_src . W h_j)`` for each neighbour j of i (self
    included), ``alpha_ij = softmax_j e_ij``, output ``sum_j alpha_ij W h_j`` with the heads
    concatenated; then a residual connection, ELU and LayerNorm.
    """

    def __init__(self, dim: int, heads: int, dropout: float):
        super().__init__()
        if dim % heads:
            raise ValueError(f"GAT width {dim} is not divisible by {heads} heads")
        self.heads, self.head_dim = heads, dim // heads
        self.W = nn.Linear(dim, dim, bias=False)
        self.a_src = nn.Parameter(torch.randn(heads, self.head_dim) * 0.1)
        self.a_dst = nn.Parameter(torch.randn(heads, self.head_dim) * 0.1)
        self.drop = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor, adj: torch.Tensor) -> torch.Tensor:
        """x [B, N, H], adj [B, N, N] bool (row i: the neighbours of i) -> [B, N, H]."""
        B, N, _ = x.shape
        h = self.W(x).view(B, N, self.heads, self.head_dim)                 # [B, N, K, Hk]
        src = (h * self.a_src).sum(-1)                                        # [B, N, K]
        dst = (h * self.a_dst).sum(-1)
        e = F.leaky_relu(dst[:, :, None, :] + src[:, None, :, :], 0.2)       # [B, Ni, Nj, K]
        e = e.masked_fill(~adj[..., None], float("-inf"))
        alpha = self.drop(torch.softmax(e, dim=2))
        out = torch.einsum("bijk,bjkd->bikd", alpha, h).reshape(B, N, -1)
        return self.norm(x + F.elu(out))


class BertSummary(nn.Module):
    """MiniLM word vectors [B, N, D] -> sentence summary [B, H] (BiGRU + attention pooling)."""

    def __init__(self, hidden: int, dropout: float):
        super().__init__()
        self.inp = nn.Sequential(nn.LayerNorm(WORD_VECTOR_DIM), nn.Dropout(dropout), nn.Linear(WORD_VECTOR_DIM, hidden))
        self.gru = nn.GRU(hidden, hidden // 2, batch_first=True, bidirectional=True)
        self.pool = MaskedAttentionPool(hidden)
        self.drop = nn.Dropout(dropout)

    def forward(self, batch: dict, mask: torch.Tensor) -> torch.Tensor:
        x = self.inp(batch["word_vectors"].float())
        lens = mask.sum(1).clamp(min=1)
        packed = nn.utils.rnn.pack_padded_sequence(x, lens.cpu(), batch_first=True, enforce_sorted=False)
        h, _ = self.gru(packed)
        h, _ = nn.utils.rnn.pad_packed_sequence(h, batch_first=True, total_length=x.shape[1])
        return self.drop(self.pool(h, mask))


class GraphSummary(nn.Module):
    """Dependency graph with node features (MiniLM vector + label embedding) -> summary [B, H]."""

    def __init__(self, hidden: int, layers: int, heads: int, dropout: float):
        super().__init__()
        self.inp = nn.Sequential(nn.LayerNorm(WORD_VECTOR_DIM), nn.Dropout(dropout), nn.Linear(WORD_VECTOR_DIM, hidden))
        self.dep = nn.Embedding(N_DEP_LABELS, hidden)
        self.layers = nn.ModuleList(GATLayer(hidden, heads, dropout) for _ in range(layers))
        self.pool = MaskedAttentionPool(hidden)
        self.drop = nn.Dropout(dropout)

    def forward(self, batch: dict, mask: torch.Tensor) -> torch.Tensor:
        x = self.inp(batch["word_vectors"].float()) + self.dep(batch["word_dep"].clamp(0, N_DEP_LABELS - 1))
        adj = batch_adjacency(batch["word_head"], batch["word_lens"])
        for layer in self.layers:
            x = layer(x, adj)
        return self.drop(self.pool(x, mask))


class KathakaSampler(nn.Module):
    """Text-only prediction of the latent distribution: batch -> (mu, logvar), each [B, L]."""

    def __init__(self, kind: str, latent_dim: int, hidden: int = 128, gat_layers: int = 2, heads: int = 4,
                 dropout: float = 0.3):
        super().__init__()
        if kind not in SAMPLER_KINDS:
            raise ValueError(f"unknown Kathaka sampler {kind!r} ({', '.join(SAMPLER_KINDS)})")
        self.kind = kind
        self.bert = BertSummary(hidden, dropout) if kind in ("bert", "both") else None
        self.graph = GraphSummary(hidden, gat_layers, heads, dropout) if kind in ("graph", "both") else None
        width = hidden * (2 if kind == "both" else 1)
        self.head = nn.Sequential(nn.Linear(width, hidden), nn.GELU(), nn.Linear(hidden, 2 * latent_dim))

    def forward(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """Collated batch (``word_vectors`` [B, N, D], ``word_dep``, ``word_head`` [B, N],
        ``word_lens`` [B]) -> predicted mean and log-variance, each [B, L]."""
        mask = word_mask(batch)
        parts = []
        if self.bert is not None:
            parts.append(self.bert(batch, mask))
        if self.graph is not None:
            parts.append(self.graph(batch, mask))
        mu, logvar = self.head(torch.cat(parts, dim=-1)).chunk(2, dim=-1)
        return mu, logvar.clamp(-8.0, 4.0)


def build_sampler(kind: str, latent_dim: int, **kwargs) -> KathakaSampler:
    return KathakaSampler(kind, latent_dim, **kwargs)
