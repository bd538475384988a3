"""Forced alignment (pocketsphinx) of the recordings: spans -> frames per phoneme, a real clip,
the cache side `synthesis prepare` writes, and a model that trains on it."""

import json

import numpy as np
import pytest
import torch

from synthesis.features.cache import CacheError, read_clip
from synthesis.features.forced_alignment import (
    IPA_TO_ARPABET,
    AlignmentError,
    align_recording,
    durations_from_spans,
    spoken_words,
)
from synthesis.models.backbone import ModelConfig, build_model
from synthesis.text.phonemes import PHONES, SYMBOLS
from synthesis.training.data import collate
from tests.synthesis.test_models import TINY, fake_item

FRICATIVES = {"s", "z", "ʃ", "f", "θ"}
VOWELS = {"ɑ", "æ", "i", "ɛ", "ɪ", "ə", "u", "oʊ", "eɪ", "aɪ", "ɔ", "ʌ", "ɚ", "aʊ"}


def test_every_phoneme_has_an_aligner_phone():
    assert set(PHONES) <= set(IPA_TO_ARPABET)


def test_spoken_words_group_phonemes_and_skip_punctuation():
    syms = ["<bos>", "h", "aɪ", "punct:,", "j", "u", "<eos>"]
    assert spoken_words(syms, [-1, 0, 0, 1, 2, 2, -1]) == [[1, 2], [4, 5]]


def test_spans_become_frames_with_silences_given_to_punctuation_and_edges():
    # 100 frames per second: "<bos> a b , c <eos>"; 0.1 s of leading silence, a pause of 0.2 s
    # at the comma, 0.05 s between b... and trailing silence after c
    syms = ["<bos>", "ɑ", "b", "punct:,", "k", "<eos>"]
    spans = {1: (0.10, 0.20), 2: (0.20, 0.30), 4: (0.50, 0.60)}
    d = durations_from_spans(syms, spans, n_frames=80, frame_rate=100.0)
    assert d.tolist() == [10, 10, 10, 20, 10, 20]
    # no punctuation token between two words: the pause is split between them
    syms = ["<bos>", "ɑ", "b", "<eos>"]
    d = durations_from_spans(syms, {1: (0.0, 0.2), 2: (0.3, 0.4)}, n_frames=50, frame_rate=100.0)
    assert d.tolist() == [1, 24, 15, 10]   # <bos> had no silence: it takes a frame from "ɑ"


def test_every_phoneme_gets_a_frame_and_the_sum_is_exact():
    syms = ["<bos>", "ɑ", "punct:,", "b", "punct:.", "<eos>"]
    # the aligner gives "b" no pause before it and nothing after: punctuation would be empty
    d = durations_from_spans(syms, {1: (0.0, 0.05), 3: (0.05, 0.0625)}, n_frames=7, frame_rate=100.0)
    assert d.sum() == 7 and (d >= 1).all()
    with pytest.raises(AlignmentError, match="do not fit"):
        durations_from_spans(syms, {}, n_frames=5, frame_rate=100.0)


def test_a_sentence_without_spoken_phonemes_is_refused():
    with pytest.raises(AlignmentError, match="no spoken phonemes"):
        align_recording(np.zeros(22050, np.float32), 22050, ["<bos>", "punct:.", "<eos>"], [-1, 0, -1], 86, 86.1)


@pytest.fixture
def aligned_cache(prepared):
    """The shared two-clip cache of `synthesis prepare` (conftest.py) and its clip ids."""
    from tests.synthesis.conftest import PREPARED_IDS

    return prepared[1], PREPARED_IDS


def test_prepare_aligns_every_clip_and_fricatives_land_on_fricative_frames(aligned_cache):
    out, ids = aligned_cache
    manifest = json.loads((out / "manifest.json").read_text())
    entry = manifest["alignment"]
    assert entry["config"]["aligner"] == "pocketsphinx"
    assert entry["config"]["text_hash"] == manifest["text"]["hash"]
    fric, vowel = [], []
    for cid in ids:
        d = read_clip(out, "alignment", cid, entry["hash"])["durations"]
        t = read_clip(out, "text", cid, manifest["text"]["hash"])
        mel = read_clip(out, "acoustic", cid, manifest["acoustic"]["hash"])["log_mel"].astype(np.float32)
        assert d.shape == t["phoneme_ids"].shape and d.sum() == len(mel) and d.min() >= 1
        # spectral tilt per frame (high band minus low band, z-scored in the clip): fricatives
        # are noise with high-band energy, vowels are low-band; a misplaced alignment mixes them
        hi, lo = mel[:, 55:].mean(1), mel[:, :20].mean(1)
        tilt = (hi - hi.mean()) / hi.std() - (lo - lo.mean()) / lo.std()
        starts = np.cumsum(d) - d
        for i, s, n in zip(t["phoneme_ids"], starts, d):
            (fric if SYMBOLS[i] in FRICATIVES else vowel if SYMBOLS[i] in VOWELS else []).append(tilt[s:s + n].mean())
    assert np.mean(fric) - np.mean(vowel) > 1.5


