"""Fixtures for the synthesis tests: the bundled corpus and small corpora made from it."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from synthesis.corpus import default_corpus_path, load_corpus

# Short clips keep WORLD analysis (the slowest step) quick.
SHORT_CLIPS = ["LJ002-0020", "LJ002-0035", "LJ001-0008", "LJ001-0002", "LJ001-0078", "LJ002-0012"]


@pytest.fixture(scope="session")
def corpus_root() -> Path:
    root = default_corpus_path()
    if not (root / "metadata.csv").is_file():
        pytest.fail(f"bundled corpus missing at {root}: the tests need ../shared beside the checkout")
    return root


@pytest.fixture(scope="session")
def corpus(corpus_root):
    return load_corpus(corpus_root)


@pytest.fixture(scope="session")
def short_wave(corpus):
    from synthesis.audio.io import load_audio

    return load_audio(corpus.by_id()["LJ001-0002"].wav_path)


def make_mini_corpus(dest: Path, corpus, ids: list[str]) -> Path:
    """Copy a few real clips into an LJSpeech-layout folder (tests then break it on purpose)."""
    (dest / "wavs").mkdir(parents=True)
    clips = corpus.by_id()
    lines = []
    for cid in ids:
        clip = clips[cid]
        shutil.copy(clip.wav_path, dest / "wavs" / f"{cid}.wav")
        lines.append(f"{cid}|{clip.text}|{clip.normalized_text}")
    (dest / "metadata.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return dest


PREPARED_IDS = ["LJ001-0002", "LJ001-0008"]


@pytest.fixture(scope="session")
def prepared(tmp_path_factory, corpus):
    """(corpus folder, cache folder) of `synthesis prepare` on two short real clips. Shared:
    a test that changes the cache must put it back."""
    from synthesis.cli import main

    root = make_mini_corpus(tmp_path_factory.mktemp("corpus") / "mini", corpus, PREPARED_IDS)
    out = tmp_path_factory.mktemp("cache") / "c"
    assert main(["prepare", "--corpus", str(root), "--out", str(out), "--workers", "1", "--quiet"]) == 0
    return root, out


@pytest.fixture
def mini_corpus(tmp_path, corpus) -> Path:
    return make_mini_corpus(tmp_path / "mini", corpus, SHORT_CLIPS)


def white_noise(seconds: float, sr: int = 22_050, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(int(seconds * sr)) * 0.1).astype(np.float32)


def write(path: Path, wave: np.ndarray, sr: int = 22_050) -> Path:
    sf.write(str(path), wave, sr, subtype="PCM_16")
    return path
