"""The dependency parse as a graph over a text's tokens (for graph attention).

The cache stores spaCy's parse as one head index per token (``word_head``; a sentence root
points to itself, ``synthesis.text.syntax``). Here that becomes an adjacency matrix with

* an edge each way between a token and its head (attention flows up and down the tree),
* a self-loop on every node (GAT attends to the node itself; padding nodes then still have
  one neighbour, so their softmax is defined, and they touch no real node),
* an edge between the roots of consecutive sentences of one text, so a multi-sentence text
  is one connected graph.

Punctuation tokens are nodes too (spaCy attaches them with the label ``punct``): commas and
full stops mark the phrase structure that prosody follows. A one-token text is a single
node with its self-loop.
"""

from __future__ import annotations

import numpy as np
import torch


def parse_adjacency(heads: np.ndarray) -> np.ndarray:
    """Heads ``[N]`` (a root points to itself) -> symmetric adjacency ``[N, N]`` bool with self-loops.

    Raises:
        ValueError: a head index outside the text.
    """
    heads = np.asarray(heads, dtype=np.int64)
    n = len(heads)
    if n and (heads.min() < 0 or heads.max() >= n):
        raise ValueError(f"parse head index out of range 0..{n - 1}: {heads.tolist()}")
    adj = np.eye(n, dtype=bool)
    idx = np.arange(n)
    dep = idx[heads != idx]
    adj[dep, heads[dep]] = True
    adj[heads[dep], dep] = True
    roots = idx[heads == idx]
    adj[roots[:-1], roots[1:]] = True
    adj[roots[1:], roots[:-1]] = True
    return adj


def batch_adjacency(word_head: torch.Tensor, word_lens: torch.Tensor) -> torch.Tensor:
    """Padded heads ``[B, N]`` and lengths ``[B]`` -> adjacency ``[B, N, N]`` bool.

    Real nodes connect as in ``parse_adjacency``; every padding node has only its self-loop.
    """
    B, N = word_head.shape
    adj = torch.eye(N, dtype=torch.bool, device=word_head.device).repeat(B, 1, 1)
    heads = word_head.detach().cpu().numpy()
    for b in range(B):
        n = int(word_lens[b])
        adj[b, :n, :n] = torch.from_numpy(parse_adjacency(heads[b, :n]))
    return adj


def n_edges(heads: np.ndarray) -> int:
    """Dependency edges of a parse (roots excluded): 0 for a text cached without its parse."""
    heads = np.asarray(heads)
    return int((heads != np.arange(len(heads))).sum())
