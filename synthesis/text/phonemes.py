"""Grapheme-to-phoneme with gruut, aligned to the shared tokens.

The phoneme inventory is fixed (ids must not depend on the data): special symbols, one
symbol per punctuation class, and the base phones of gruut's en-us lexicon. Lexical stress
is a separate per-phoneme value (0 none, 1 primary, 2 secondary), so a stressed and an
unstressed vowel share their embedding.
"""

from __future__ import annotations

from functools import lru_cache

from synthesis.text.tokens import PUNCT_CLASSES, Token, letters

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
SPECIALS = (PAD, BOS, EOS, UNK)
# Base phones of gruut-lang-en 2.0's en-us lexicon (stress marks stripped), plus the few
# symbols its neural G2P can emit for unseen words.
PHONES = ("n", "ə", "l", "s", "t", "ɹ", "k", "ɪ", "d", "m", "z", "ɚ", "i", "b", "ɛ", "p", "ɑ", "æ",
          "ɡ", "f", "ŋ", "v", "oʊ", "eɪ", "h", "ʃ", "w", "ɔ", "ʌ", "aɪ", "u", "d͡ʒ", "j", "t͡ʃ", "θ",
          "aʊ", "ʊ", "ɔɪ", "ð", "ʒ", "ɾ", "ʔ", "ᵻ", "l̩", "n̩", "x", "ɐ", "ɜ", "r", "g")
SYMBOLS = SPECIALS + tuple(f"punct:{p}" for p in PUNCT_CLASSES) + PHONES
SYMBOL_TO_ID = {s: i for i, s in enumerate(SYMBOLS)}
PAD_ID, BOS_ID, EOS_ID, UNK_ID = (SYMBOL_TO_ID[s] for s in SPECIALS)
PUNCT_IDS = frozenset(SYMBOL_TO_ID[f"punct:{p}"] for p in PUNCT_CLASSES)
_STRESS = {"ˈ": 1, "ˌ": 2}


def split_stress(phone: str) -> tuple[str, int]:
    stress = 0
    while phone and phone[0] in _STRESS:
        stress = _STRESS[phone[0]]
        phone = phone[1:]
    return phone, stress


def phone_id(phone: str) -> int:
    return SYMBOL_TO_ID.get(phone, UNK_ID)


@lru_cache(maxsize=4096)
def _word_alone(word: str) -> tuple[str, ...]:
    """gruut phonemes of one word without context (fallback when alignment fails)."""
    from gruut import sentences

    out: list[str] = []
    for sent in sentences(word, lang="en-us"):
        for w in sent:
            if w.is_spoken and w.phonemes:
                out.extend(w.phonemes)
    return tuple(out)


def phonemize_tokens(tokens: list[Token]) -> list[list[str]]:
    """gruut phonemes (with stress marks) of each word token; ``[]`` for punctuation tokens.

    gruut reads the whole sentence (so homographs such as past-tense "read" get the right
    pronunciation) and its words are mapped back onto our tokens by their letters: gruut may
    split a token (``James's``) or keep it whole, but it never reorders letters. Any token
    the sentence-level pass cannot account for is phonemised on its own.
    """
    from gruut import sentences

    words = [(i, letters(t.text)) for i, t in enumerate(tokens) if t.is_word]
    result: list[list[str]] = [[] for _ in tokens]
    text = " ".join(t.text for t in tokens if t.is_word)
    gruut_words = [(letters(w.text), list(w.phonemes or []))
                   for sent in sentences(text, lang="en-us") for w in sent
                   if w.is_spoken and letters(w.text)]
    g = 0
    for tok_index, key in words:
        acc, phones, start = "", [], g
        while g < len(gruut_words) and len(acc) < len(key) and key.startswith(acc + gruut_words[g][0]):
            acc += gruut_words[g][0]
            phones.extend(gruut_words[g][1])
            g += 1
        if acc != key or not phones:
            g = start  # this token did not line up: leave gruut's stream where it was
            phones = list(_word_alone(tokens[tok_index].text))
        result[tok_index] = phones
    return result
