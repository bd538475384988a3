"""The text front end: any English text -> everything the models read about it.

``TextFrontend().analyse(text)`` normalises, tokenises once, and aligns gruut phonemes,
spaCy syntax and MiniLM vectors to those tokens. The phoneme sequence is
``<bos> phones-of-token-0 ... <eos>``; each punctuation token contributes one symbol (so
pauses at punctuation get their own duration) and each phoneme carries the index of the
token it belongs to (``-1`` for ``<bos>``/``<eos>``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import numpy as np

from synthesis.text.normalize import TextError, normalize_text
from synthesis.text.phonemes import BOS_ID, EOS_ID, PHONES, SYMBOL_TO_ID, SYMBOLS, phone_id, phonemize_tokens, split_stress
from synthesis.text.syntax import DEP_LABELS, SPACY_MODEL, UPOS, SyntaxFeatures, analyse_syntax
from synthesis.text.tokens import PUNCT_CLASSES, Token, tokenize
from synthesis.text.vectors import MINILM_DIM, word_vectors

TEXT_FORMAT_VERSION = 1
TEXT_CONFIG = {
    "format_version": TEXT_FORMAT_VERSION,
    "symbols": list(SYMBOLS),
    "punct_classes": list(PUNCT_CLASSES),
    "upos": list(UPOS),
    "dep_labels": list(DEP_LABELS),
    "g2p": "gruut en-us",
    "spacy_model": SPACY_MODEL,
    "word_vectors": f"all-MiniLM-L6-v2 mean of word pieces ({MINILM_DIM})",
}
TEXT_CONFIG_HASH = hashlib.sha256(json.dumps(TEXT_CONFIG, sort_keys=True).encode()).hexdigest()[:16]
N_SYMBOLS = len(SYMBOLS)


@dataclass
class TextAnalysis:
    """One text, analysed. N tokens (words + punctuation), P phonemes (with bos/eos)."""

    text: str
    normalized: str
    tokens: list[Token]
    phoneme_ids: np.ndarray     # [P] int16 symbol ids
    stress: np.ndarray          # [P] int8 0 none, 1 primary, 2 secondary
    word_index: np.ndarray      # [P] int16 token index per phoneme, -1 for bos/eos
    syntax: SyntaxFeatures
    word_vectors: np.ndarray    # [N, 384] float16 MiniLM
    dropped: tuple[str, ...] = ()

    @property
    def phonemes(self) -> list[str]:
        return [SYMBOLS[i] for i in self.phoneme_ids]

    @property
    def words(self) -> list[str]:
        return [t.text for t in self.tokens]

    def to_arrays(self) -> dict[str, np.ndarray]:
        s = self.syntax
        return {
            "phoneme_ids": self.phoneme_ids, "stress": self.stress, "word_index": self.word_index,
            "words": np.array(self.words), "word_is_punct": s.is_punct, "word_vectors": self.word_vectors,
            "word_pos": s.upos, "word_dep": s.dep, "word_head": s.head, "word_depth": s.depth,
            "word_open_class": s.open_class, "word_chunk_bio": s.chunk_bio, "word_chunk_id": s.chunk_id,
            "word_punct_after": s.punct_after, "word_to_next_punct": s.to_next_punct,
            "word_from_prev_punct": s.from_prev_punct, "word_sentence": s.sentence,
            "graph_edges": s.edges(), "normalized_text": np.array(self.normalized),
        }


class TextFrontend:
    """Loads spaCy and MiniLM lazily, once; ``analyse`` is then ~50 ms per sentence."""

    def __init__(self, with_vectors: bool = True, with_syntax: bool = True):
        self.with_vectors = with_vectors
        self.with_syntax = with_syntax

    def analyse(self, text: str) -> TextAnalysis:
        """Raises TextError when nothing speakable remains."""
        norm = normalize_text(text)
        tokens = tokenize(norm.text)
        if not any(t.is_word for t in tokens):
            raise TextError(f"no speakable English words in the text {text[:40]!r}")
        phones = phonemize_tokens(tokens)
        ids, stress, widx = [BOS_ID], [0], [-1]
        for i, (tok, ph) in enumerate(zip(tokens, phones)):
            if not tok.is_word:
                ids.append(SYMBOL_TO_ID[f"punct:{tok.punct_class}"])
                stress.append(0)
                widx.append(i)
                continue
            for p in ph:
                base, st = split_stress(p)
                ids.append(phone_id(base))
                stress.append(st)
                widx.append(i)
        ids.append(EOS_ID)
        stress.append(0)
        widx.append(-1)
        if self.with_syntax:
            syntax = analyse_syntax(tokens)
        else:
            syntax = _empty_syntax(tokens)
        if self.with_vectors:
            vecs = word_vectors([t.text for t in tokens]).astype(np.float16)
        else:
            vecs = np.zeros((len(tokens), MINILM_DIM), np.float16)
        return TextAnalysis(text, norm.text, tokens, np.array(ids, np.int16), np.array(stress, np.int8),
                            np.array(widx, np.int16), syntax, vecs, norm.dropped)


def _empty_syntax(tokens: list[Token]) -> SyntaxFeatures:
    n = len(tokens)
    z = np.zeros(n, np.int16)
    return SyntaxFeatures(z, z, np.arange(n, dtype=np.int16), z, np.zeros(n, bool), np.zeros(n, np.int8),
                          np.full(n, -1, np.int16), np.array([not t.is_word for t in tokens]),
                          np.full(n, -1, np.int8), z, z, z)


__all__ = ["TextAnalysis", "TextFrontend", "TextError", "TEXT_CONFIG", "TEXT_CONFIG_HASH", "N_SYMBOLS", "PHONES"]
