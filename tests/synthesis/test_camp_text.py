"""CAMP's word inputs and word pooling on real front-end analyses of tricky sentences
(nested noun phrases, lists, quotes, one word, words that gruut splits)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from synthesis.models.backbone import durations_to_alignment
from synthesis.models.prosody.camp import pool_words
from synthesis.models.prosody.camp_predictor import word_features
from synthesis.text.tokens import PUNCT_CLASSES
from synthesis.training.data import text_item_arrays

COMMA, PERIOD, QUOTE = (PUNCT_CLASSES.index(p) + 1 for p in (",", ".", '"'))


@pytest.fixture(scope="module")
def analyse():
    from synthesis.text.frontend import TextFrontend

    frontend = TextFrontend(with_vectors=False)  # syntax only: MiniLM plays no part here

    def run(text):
        a = frontend.analyse(text)
        return a, word_features(text_item_arrays(a.to_arrays()))
    return run


def test_nested_noun_phrases_give_base_chunks_with_their_heads(analyse):
    a, f = analyse("The president of the bank near the old station resigned.")
    words = a.words
    i = words.index("old")
    assert words[i - 1:i + 2] == ["the", "old", "station"]
    assert f["chunk_pos"][i - 1:i + 2].tolist() == [1, 2, 3]
    assert f["chunk_from_end"][i - 1:i + 2].tolist() == [3, 2, 1]
    assert f["chunk_len"][i - 1:i + 2].tolist() == [3, 3, 3]
    assert f["chunk_head"][i - 1:i + 2].tolist() == [1, 1, 2]          # "station" heads its chunk
    assert f["chunk_head"][words.index("president")] == 2
    assert f["chunk_len"][words.index("of")] == 0 and f["chunk_len"][words.index("resigned")] == 0
    assert f["punct_after"][words.index("resigned")] == PERIOD and f["punct_self"][-1] == PERIOD


def test_list_items_each_end_at_punctuation(analyse):
    a, f = analyse("He bought apples, pears, and plums.")
    w = a.words
    assert w == ["He", "bought", "apples", ",", "pears", ",", "and", "plums", "."]
    assert f["punct_after"].tolist() == [0, 0, COMMA, 0, COMMA, 0, 0, PERIOD, 0]
    assert f["punct_self"].tolist() == [0, 0, 0, COMMA, 0, COMMA, 0, 0, PERIOD]
    assert f["to_next_punct"][[0, 2, 4, 6, 7]].tolist() == [2, 0, 0, 1, 0]
    assert f["from_prev_punct"][[4, 6, 7]].tolist() == [0, 0, 1]
    for item in ("apples", "pears", "plums"):                           # one-word chunks, each its own head
        k = w.index(item)
        assert (f["chunk_len"][k], f["chunk_head"][k]) == (1, 2)
    assert f["sent_pos"][w.index("plums")] == 5 and f["sent_from_end"][w.index("plums")] == 0


def test_quotes_are_marks_with_their_own_class(analyse):
    a, f = analyse('She said, "Stop the car," and left.')
    w = a.words
    quotes = [k for k, t in enumerate(w) if t == '"']
    assert len(quotes) == 2 and all(f["punct_self"][k] == QUOTE for k in quotes)
    car = w.index("car")
    assert f["punct_after"][car] == COMMA and f["punct_after"][car + 1] == QUOTE
    assert f["to_next_punct"][w.index("Stop")] == 2                      # Stop the car ,
    assert f["sent_pos"][w.index("left")] == 6 and f["sent_rel"][w.index("left")] == pytest.approx(1.0)


def test_one_word_sentence(analyse):
    a, f = analyse("Hello.")
    assert a.words == ["Hello", "."]
    assert f["sent_pos"].tolist() == [0, 1] and f["sent_from_end"].tolist() == [0, 0]
    assert f["punct_after"].tolist() == [PERIOD, 0] and f["sent_rel"].tolist() == [0.0, 1.0]  # the mark ends it


def _pool_real(a, frames_per_phone: int = 2):
    P, N = len(a.phoneme_ids), len(a.words)
    durations = torch.full((1, P), frames_per_phone)
    align, _ = durations_to_alignment(durations, torch.ones(1, P, dtype=torch.bool))
    wi = torch.from_numpy(a.word_index.astype(np.int64))[None]
    frame_no = torch.arange(align.shape[1], dtype=torch.float32)[None, :, None]
    return pool_words(frame_no, align, wi, N)


def test_pooling_follows_the_tokens_through_g2p_splits_and_punctuation(analyse):
    # gruut reads "James's" as two pieces; the token keeps all its phonemes (one vector)
    a, _ = analyse("James's forty-two dogs barked, twice.")
    assert a.words[:3] == ["James's", "forty", "two"]
    pooled, counts = _pool_real(a)
    n_phones = np.bincount(a.word_index[a.word_index >= 0], minlength=len(a.words))
    assert counts[0].tolist() == (2 * n_phones).tolist()
    assert n_phones[0] >= 5 and n_phones[a.words.index(",")] == 1 and n_phones[-1] == 1
    # <bos> frames 0-1 belong to no token: the first word's mean starts after them
    first = 2 + np.arange(2 * n_phones[0])
    assert float(pooled[0, 0, 0]) == pytest.approx(first.mean())
    assert int(counts.sum()) == 2 * (len(a.phoneme_ids) - 2)            # everything but <bos>/<eos>


def test_pooling_a_one_word_sentence(analyse):
    a, _ = analyse("Yes!")
    _, counts = _pool_real(a, 3)
    assert a.words == ["Yes", "!"] and counts[0].tolist() == [3.0 * (len(a.phoneme_ids) - 3), 3.0]
