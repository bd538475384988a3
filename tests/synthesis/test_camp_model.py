"""CAMP model pieces on hand-made tensors: word pooling, broadcasting, masking, features."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from synthesis.models.backbone import durations_to_alignment
from synthesis.models.prosody import PROSODY_MODULES, ProsodyContext
from synthesis.models.prosody.camp import CampProsody, broadcast_words, pool_words
from synthesis.models.prosody.camp_predictor import (
    ABLATIONS,
    INPUT_GROUPS,
    CampPredictor,
    MissingSyntaxError,
    has_syntax,
    word_features,
)
from synthesis.text.phonemes import BOS_ID, EOS_ID, SYMBOL_TO_ID


def alignment_of(durations: list[int]) -> torch.Tensor:
    d = torch.tensor([durations])
    align, _ = durations_to_alignment(d, torch.ones_like(d, dtype=torch.bool))
    return align


def test_camp_is_registered():
    assert PROSODY_MODULES["camp"] is CampProsody


def test_pool_words_means_each_tokens_frames_and_skips_bos_eos():
    # <bos> | word 0 (2 phonemes) | "," (token 1) | word 2 (1 phoneme) | <eos>
    word_index = torch.tensor([[-1, 0, 0, 1, 2, -1]])
    durations = [2, 3, 1, 2, 4, 1]
    align = alignment_of(durations)                      # [1, 13, 6]
    frames = torch.arange(13, dtype=torch.float32).reshape(1, 13, 1)
    pooled, counts = pool_words(frames, align, word_index, 3)
    assert counts.tolist() == [[4.0, 2.0, 4.0]]
    # word 0: frames 2..5, the comma's pause: 6..7, word 2: 8..11; <bos> 0..1 and <eos> 12 excluded
    assert pooled[0, :, 0].tolist() == pytest.approx([3.5, 6.5, 9.5])


def test_token_without_phonemes_gets_zero_vector_and_no_frames():
    # token 1 is a word gruut gave no phonemes for: no phoneme carries index 1
    word_index = torch.tensor([[-1, 0, 2, 2, -1]])
    align = alignment_of([1, 3, 2, 2, 1])
    frames = torch.ones(1, 9, 2)
    pooled, counts = pool_words(frames, align, word_index, 3)
    assert counts[0, 1] == 0 and torch.all(pooled[0, 1] == 0)


def test_broadcast_gives_each_phoneme_its_tokens_value_and_zero_to_bos_eos_padding():
    word_index = torch.tensor([[-1, 0, 0, 1, -1, -1]])   # the last position is padding (-1)
    values = torch.tensor([[[1.0, 2.0], [3.0, 4.0]]])
    out = broadcast_words(values, word_index)
    assert out[0].tolist() == [[0, 0], [1, 2], [1, 2], [3, 4], [0, 0], [0, 0]]


def _stage1(predictor=None):
    torch.manual_seed(0)
    return CampProsody(16, bottleneck=3, mel_dim=8, conv_channels=8, gru_hidden=4, dropout=0.0,
                       predictor=predictor).eval()


def test_reference_vectors_do_not_depend_on_padding_or_batch_mates():
    camp = _stage1()
    mel_a, mel_b = torch.randn(1, 9, 8), torch.randn(1, 14, 8)
    wi_a, wi_b = torch.tensor([[-1, 0, 1, -1]]), torch.tensor([[-1, 0, 0, 1, 2, -1]])
    al_a, al_b = alignment_of([1, 3, 4, 1]), alignment_of([2, 2, 3, 2, 4, 1])
    alone, _ = camp.reference_vectors(mel_a, torch.ones(1, 9, dtype=torch.bool), al_a, wi_a, 2)
    # batch: a padded to 14 frames, 6 phonemes, 3 tokens; garbage in its padded frames
    mel = torch.cat([torch.cat([mel_a, 100 * torch.randn(1, 5, 8)], 1), mel_b])
    fmask = torch.tensor([[True] * 9 + [False] * 5, [True] * 14])
    align = torch.zeros(2, 14, 6)
    align[0, :9, :4] = al_a[0]
    align[1] = al_b[0]
    wi = torch.cat([torch.cat([wi_a, torch.full((1, 2), -1)], 1), wi_b])
    batched, counts = camp.reference_vectors(mel, fmask, align, wi, 3)
    assert torch.allclose(batched[0, :2], alone[0], atol=1e-5)
    assert torch.all(batched[0, 2] == 0) and counts[0, 2] == 0


def test_forward_conditioning_is_zero_on_bos_eos_and_same_within_a_word():
    camp = _stage1()
    wi = torch.tensor([[-1, 0, 0, 1, -1]])
    ctx = ProsodyContext(torch.zeros(1, 5, 16), torch.ones(1, 5, dtype=torch.bool), wi, {"word_pos": torch.zeros(1, 2)},
                         torch.randn(1, 10, 8), torch.ones(1, 10, dtype=torch.bool), alignment_of([1, 3, 2, 3, 1]))
    cond = camp(ctx).conditioning[0]
    assert torch.all(cond[0] == 0) and torch.all(cond[4] == 0)
    assert torch.allclose(cond[1], cond[2]) and not torch.allclose(cond[1], cond[3])


def test_stage1_alone_refuses_text_only_synthesis_in_one_line():
    camp = _stage1()
    ctx = ProsodyContext(torch.zeros(1, 3, 16), torch.ones(1, 3, dtype=torch.bool), torch.tensor([[-1, 0, -1]]), {})
    with pytest.raises(Exception, match="stage 1 only") as err:
        camp(ctx)
    assert "\n" not in str(err.value)


# --- word features -------------------------------------------------------------------------------

def _arrays(n_words: int, punct_at: dict[int, str] | None = None, **over) -> dict:
    """Syntax arrays of a flat text of n tokens (one sentence, no chunks) with overrides."""
    punct_at = punct_at or {}
    ids, widx = [BOS_ID], [-1]
    for i in range(n_words):
        ids += [SYMBOL_TO_ID[f"punct:{punct_at[i]}"]] if i in punct_at else [SYMBOL_TO_ID["n"], SYMBOL_TO_ID["ə"]]
        widx += [i] if i in punct_at else [i, i]
    ids.append(EOS_ID)
    widx.append(-1)
    a = {"word_pos": np.zeros(n_words, np.int64), "word_open_class": np.ones(n_words, np.int64),
         "word_chunk_id": np.full(n_words, -1), "word_head": np.zeros(n_words, np.int64),
         "word_punct_after": np.full(n_words, -1), "word_to_next_punct": np.zeros(n_words, np.int64),
         "word_from_prev_punct": np.zeros(n_words, np.int64), "word_sentence": np.zeros(n_words, np.int64),
         "word_is_punct": np.array([i in punct_at for i in range(n_words)]), "word_dep": np.zeros(n_words, np.int64),
         "phoneme_ids": np.array(ids), "word_index": np.array(widx)}
    a.update(over)
    return a


def test_word_features_chunk_structure_and_own_punctuation_mark():
    # tokens: the old house , it    (chunk 0 = the old house with head "house"; chunk 1 = it)
    a = _arrays(5, {3: ","}, word_chunk_id=np.array([0, 0, 0, -1, 1]), word_head=np.array([2, 2, 2, 2, 4]))
    f = word_features(a)
    assert f["chunk_pos"].tolist() == [1, 2, 3, 0, 1]
    assert f["chunk_from_end"].tolist() == [3, 2, 1, 0, 1]
    assert f["chunk_len"].tolist() == [3, 3, 3, 0, 1]
    assert f["chunk_head"].tolist() == [1, 1, 2, 0, 2]
    assert f["punct_self"].tolist() == [0, 0, 0, 1, 0]          # "," is class 0 -> 1
    assert f["sent_pos"].tolist() == [0, 1, 2, 3, 3]            # words before it in its sentence
    assert f["sent_from_end"].tolist() == [3, 2, 1, 1, 0]


def test_word_features_clip_long_counts():
    n = 40
    a = _arrays(n, word_to_next_punct=np.arange(n)[::-1].copy(), word_chunk_id=np.zeros(n, np.int64),
                word_head=np.full(n, n - 1))
    f = word_features(a)
    assert f["to_next_punct"].max() == 15 and f["chunk_len"].max() == 15 and f["sent_pos"].max() == 15
    assert f["sent_rel"][0] == 0.0 and f["sent_rel"][-1] == pytest.approx(1.0)


def test_word_features_one_word_sentence():
    f = word_features(_arrays(1))
    assert f["sent_pos"].tolist() == [0] and f["sent_from_end"].tolist() == [0] and f["sent_rel"].tolist() == [0.0]


def test_missing_or_empty_syntax_is_detected():
    a = _arrays(3)
    del a["word_chunk_id"]
    with pytest.raises(MissingSyntaxError, match="word_chunk_id"):
        word_features(a)
    assert not has_syntax(a)
    flat = _arrays(3, word_head=np.arange(3))                   # what TextFrontend(with_syntax=False) writes
    assert not has_syntax(flat)
    assert has_syntax(_arrays(3, word_head=np.array([1, 1, 1])))


# --- predictor masking ---------------------------------------------------------------------------

def _text_batch(lengths: list[int], seed: int = 0) -> dict:
    """A collated batch of random texts: N tokens each, 2 phonemes per token."""
    from synthesis.training.data import collate

    rng = np.random.default_rng(seed)
    items = []
    for n in lengths:
        a = _arrays(n, {n - 1: "."}, word_pos=rng.integers(0, 17, n), word_chunk_id=np.array([0] * (n // 2) + [-1] * (n - n // 2)),
                    word_head=rng.integers(0, n, n), word_to_next_punct=rng.integers(0, 30, n))
        items.append({"phoneme_ids": a["phoneme_ids"], "stress": np.zeros(len(a["phoneme_ids"]), np.int64),
                      "word_index": a["word_index"], "word_vectors": rng.standard_normal((n, 384)).astype(np.float32),
                      **{k: np.asarray(v, np.int64) for k, v in a.items() if k.startswith("word_") and k != "word_index"}})
    return collate(items)


@pytest.mark.parametrize("ablation", ["both", "bert_only", "syntax_only"])
def test_predictor_padding_words_do_not_change_outputs(ablation):
    torch.manual_seed(0)
    camp = _stage1(predictor={"inputs": list(ABLATIONS[ablation]), "hidden": 16, "lstm_hidden": 8,
                              "duration_hidden": 16}).eval()
    pred = camp.predictor
    alone = _text_batch([4], seed=1)
    both = _text_batch([4, 9], seed=1)
    # the short text's padded slots hold garbage that must not matter
    both["word_vectors"][0, 4:] = 1e3
    both["word_pos"][0, 4:] = 5
    enc_alone = torch.randn(1, alone["phoneme_ids"].shape[1], 16)
    enc = torch.zeros(2, both["phoneme_ids"].shape[1], 16)
    enc[0, :enc_alone.shape[1]] = enc_alone
    pm_alone = torch.ones(1, enc_alone.shape[1], dtype=torch.bool)
    pm = torch.arange(enc.shape[1])[None] < both["phone_lens"][:, None]
    with torch.no_grad():
        a = pred(alone, enc_alone, pm_alone, camp)
        b = pred(both, enc, pm, camp)
    assert torch.allclose(a["vectors"][0], b["vectors"][0, :4], atol=1e-5)
    assert torch.all(b["vectors"][0, 4:] == 0)
    P = enc_alone.shape[1]
    assert torch.allclose(a["log_durations"][0], b["log_durations"][0, :P], atol=1e-5)


def test_ablations_cover_the_issue():
    assert set(ABLATIONS) == {"both", "bert_only", "syntax_only", "no_pos", "no_word_class", "no_noun_chunk",
                              "no_punctuation"}
    assert ABLATIONS["both"] == INPUT_GROUPS and "bert" not in ABLATIONS["syntax_only"]
    with pytest.raises(ValueError, match="non-empty subset"):
        CampPredictor(16, 3, inputs=["bert", "prosody"])
