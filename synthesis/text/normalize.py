"""Text normalisation to speakable English words, as LJSpeech (19th/20th-century prose) needs.

Numbers become words before phonemisation, so every later stage (gruut, spaCy, MiniLM) sees
the same words: cardinals, ordinals (1st), years (1862 -> eighteen sixty-two), decimals,
currency ($5.50, £3), percentages, times, Roman numerals after chapter-like words and regnal
names (George III), and the common abbreviations (Mr., Mrs., Dr., St., Capt., ...).
Characters outside Latin script (emoji, CJK, ...) are dropped and reported, accents removed.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from num2words import num2words

from synthesis.errors import SynthesisError


class TextError(SynthesisError):
    """Input text that cannot be spoken (empty, no English words left after normalisation)."""


@dataclass(frozen=True)
class NormalizedText:
    text: str
    #: characters removed because they are not speakable Latin text (emoji, other scripts)
    dropped: tuple[str, ...] = field(default_factory=tuple)


_ABBREVIATIONS = {
    "mr": "mister", "mrs": "missus", "messrs": "messieurs", "dr": "doctor", "jr": "junior",
    "sr": "senior", "capt": "captain", "col": "colonel", "gen": "general", "lt": "lieutenant",
    "maj": "major", "sgt": "sergeant", "rev": "reverend", "hon": "honorable", "gov": "governor",
    "co": "company", "ltd": "limited", "esq": "esquire", "ft": "fort", "mt": "mount",
    "prof": "professor", "vs": "versus", "etc": "et cetera", "jan": "january", "feb": "february",
    "aug": "august", "sept": "september", "oct": "october", "nov": "november", "dec": "december",
}
_CHAPTER_WORDS = r"(?:Chapter|CHAPTER|Book|BOOK|Part|PART|Volume|Vol\.|Section|Act|Scene|Article|Canto|Psalm)"
_ROMAN = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000}
_CURRENCY = {"$": ("dollar", "dollars", "cent", "cents"), "£": ("pound", "pounds", "penny", "pence"),
             "€": ("euro", "euros", "cent", "cents")}
_SCALES = r"(?:thousand|million|billion|trillion)"
_SYMBOLS = {"&": " and ", "%": " percent ", "+": " plus ", "=": " equals ", "@": " at ", "#": " number ",
            "/": " slash "}


def roman_to_int(s: str) -> int | None:
    """Value of a well-formed Roman numeral, else None (so ``"MIX"`` the word stays a word)."""
    total, prev = 0, 0
    for ch in reversed(s.upper()):
        v = _ROMAN.get(ch)
        if v is None:
            return None
        total = total - v if v < prev else total + v
        prev = max(prev, v)
    if total <= 0 or _int_to_roman(total) != s.upper():
        return None
    return total


def _int_to_roman(n: int) -> str:
    out = []
    for v, sym in ((1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"), (90, "XC"), (50, "L"),
                   (40, "XL"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I")):
        while n >= v:
            out.append(sym)
            n -= v
    return "".join(out)


def _words(n: int | float, to: str = "cardinal") -> str:
    # num2words writes "one thousand, two hundred"; commas there would read as pauses.
    return num2words(n, to=to, lang="en").replace(",", "").replace("-", " ")


def _year(n: int) -> str:
    if 2000 <= n <= 2009:
        return _words(n)
    return num2words(n, to="year", lang="en").replace(",", "").replace("-", " ")


def _currency(m: re.Match) -> str:
    sym, whole, frac, scale = m.group(1), m.group(2).replace(",", ""), m.group(3), m.group(4)
    one, many, sub_one, sub_many = _CURRENCY[sym]
    if scale:
        amount = f"{whole}.{frac}" if frac else whole
        return f" {_decimal(amount)} {scale} {many} "
    n = int(whole)
    parts = [f"{_words(n)} {one if n == 1 else many}"]
    if frac and int(frac.ljust(2, "0")[:2]):
        c = int(frac.ljust(2, "0")[:2])
        parts.append(f"{_words(c)} {sub_one if c == 1 else sub_many}")
    return " " + " and ".join(parts) + " "


def _decimal(s: str) -> str:
    whole, _, frac = s.partition(".")
    out = _words(int(whole)) if whole else "zero"
    if frac:
        out += " point " + " ".join(_words(int(d)) for d in frac)
    return out


def _number(m: re.Match) -> str:
    raw = m.group(0)
    digits = raw.replace(",", "")
    if "." in digits:
        return f" {_decimal(digits)} "
    n = int(digits)
    # A bare four-digit number in prose is nearly always a year in LJSpeech (1100-2099).
    if "," not in raw and len(digits) == 4 and 1100 <= n <= 2099:
        return f" {_year(n)} "
    return f" {_words(n)} "


def _roman_after_chapter(m: re.Match) -> str:
    value = roman_to_int(m.group(2))
    return f"{m.group(1)} {_words(value)}" if value else m.group(0)


def _roman_regnal(m: re.Match) -> str:
    value = roman_to_int(m.group(2))
    return f"{m.group(1)} the {_words(value, 'ordinal')}" if value else m.group(0)


def _abbreviation(m: re.Match) -> str:
    word = m.group(1)
    low = word.lower()
    if low == "st":
        # "St. Paul" is a saint, "Bond St." a street.
        nxt = m.string[m.end():].lstrip()
        return "Saint" if nxt[:1].isupper() else "Street"
    if low == "no" and re.match(r"\s*\d", m.string[m.end():]):
        return "number"
    exp = _ABBREVIATIONS.get(low)
    if exp is None or (low == "no"):
        return m.group(0)
    return exp.capitalize() if word[0].isupper() else exp


def normalize_text(text: str) -> NormalizedText:
    """Raw English text -> words and punctuation only (letters, apostrophes, ``,;:.!?()"-``).

    Raises:
        TextError: when nothing speakable is left.
    """
    if not isinstance(text, str):
        raise TextError(f"text must be a string, got {type(text).__name__}")
    s = unicodedata.normalize("NFKC", text)
    s = (s.replace("\u2018", "'").replace("\u2019", "'").replace("\u201c", '"').replace("\u201d", '"')
         .replace("\u2014", " -- ").replace("\u2013", " -- ").replace("\u2026", "..."))
    s = re.sub(r"\b(i\.e|e\.g)\.", lambda m: "that is" if m.group(1) == "i.e" else "for example", s)
    s = re.sub(r"\b([A-Za-z]+)\.(?=\s|$|,)", lambda m: _abbreviation(m) if m.group(1).lower() in _ABBREVIATIONS
               or m.group(1).lower() in ("st", "no") else m.group(0), s)
    s = re.sub(rf"\b({_CHAPTER_WORDS})\s+([IVXLCDM]+)\b", _roman_after_chapter, s)
    s = re.sub(r"\b([A-Z][a-z]+)\s+([IVX]{2,}|IV|V|VI|IX|X)\b", _roman_regnal, s)
    s = re.sub(rf"([$£€])\s?(\d[\d,]*)(?:\.(\d+))?(?:\s({_SCALES}))?", _currency, s)
    s = re.sub(r"\b(\d+)(st|nd|rd|th)\b", lambda m: f" {_words(int(m.group(1)), 'ordinal')} ", s)
    s = re.sub(r"\b(\d{1,2}):(\d{2})\b", lambda m: f" {_words(int(m.group(1)))} "
               + ("o'clock" if m.group(2) == "00" else (("oh " if m.group(2)[0] == "0" else "")
                                                         + _words(int(m.group(2))))) + " ", s)
    s = re.sub(r"(\d)%", r"\1 percent", s)
    s = re.sub(r"\d[\d,]*\d(?:\.\d+)?|\d(?:\.\d+)?", _number, s)
    for sym, rep in _SYMBOLS.items():
        s = s.replace(sym, rep)
    # Latin letters with accents -> plain letters; everything else outside the kept set goes.
    s = "".join(ch for ch in unicodedata.normalize("NFKD", s) if not unicodedata.combining(ch))
    kept, dropped = [], []
    for ch in s:
        if ch.isascii() and (ch.isalpha() or ch in " '\",;:.!?()-[]\n\t"):
            kept.append(ch)
        elif ch.isspace() or ch.isascii():
            kept.append(" ")
        else:
            kept.append(" ")
            dropped.append(ch)
    s = "".join(kept).replace("[", "(").replace("]", ")")
    s = re.sub(r"\s+", " ", s).strip()
    s = re.sub(r" ([,;:.!?)])", r"\1", s)
    if not re.search(r"[A-Za-z]", s):
        shown = text if len(text) <= 40 else text[:37] + "..."
        raise TextError(f"no speakable English words in the text {shown!r}")
    return NormalizedText(s, tuple(dropped))
