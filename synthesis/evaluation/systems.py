"""The systems an evaluation scores, behind one small interface.

A system turns evaluation items (clip id, script, recording) into one waveform each at
22,050 Hz. The recordings and copy synthesis through each vocoder are systems too: scored
beside every model, they are the ceilings a model is read against.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from synthesis.checksums import file_sha256
from synthesis.errors import SynthesisError

SAMPLE_RATE = 22_050


@dataclass(frozen=True)
class EvalItem:
    """One test clip: its id, its script (raw corpus text) and the recording ``[n_samples]``."""

    clip_id: str
    text: str
    recording: np.ndarray


class System(Protocol):
    name: str
    kind: str  # "recording", "copy_synthesis" or "checkpoint"

    def describe(self) -> dict: ...

    def cache_key(self) -> str:
        """Changes whenever the system's output could change (cache folder name)."""

    def synthesise(self, items: list[EvalItem]) -> list[np.ndarray]:
        """One float32 waveform at 22,050 Hz per item."""


def _hash(obj: object) -> str:
    return hashlib.sha256(repr(obj).encode()).hexdigest()[:12]


class RecordingSystem:
    """The held-out recordings themselves (the reference of every other system)."""

    name = "recordings"
    kind = "recording"

    def describe(self) -> dict:
        return {"name": self.name, "kind": self.kind}

    def cache_key(self) -> str:
        return "recordings"

    def synthesise(self, items: list[EvalItem]) -> list[np.ndarray]:
        return [np.asarray(it.recording, dtype=np.float32) for it in items]


class CopySynthesisSystem:
    """Recording -> vocoder features -> vocoder: the best a model predicting them can sound."""

    kind = "copy_synthesis"

    def __init__(self, vocoder_name: str):
        from synthesis.vocoders import get_vocoder

        self.vocoder = get_vocoder(vocoder_name)
        self.name = f"copy-{vocoder_name}"

    def describe(self) -> dict:
        return {"name": self.name, "kind": self.kind, "vocoder": self.vocoder.describe()}

    def cache_key(self) -> str:
        return f"{self.name}-{_hash(sorted(self.vocoder.describe().items()))}"

    def synthesise(self, items: list[EvalItem]) -> list[np.ndarray]:
        return self.vocoder.copy_synthesis([it.recording for it in items])



class CheckpointSystem:
    """A trained TTS checkpoint, through ``synthesis.inference.Synthesizer`` (script -> speech)."""

    kind = "checkpoint"

    def __init__(self, path: str | Path, name: str | None = None, vocoder: str | None = None):
        self.path = Path(path)
        self.vocoder = vocoder  # a registry name replacing the checkpoint's own vocoder, or None
        if not self.path.is_file():
            raise SynthesisError(f"{self.path}: checkpoint file does not exist")
        try:
            from synthesis.inference import Synthesizer
        except ImportError as exc:
            raise SynthesisError(f"{self.path}: cannot load checkpoints, synthesis.inference is unavailable ({exc})") from exc
        try:
            self.synthesizer = Synthesizer.from_checkpoint(self.path, **({"vocoder": vocoder} if vocoder else {}))
        except SynthesisError:
            raise
        except Exception as exc:  # torch/pickle errors of a truncated or foreign file
            first = (str(exc).splitlines() or [""])[0]
            raise SynthesisError(f"{self.path}: cannot load checkpoint ({type(exc).__name__}: {first})") from exc
        info = self.synthesizer.describe()
        self.info = info if isinstance(info, dict) else {"description": str(info)}
        self.sha256 = file_sha256(self.path)
        self.name = name or str(self.info.get("system") or self.path.stem)

    def describe(self) -> dict:
        return {"name": self.name, "kind": self.kind, "checkpoint": str(self.path), "sha256": self.sha256,
                "model": _jsonable(self.info)}

    def cache_key(self) -> str:
        # the enhancement settings change the audio without changing the file
        key = f"ckpt-{self.sha256[:16]}-e{_hash(self.info.get('enhancement'))[:8]}"
        if self.vocoder is None:
            return key
        # the vocoder's description holds its weights' hash: retrained weights get a new key
        return f"{key}-{_hash(self.info.get('vocoder', self.vocoder))}"

    def synthesise(self, items: list[EvalItem]) -> list[np.ndarray]:
        waves = self.synthesizer.synthesise([it.text for it in items])
        if len(waves) != len(items):
            raise SynthesisError(f"{self.path}: synthesiser returned {len(waves)} waveforms for {len(items)} texts")
        return [np.asarray(w, dtype=np.float32).reshape(-1) for w in waves]


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    if isinstance(obj, np.generic):
        return obj.item()
    return str(obj)
