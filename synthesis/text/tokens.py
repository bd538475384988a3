"""The one word segmentation that gruut, spaCy and MiniLM all share.

A token is a word (letters with inner apostrophes: ``don't``, ``o'clock``, ``boys'``) or one
punctuation mark. Hyphenated compounds are split into their words (``forty-two`` -> ``forty``
``two``), as gruut and spaCy both do, while a free-standing dash (`` -- ``) is a punctuation
token: it is usually a pause. Every later stage is aligned to this list explicitly, so a
phoneme's word index, a word's POS tag and its MiniLM vector always refer to the same token.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: punctuation classes kept as tokens (each takes a duration in the acoustic model)
PUNCT_CLASSES = (",", ";", ":", ".", "!", "?", "--", "(", ")", '"')
_PUNCT_MAP = {",": ",", ";": ";", ":": ":", ".": ".", "!": "!", "?": "?", "-": "--", "(": "(", ")": ")",
              '"': '"', "'": '"'}
_TOKEN_RE = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)*(?:(?<=s)'(?![A-Za-z]))?|\.{2,}|-{2,}|[,;:.!?()\"'-]")


@dataclass(frozen=True)
class Token:
    text: str
    is_word: bool
    start: int
    end: int
    space_after: bool

    @property
    def punct_class(self) -> str | None:
        """Canonical punctuation class (``PUNCT_CLASSES``) of a punctuation token."""
        if self.is_word:
            return None
        return "." if self.text.startswith(".") else ("--" if self.text.startswith("-") else _PUNCT_MAP[self.text])


def tokenize(normalized: str) -> list[Token]:
    """Split normalised text (see ``normalize_text``) into word and punctuation tokens."""
    tokens: list[Token] = []
    matches = list(_TOKEN_RE.finditer(normalized))
    for i, m in enumerate(matches):
        text = m.group(0)
        is_word = text[0].isalpha()
        if text == "-" and tokens and tokens[-1].is_word and not tokens[-1].space_after and i + 1 < len(matches) \
                and matches[i + 1].start() == m.end() and matches[i + 1].group(0)[0].isalpha():
            continue  # an inner hyphen joins two words of a compound: drop it, keep the words apart
        nxt = matches[i + 1].start() if i + 1 < len(matches) else len(normalized)
        space_after = nxt > m.end() or i + 1 == len(matches)
        tokens.append(Token(text, is_word, m.start(), m.end(), space_after))
    return tokens


def letters(s: str) -> str:
    """Lower-case letters only: the key used to align other tokenisations to ours."""
    return re.sub(r"[^a-z]", "", s.lower())