def test_a_recording_outside_the_cache_aligns_as_the_cache_did(aligned_cache, corpus):
    """The oracle modes and the word-level view align recordings the way `prepare` did."""
    from synthesis.audio.io import load_audio
    from synthesis.features.forced_alignment import recording_durations

    out, ids = aligned_cache
    manifest = json.loads((out / "manifest.json").read_text())
    t = read_clip(out, "text", ids[0], manifest["text"]["hash"])
    cached = read_clip(out, "alignment", ids[0], manifest["alignment"]["hash"])["durations"]
    wave = load_audio(next(c.wav_path for c in corpus.clips if c.id == ids[0]))
    got = recording_durations(wave, t["phoneme_ids"], t["word_index"], int(cached.sum()))
    assert np.array_equal(got, cached)
    # a recording far too short for its phonemes: no alignment, and the caller falls back
    assert recording_durations(wave[:2048], t["phoneme_ids"], t["word_index"], 8) is None


def test_training_items_carry_the_durations(aligned_cache):
    from synthesis.training.data import load_items

    out, ids = aligned_cache
    items = load_items(out, ids, "world")
    assert all(it.arrays["durations"].sum() == it.n_frames for it in items)


def test_a_forced_model_decodes_on_the_given_durations():
    rng = np.random.default_rng(0)
    model = build_model(ModelConfig(alignment="forced", **TINY)).eval()
    item = fake_item(rng, 6, 20)
    item["durations"] = np.array([2, 3, 5, 1, 4, 5])
    with torch.no_grad():
        out = model(collate([item]))
    assert out["durations"][0].tolist() == [2, 3, 5, 1, 4, 5]
    assert torch.isfinite(model.losses(collate([item]), out, step=10_000, weights={})["total"])
    del item["durations"]
    with pytest.raises(ValueError, match="forced alignments"):
        model(collate([item]))
    # a learned-alignment model ignores durations in the batch
    learned = build_model(ModelConfig(**TINY)).eval()
    item["durations"] = np.array([2, 3, 5, 1, 4, 5])
    with torch.no_grad():
        assert learned(collate([item]))["durations"].sum() == 20


def test_training_refuses_a_cache_without_forced_alignment(tmp_path):
    from synthesis.training.loop import train
    from tests.synthesis.test_train import learnable_items, tiny_config

    cfg = tiny_config(2)
    cfg.model.alignment = "forced"
    items = learnable_items(2)
    with pytest.raises(CacheError, match="needs the cache's forced alignment"):
        train(cfg, tmp_path / "run", progress=False, items=(items, items[:1]))
    items = learnable_items(2, with_durations=True)
    result = train(cfg, tmp_path / "run", progress=False, items=(items, items[:1]))
    assert result.step == 2


def test_bad_alignment_setting_is_a_config_error(tmp_path):
    from synthesis.errors import ConfigError
    from synthesis.training.config import load_config

    path = tmp_path / "c.toml"
    path.write_text('[model]\nalignment = "dtw"\n')
    with pytest.raises(ConfigError, match="alignment must be"):
        load_config(path)



def test_unalignable_clips_stop_prepare_or_are_left_out_of_training(tmp_path, corpus, capsys):
    """A recording far too short for its script (a truncated file). Over the allowed share of
    unalignable clips (default 5 %): one line, exit 2, no manifest. Within it: the cache is
    finished, the clip is listed under 'unaligned' and training leaves it out."""
    import json

    import soundfile as sf

    from synthesis.cli import main
    from synthesis.training.data import load_items
    from tests.synthesis.conftest import make_mini_corpus

    root = make_mini_corpus(tmp_path / "mini", corpus, ["LJ001-0002", "LJ001-0008"])
    wav = root / "wavs" / "LJ001-0002.wav"
    wave, sr = sf.read(wav)
    sf.write(wav, wave[: int(0.15 * sr)], sr)
    out = tmp_path / "cache"
    assert main(["prepare", "--corpus", str(root), "--out", str(out), "--workers", "1", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "1 of 2 clips could not be aligned" in err[0] and "LJ001-0002" in err[0]
    assert "do not fit" in err[0] or "alignment" in err[0]
    assert not (out / "manifest.json").exists()

    assert main(["prepare", "--corpus", str(root), "--out", str(out), "--workers", "1", "--quiet",
                 "--max-unaligned", "0.5"]) == 0
    printed = capsys.readouterr().out
    assert "warning: 1 clips could not be aligned and are left out of training" in printed
    manifest = json.loads((out / "manifest.json").read_text())
    assert list(manifest["unaligned"]) == ["LJ001-0002"]
    items = load_items(out, ["LJ001-0002", "LJ001-0008"], "world")
    assert [it.id for it in items] == ["LJ001-0008"] and "durations" in items[0].arrays
