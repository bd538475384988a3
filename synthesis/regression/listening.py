"""The regression listening set: what the two versions said, in a MUSHRA set with the
recording as (hidden) reference and the BS.1534-3 anchors.

The set plays exactly the audio the metrics were computed on: the versions' waveforms are
staged as files and read by the ``rendered_audio`` condition kind, instead of being
synthesised a second time (a sampling mode would say something else the second time).

Only sentences with a recording can be items: a MUSHRA trial needs the natural recording
as its open and hidden reference. A listening set may not hold the same file twice (the page
source would give the pair away), so a sentence both versions said identically is left out,
and when they said every sentence identically the two become one condition.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np

from synthesis.errors import ConfigError
from synthesis.listening_set.conditions import ConditionSource, ItemAudio, register_kind


@register_kind
class RenderedAudio(ConditionSource):
    """A system's audio rendered beforehand: ``dir/<item id>.wav`` (``about``: its provenance)."""

    kind = "rendered_audio"
    role = "system"
    aligned = False
    params: ClassVar[set[str]] = {"dir", "about"}

    def __init__(self, cid: str, params: dict, where: str = ""):
        super().__init__(cid, params, where)
        folder = params.get("dir")
        if not isinstance(folder, str) or not Path(folder).is_dir():
            raise ConfigError(f"{where}: dir must be a folder of <item id>.wav files, got {folder!r}")
        about = params.get("about", {})
        if not isinstance(about, dict):
            raise ConfigError(f"{where}: about must be a table describing the system")
        self.dir = Path(folder)
        self.config = {"about": about}

    def render(self, item: ItemAudio) -> np.ndarray:
        from synthesis.audio.io import load_audio

        return load_audio(self.dir / f"{item.id}.wav", item.sample_rate, resample=False)


def plan_items(recorded_ids: list[str], release: dict[str, np.ndarray], candidate: dict[str, np.ndarray]
               ) -> tuple[list[str], list[str], bool]:
    """Which sentences go into the set.

    Returns:
        ``(items, identical, merged)``: the sentence ids in the set, those left out because
        both versions said them identically, and whether the versions are one condition
        (identical everywhere: the set then holds every recorded sentence).
    """
    identical = [i for i in recorded_ids if np.array_equal(release[i], candidate[i])]
    if len(identical) == len(recorded_ids):
        return list(recorded_ids), [], True
    return [i for i in recorded_ids if i not in identical], identical, False


def build_listening_set(name: str, corpus_root: Path, clip_of: dict[str, str], items: list[str], merged: bool,
                        staged: dict[str, Path], infos: dict[str, dict], anchors_hz: tuple[float, ...],
                        target_lufs: float, seed: int, out: Path, progress: bool, source: str):
    """Build the set into ``out``.

    Args:
        clip_of: sentence id -> corpus clip id (the set's item ids are the clip ids).
        staged: role -> folder of ``<clip id>.wav`` files of that version.
        infos: role -> ``Synthesizer.describe()``.
    """
    from synthesis.listening_set.builder import build_set
    from synthesis.listening_set.config import ConditionSpec, SetConfig

    conditions = [ConditionSpec("reference", "recording", "Recording (hidden reference)")]
    for hz in anchors_hz:
        conditions.append(ConditionSpec(f"anchor{round(hz / 100):02d}", "lowpass_anchor",
                                        f"Anchor ({hz / 1000:g} kHz low-pass)", {"cutoff_hz": hz}))
    roles = ["release"] if merged else ["release", "candidate"]
    for role in roles:
        info = infos[role]
        label = (f"{role.capitalize()} ({info.get('system')}, step {info.get('step')}, "
                 f"{info.get('checkpoint_hash')})")
        if merged:
            label = f"Release = candidate (identical audio; {info.get('system')}, step {info.get('step')})"
        conditions.append(ConditionSpec(role, "rendered_audio", label,
                                        {"dir": str(staged[role]), "about": _plain(info)}))
    config = SetConfig(name=name, conditions=tuple(conditions), n_items=len(items), seed=seed,
                       items=tuple(clip_of[i] for i in items), corpus=str(corpus_root), target_lufs=target_lufs,
                       workers=1, source=source)
    return build_set(config, out, progress=progress)


def _plain(obj):
    """A JSON-ready copy (the manifest stores provenance as JSON)."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items() if v is not None}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, (str, int, float, bool)):
        return obj
    return str(obj)
