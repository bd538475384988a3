"""Condition kinds a listening set can hold, each a source of one waveform per item.

A kind declares its role (BS.1534-3: hidden reference, anchor or system), the parameters it
accepts, and whether its output is sample-aligned with the recording (then it shares the
recording's trim bounds). TTS systems register further kinds (see ``register_kind``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from synthesis.audio.anchors import LOW_ANCHOR_HZ, lowpass_anchor
from synthesis.errors import ConfigError


@dataclass
class ItemAudio:
    """What every condition may use for one item: its text and the natural recording."""

    id: str
    text: str
    recording: np.ndarray
    sample_rate: int


class ConditionSource(ABC):
    kind: str = ""
    role: str = "system"
    aligned: bool = False
    params: set[str] = set()

    def __init__(self, cid: str, params: dict, where: str = ""):
        self.id = cid
        self.config = dict(params)
        self.where = where

    @abstractmethod
    def render(self, item: ItemAudio) -> np.ndarray:
        """The condition's waveform for one item (float32, at the item's sample rate)."""

    def provenance(self) -> dict:
        return {"kind": self.kind, **self.config}


CONDITION_KINDS: dict[str, type[ConditionSource]] = {}


def register_kind(cls: type[ConditionSource]) -> type[ConditionSource]:
    CONDITION_KINDS[cls.kind] = cls
    return cls


@register_kind
class Recording(ConditionSource):
    """The natural recording: the hidden reference (and the open reference of every trial)."""

    kind = "recording"
    role = "hidden_reference"
    aligned = True

    def render(self, item: ItemAudio) -> np.ndarray:
        return item.recording


@register_kind
class LowpassAnchor(ConditionSource):
    """BS.1534-3 anchor: the reference low-passed (3.5 kHz low anchor, 7 kHz mid anchor)."""

    kind = "lowpass_anchor"
    role = "anchor"
    aligned = True
    params = {"cutoff_hz"}

    def __init__(self, cid: str, params: dict, where: str = ""):
        super().__init__(cid, params, where)
        cutoff = params.get("cutoff_hz", LOW_ANCHOR_HZ)
        if isinstance(cutoff, bool) or not isinstance(cutoff, (int, float)) or not 500 <= cutoff <= 10_000:
            raise ConfigError(f"{where}: cutoff_hz must be a number of Hz in 500..10000, got {cutoff!r}")
        self.cutoff = float(cutoff)
        self.config = {"cutoff_hz": self.cutoff}

    def render(self, item: ItemAudio) -> np.ndarray:
        return lowpass_anchor(item.recording, item.sample_rate, self.cutoff)


@register_kind
class CopySynthesis(ConditionSource):
    """Recording -> vocoder features -> vocoder: the ceiling of every TTS system on that vocoder."""

    kind = "copy_synthesis"
    role = "system"
    aligned = True
    params = {"vocoder"}

    def __init__(self, cid: str, params: dict, where: str = ""):
        super().__init__(cid, params, where)
        from synthesis.vocoders import available_vocoders, get_vocoder

        name = params.get("vocoder", "world")
        if name not in available_vocoders():
            raise ConfigError(f"{where}: unknown vocoder {name!r} (known: {', '.join(available_vocoders())})")
        self.vocoder = get_vocoder(name)
        self.config = {"vocoder": self.vocoder.describe()}

    def render(self, item: ItemAudio) -> np.ndarray:
        return self.vocoder.copy_synthesis([item.recording])[0]


@register_kind
class TextToSpeech(ConditionSource):
    """A trained TTS system speaking the item's text (``synthesis.inference.Synthesizer``).

    Params: ``checkpoint`` (path, required), ``vocoder`` (override by registry name),
    ``mode`` and ``temperature`` (a prosody module's inference mode, e.g. Kathaka ``prior``,
    ``mean``, ``sample``, ``oracle``: docs/kathaka.md; CAMP ``predicted``, ``oracle``:
    docs/camp.md); the condition's ``label`` (every
    condition has one) names the system in reports. A mode that reads the recording (oracle)
    gets the item's recording.
    """

    kind = "tts"
    role = "system"
    aligned = False
    params = {"checkpoint", "vocoder", "mode", "temperature"}

    def __init__(self, cid: str, params: dict, where: str = ""):
        super().__init__(cid, params, where)
        from synthesis.errors import SynthesisError
        from synthesis.inference import Synthesizer

        checkpoint = params.get("checkpoint")
        if not isinstance(checkpoint, str) or not checkpoint:
            raise ConfigError(f"{where}: a tts condition needs checkpoint = \"path/to/model.pt\"")
        vocoder = params.get("vocoder")
        if vocoder is not None and not isinstance(vocoder, str):
            raise ConfigError(f"{where}: vocoder must be a registry name, got {vocoder!r}")
        mode, temperature = params.get("mode"), params.get("temperature")
        if mode is not None and not isinstance(mode, str):
            raise ConfigError(f"{where}: mode must be a string, got {mode!r}")
        if temperature is not None and (isinstance(temperature, bool) or not isinstance(temperature, (int, float))):
            raise ConfigError(f"{where}: temperature must be a number, got {temperature!r}")
        try:
            self.synthesizer = Synthesizer.from_checkpoint(checkpoint, vocoder=vocoder, mode=mode,
                                                           temperature=temperature)
        except SynthesisError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        self.config = self.synthesizer.describe()

    def render(self, item: ItemAudio) -> np.ndarray:
        if item.sample_rate != self.synthesizer.sample_rate:
            raise ConfigError(f"{self.where}: the set is at {item.sample_rate} Hz, the TTS system at "
                              f"{self.synthesizer.sample_rate} Hz")
        references = [item.recording] if self.synthesizer.wants_reference else None
        return self.synthesizer.synthesise([item.text], references=references)[0]


def make_source(cid: str, kind: str, params: dict, where: str = "") -> ConditionSource:
    if kind not in CONDITION_KINDS:
        raise ConfigError(f"{where}: unknown condition kind {kind!r} (known: {', '.join(sorted(CONDITION_KINDS))})")
    return CONDITION_KINDS[kind](cid, params, where)
