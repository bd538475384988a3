"""Pauses: silent stretches inside an utterance and the word junctions they belong to.

Two sources are combined because neither is reliable alone. Whisper's word timestamps say
roughly where each word lies but often stretch a word over the pause after it; frame energy
finds silence precisely but cannot tell a pause from a stop closure or name the words
around it. So a pause is a run of low-energy frames (at least ``min_pause_s`` long, more than
``threshold_db`` below the utterance's 95th-percentile frame energy, not touching the edges
of the speech) and it is credited to the nearest gap between two recognised words. Those
gaps are mapped onto the script's words (edit-distance alignment of word keys), so the pause
after "perfection," in the script is found in every system's output alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synthesis.evaluation.metrics import align_words

#: pauses shorter than this are not counted (stop closures last up to ~100 ms)
MIN_PAUSE_S = 0.1
#: frames this far below the utterance's 95th-percentile energy are silent
THRESHOLD_DB = -30.0
#: a pause further than this from every word gap is left unassigned
MAX_OFFSET_S = 0.3


def silent_runs(energy_db: np.ndarray, frame_s: float, threshold_db: float = THRESHOLD_DB,
                min_pause_s: float = MIN_PAUSE_S) -> list[tuple[float, float]]:
    """Internal silences of an utterance.

    Args:
        energy_db: ``[T]`` frame energies in dB (``synthesis.audio.features.frame_energy``).
        frame_s: seconds per frame; frame i covers ``[i, i + 1) * frame_s``.

    Returns:
        ``(start s, end s)`` of each run of silent frames at least ``min_pause_s`` long that
        lies strictly between the first and the last non-silent frame (edge silence is not a
        pause).
    """
    e = np.asarray(energy_db, dtype=np.float64)
    if e.size == 0:
        return []
    silent = e < np.percentile(e, 95) + threshold_db
    loud = np.flatnonzero(~silent)
    if loud.size == 0:
        return []
    first, last = loud[0], loud[-1]
    inner = silent[first:last + 1].astype(np.int8)
    edges = np.diff(np.concatenate([[0], inner, [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    runs = []
    for s, t in zip(starts, ends):
        if (t - s) * frame_s >= min_pause_s - 1e-9:
            runs.append(((first + s) * frame_s, (first + t) * frame_s))
    return runs


def assign_to_gaps(runs: list[tuple[float, float]], words: list[tuple[float, float]],
                   max_offset_s: float = MAX_OFFSET_S) -> tuple[np.ndarray, float]:
    """Credit each silent run to the nearest gap between consecutive words.

    Args:
        runs: ``(start, end)`` silences in seconds.
        words: ``(start, end)`` of the recognised words, in order.

    Returns:
        ``(pause [len(words) - 1] seconds after each word but the last, unassigned seconds)``.
        The distance of a run to gap k, ``[end of word k, start of word k + 1]``, is 0 when
        they overlap; a run further than ``max_offset_s`` from every gap stays unassigned.
    """
    n_gaps = max(len(words) - 1, 0)
    pause = np.zeros(n_gaps)
    unassigned = 0.0
    if n_gaps == 0:
        return pause, float(sum(b - a for a, b in runs))
    gap_start = np.array([words[k][1] for k in range(n_gaps)])
    gap_end = np.array([words[k + 1][0] for k in range(n_gaps)])
    for a, b in runs:
        dist = np.maximum.reduce([np.zeros(n_gaps), a - gap_end, gap_start - b])
        k = int(np.argmin(dist))
        if dist[k] <= max_offset_s:
            pause[k] += b - a
        else:
            unassigned += b - a
    return pause, unassigned


@dataclass(frozen=True)
class PauseSummary:
    """Pauses of one utterance, in seconds."""

    total: float              # all internal silences
    at_punctuation: float     # credited to script junctions marked by punctuation
    elsewhere: float          # credited to other junctions, or unassigned
    n_punct_junctions: int    # junctions in the script marked by punctuation (sentence end excluded)
    n_punct_paused: int       # of those, how many got a pause

    def to_json(self) -> dict:
        return dict(self.__dict__)


def pauses_at_punctuation(runs: list[tuple[float, float]], hyp_keys: list[str],
                          hyp_spans: list[tuple[float, float]], script_keys: list[str],
                          script_punct: list[bool], max_offset_s: float = MAX_OFFSET_S) -> PauseSummary:
    """Split an utterance's pauses into those at the script's punctuation and the rest.

    Args:
        runs: silent runs (``silent_runs``).
        hyp_keys, hyp_spans: word keys and ``(start, end)`` of the transcript's words.
        script_keys, script_punct: ``text_norm.script_words`` of the script.

    A transcript gap k (after transcript word k) maps to the script junction after the script
    word aligned with transcript word k, or, if that word was inserted by the recogniser,
    before the script word aligned with transcript word k + 1.
    """
    gap_pause, unassigned = assign_to_gaps(runs, hyp_spans, max_offset_s)
    hyp_to_script: dict[int, int] = {h: r for r, h in align_words(script_keys, hyp_keys)
                                      if r is not None and h is not None}
    n_junctions = max(len(script_keys) - 1, 0)
    junction_pause = np.zeros(n_junctions)
    elsewhere = unassigned
    for k, seconds in enumerate(gap_pause):
        if seconds == 0:
            continue
        if k in hyp_to_script:
            j = hyp_to_script[k]
        elif k + 1 in hyp_to_script:
            j = hyp_to_script[k + 1] - 1
        else:
            j = -1
        if 0 <= j < n_junctions:
            junction_pause[j] += seconds
        else:
            elsewhere += seconds
    punct = np.array(script_punct[:n_junctions], dtype=bool)
    at_punct = float(junction_pause[punct].sum())
    return PauseSummary(
        total=float(sum(b - a for a, b in runs)),
        at_punctuation=at_punct,
        elsewhere=float(junction_pause[~punct].sum() + elsewhere),
        n_punct_junctions=int(punct.sum()),
        n_punct_paused=int((junction_pause[punct] > 0).sum()),
    )
