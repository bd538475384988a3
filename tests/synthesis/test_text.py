"""Text front end: normalisation, the shared segmentation, gruut/spaCy/MiniLM alignment."""

import numpy as np
import pytest

from synthesis.text.normalize import TextError, normalize_text, roman_to_int
from synthesis.text.phonemes import BOS_ID, EOS_ID, PUNCT_IDS, phonemize_tokens
from synthesis.text.tokens import tokenize


@pytest.mark.parametrize("raw, expected", [
    ("in 1862", "in eighteen sixty two"),
    ("the 1st and 22nd", "the first and twenty second"),
    ("$5.50", "five dollars and fifty cents"),
    ("$1", "one dollar"),
    ("£3 million", "three million pounds"),
    ("Mr. Smith and Mrs. Jones met Dr. Brown", "Mister Smith and Missus Jones met Doctor Brown"),
    ("St. Paul lives on Bond St.", "Saint Paul lives on Bond Street"),
    ("CHAPTER IV", "CHAPTER four"),
    ("George III", "George the third"),
    ("1,234 men", "one thousand two hundred and thirty four men"),
    ("3.5 percent, 50%", "three point five percent, fifty percent"),
    ("in 2005", "in two thousand and five"),
    ("at 10:30", "at ten thirty"),
    ("No. 7", "number seven"),
    ("caf\u00e9 \u201cquoted\u201d", 'cafe "quoted"'),
])
def test_normalisation(raw, expected):
    assert normalize_text(raw).text == expected


def test_non_latin_is_dropped_and_reported():
    norm = normalize_text("hello \U0001F600 \u4e16\u754c world")
    assert norm.text == "hello world"
    assert "\U0001F600" in norm.dropped and "\u4e16" in norm.dropped


@pytest.mark.parametrize("bad", ["", "   ", "?!...", "\U0001F600\U0001F600", "\u4e16\u754c", "-- ,"])
def test_unspeakable_text_raises(bad):
    with pytest.raises(TextError):
        normalize_text(bad)


def test_roman_numerals():
    assert roman_to_int("XIV") == 14 and roman_to_int("MIX") == 1009 and roman_to_int("IIII") is None


def test_tokens_hyphens_apostrophes_quotes():
    toks = tokenize(normalize_text('He said, "don\'t" -- the boys\' well-known forty-two books...').text)
    assert [t.text for t in toks] == ["He", "said", ",", '"', "don't", '"', "--", "the", "boys'", "well",
                                      "known", "forty", "two", "books", "..."]
    assert [t.punct_class for t in toks if not t.is_word] == [",", '"', '"', "--", "."]


def test_every_word_gets_phonemes_and_numbers_expand_to_words():
    toks = tokenize(normalize_text("In 1862, James's men read twenty-one books.").text)
    phones = phonemize_tokens(toks)
    words = [t.text for t in toks]
    assert words[:4] == ["In", "eighteen", "sixty", "two"]
    for tok, ph in zip(toks, phones):
        assert (len(ph) > 0) == tok.is_word, tok.text
    # past tense "read" after a plural subject: gruut reads the sentence, not the word alone
    assert phones[words.index("read")] == ["ɹ", "ˈɛ", "d"]


@pytest.fixture(scope="module")
def frontend():
    from synthesis.text.frontend import TextFrontend

    return TextFrontend()


def test_frontend_alignment_of_phonemes_syntax_and_vectors(frontend):
    a = frontend.analyse('The old man, who was tired, read the "well-known" book in 1862.')
    n = len(a.tokens)
    assert a.phoneme_ids[0] == BOS_ID and a.phoneme_ids[-1] == EOS_ID
    assert a.word_index[0] == -1 and a.word_index[-1] == -1
    inner = a.word_index[1:-1]
    assert np.all(np.diff(inner) >= 0) and set(inner.tolist()) == set(range(n))
    # punctuation tokens: exactly one punctuation symbol each
    for i, tok in enumerate(a.tokens):
        ids = a.phoneme_ids[a.word_index == i]
        if not tok.is_word:
            assert len(ids) == 1 and int(ids[0]) in PUNCT_IDS
        else:
            assert all(int(x) not in PUNCT_IDS for x in ids)
    arrays = a.to_arrays()
    assert arrays["word_vectors"].shape == (n, 384) and arrays["word_vectors"].dtype == np.float16
    assert np.abs(arrays["word_vectors"].astype(np.float32)).sum(1).min() > 0
    for key in ("word_pos", "word_dep", "word_head", "word_open_class", "word_chunk_bio"):
        assert arrays[key].shape == (n,)
    from synthesis.text.syntax import UPOS

    pos = {t.text: UPOS[p] for t, p in zip(a.tokens, arrays["word_pos"])}
    assert pos["man"] == "NOUN" and pos["The"] == "DET" and pos[","] == "PUNCT"
    assert arrays["word_open_class"][a.words.index("man")] and not arrays["word_open_class"][a.words.index("The")]
    # the parse is a tree: following heads from any token reaches a root
    head = arrays["word_head"]
    for i in range(n):
        seen, j = 0, i
        while head[j] != j and seen <= n:
            j, seen = head[j], seen + 1
        assert seen <= n
    assert arrays["graph_edges"].shape[1] == 2
    # "The old man" is a noun chunk: begin, inside, inside
    assert arrays["word_chunk_bio"][:3].tolist() == [1, 2, 2]


def test_frontend_same_words_for_vectors_with_context(frontend):
    a = frontend.analyse("I read it.")
    b = frontend.analyse("They read it yesterday.")
    va = a.word_vectors[a.words.index("read")].astype(np.float32)
    vb = b.word_vectors[b.words.index("read")].astype(np.float32)
    assert not np.allclose(va, vb)  # contextual, not a lookup table
