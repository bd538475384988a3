"""Text normalisation for word error rate and for aligning transcripts with the script.

Word error rate is only meaningful when both sides are written the same way: Whisper writes
"1853", "Mr." and "colour" where a script may say "eighteen fifty-three", "Mister" and
"color". Both the reference text and the transcript therefore go through Whisper's own
English normaliser (``EnglishTextNormalizer``, shipped in transformers; Radford et al. 2022,
appendix C): lower case, punctuation removed, numbers and currency written as digits,
contractions and titles expanded ("mr" -> "mister", "won't" -> "will not"), British
spellings mapped to American ones; possessives are folded first (see below). The spelling list Whisper uses (~1,700 pairs) comes from
the Hugging Face hub, which is not reachable here, so a short list of common pairs stands in.
"""

from __future__ import annotations

import re
from functools import lru_cache

# British -> American spellings common in nineteenth-century prose such as LJSpeech (a
# subset of the list Whisper's normaliser loads from the hub).
SPELLING_MAPPING = {
    "behaviour": "behavior", "colour": "color", "coloured": "colored", "endeavour": "endeavor",
    "endeavoured": "endeavored", "favour": "favor", "favourable": "favorable",
    "favoured": "favored", "harbour": "harbor", "honour": "honor", "honourable": "honorable",
    "honoured": "honored", "humour": "humor", "labour": "labor", "laboured": "labored",
    "labourers": "laborers", "neighbour": "neighbor", "neighbourhood": "neighborhood",
    "neighbours": "neighbors", "parlour": "parlor", "rumour": "rumor", "rumours": "rumors",
    "vigour": "vigor", "centre": "center", "centres": "centers", "theatre": "theater",
    "metre": "meter", "fibre": "fiber", "sombre": "somber", "defence": "defense",
    "offence": "offense", "offences": "offenses", "licence": "license", "pretence": "pretense",
    "judgement": "judgment", "gaol": "jail", "gaols": "jails", "gaoler": "jailer",
    "gaolers": "jailers", "cheque": "check", "cheques": "checks", "grey": "gray",
    "jewellery": "jewelry", "travelled": "traveled", "travelling": "traveling",
    "traveller": "traveler", "marvellous": "marvelous", "counsellor": "counselor",
    "waggon": "wagon", "waggons": "wagons", "connexion": "connection", "recognise": "recognize",
    "recognised": "recognized", "organised": "organized", "realise": "realize",
    "realised": "realized", "civilised": "civilized", "apologise": "apologize",
    "criticise": "criticize", "authorised": "authorized", "characterised": "characterized",
    "emphasise": "emphasize", "sympathise": "sympathize", "catalogue": "catalog",
    "programme": "program", "plough": "plow", "mould": "mold", "moustache": "mustache",
    "storey": "story", "kerb": "curb", "tyre": "tire", "draught": "draft", "aluminium": "aluminum",
}


# Whisper's normaliser reads every "'s" as "is" ("the debtor's side" -> "the debtor is side")
# while a plural possessive ("debtors'") just loses its apostrophe, so one spoken form gave two
# written ones. Possessives are folded to the bare plural-looking form on both sides first;
# the pronouns and adverbs whose "'s" is usually "is" or "has" keep it for the normaliser.
_IS_CONTRACTIONS = {"it", "that", "there", "here", "what", "who", "where", "he", "she", "how", "when",
                    "why", "let", "this", "everyone", "everything", "nothing", "something", "one"}
_POSSESSIVE = re.compile(r"\b([A-Za-z]+)['’]s\b")
_PLURAL_POSSESSIVE = re.compile(r"\b([A-Za-z]+s)['’](?=\W|$)")


def _fold_possessives(text: str) -> str:
    text = _POSSESSIVE.sub(lambda m: m.group(0) if m.group(1).lower() in _IS_CONTRACTIONS
                           else m.group(1) + "s", text)
    return _PLURAL_POSSESSIVE.sub(lambda m: m.group(1), text)


@lru_cache(maxsize=1)
def _whisper_normaliser():
    from transformers.models.whisper.english_normalizer import EnglishTextNormalizer

    return EnglishTextNormalizer(SPELLING_MAPPING)


def normalise_for_wer(text: str) -> list[str]:
    """Whisper-style normalised words of ``text`` (tokens without a letter or digit dropped)."""
    words = _whisper_normaliser()(_fold_possessives(text)).split()
    return [w for w in words if any(ch.isalnum() for ch in w)]


_NON_WORD = re.compile(r"[^0-9a-z]+")


def word_key(token: str) -> str:
    """One written word reduced for matching a transcript word to a script word.

    Lower case, letters and digits only ("John's," -> "johns", "i.e." -> "ie"); a token of
    punctuation only gives "". Unlike ``normalise_for_wer`` this keeps one key per token, so
    word positions (and their timestamps) survive.
    """
    return _NON_WORD.sub("", token.lower())


# Titles and Latin abbreviations whose full stop is not a sentence boundary.
_ABBREVIATIONS = {"mr", "mrs", "messrs", "dr", "st", "jr", "sr", "no", "co", "gen", "col", "capt",
                  "lt", "rev", "prof", "vs", "esq", "hon", "ft", "mt", "viz", "etc"}
_INITIALISM = re.compile(r"^(?:[A-Za-z]\.)+$")  # i.e., e.g., U.S.
_BREAK_CHARS = set(",.;:!?()[]—–-")


def script_words(text: str) -> tuple[list[str], list[bool]]:
    """Words of a script and whether punctuation follows each.

    Punctuation marks a junction when a word ends in one of , . ; : ! ? ) ] or a dash, or the
    next token starts with ( [ or a dash, or a free-standing dash ("--") lies between.
    Quotation marks and apostrophes do not count; the full stop of an abbreviation ("Mr.",
    "i.e.") does not count.

    Returns:
        ``(keys, punct_after)``: the ``word_key`` of each word, and for each word whether a
        punctuation mark separates it from the next one (the last entry says whether the
        text ends in punctuation).
    """
    keys: list[str] = []
    punct: list[bool] = []
    for token in text.split():
        key = word_key(token)
        stripped = token.strip("\"'“”‘’")
        if not key:
            if keys and any(ch in _BREAK_CHARS for ch in stripped):
                punct[-1] = True
            continue
        if keys and stripped[:1] in set("([—–-"):
            punct[-1] = True
        trailing = stripped[len(stripped.rstrip("".join(_BREAK_CHARS))):]
        is_abbrev = trailing == "." and (_INITIALISM.match(stripped) or key in _ABBREVIATIONS)
        keys.append(key)
        punct.append(bool(trailing) and not is_abbrev)
    return keys, punct
