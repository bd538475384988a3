"""The metrics ``synthesis regress`` can gate on, and their per-utterance values.

Two scopes. Metrics that need no recording are measured on every sentence: Whisper WER,
DistillMOS, and prosody statistics whose natural value is a property of the speaker rather
than of the sentence (pitch range, speaking rate, pause length at punctuation); for those
the target is the speaker's own value, measured on the recordings of the set. Metrics that
compare with a recording (MCD, F0 RMSE, log-F0 correlation, duration) are measured on the
sentences that have one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

SEMITONES_PER_LOG_UNIT = 12.0 / math.log(2.0)
FRAME_S = 256 / 22_050


@dataclass(frozen=True)
class RegressionMetric:
    name: str
    label: str
    unit: str
    scope: str           # "all": every sentence; "recorded": sentences with a recording
    better: str          # "lower", "higher", or "natural" (closer to the recordings' value)
    needs: str           # "analysis" (WORLD F0/mcep/energy), "asr" (Whisper) or "mos" (DistillMOS)
    aggregate: str = "mean"  # "mean" of per-sentence values, or "ratio" of sums ([num, den] pairs)
    scale: float = 1.0   # shown and toleranced as value * scale
    digits: int = 2
    description: str = ""


METRICS: dict[str, RegressionMetric] = {m.name: m for m in (
    RegressionMetric("wer", "Whisper WER", "%", "all", "lower", "asr", "ratio", 100.0, 1,
                     "word error rate of Whisper base against the script (intelligibility)"),
    RegressionMetric("distillmos", "DistillMOS", "1-5", "all", "higher", "mos", digits=2,
                     description="predicted naturalness, no reference"),
    RegressionMetric("f0_range", "F0 range", "semitones", "all", "natural", "analysis", digits=2,
                     description="standard deviation of log-F0 over voiced frames; flat prosody is low"),
    RegressionMetric("speech_rate", "speaking rate", "words/s", "all", "natural", "analysis", digits=2,
                     description="spoken words (numbers expanded) per second of speech, edge silence trimmed"),
    RegressionMetric("pause_per_punct", "pause per punctuation mark", "s", "all", "natural", "analysis",
                     digits=3, description="internal silence (>= 0.1 s) per punctuation junction of the script"),
    RegressionMetric("mcd", "MCD (DTW)", "dB", "recorded", "lower", "analysis", digits=2,
                     description="mel-cepstral distortion against the recording"),
    RegressionMetric("f0_rmse", "F0 RMSE", "cents", "recorded", "lower", "analysis", digits=0,
                     description="on the DTW path, frames voiced in both"),
    RegressionMetric("log_f0_corr", "log-F0 correlation", "r", "recorded", "higher", "analysis", digits=3,
                     description="on the DTW path, frames voiced in both"),
    RegressionMetric("duration_error", "duration error", "%", "recorded", "lower", "analysis", scale=100.0,
                     digits=1, description="|speech duration / recording's - 1|"),
)}


def natural_targets_needed(names: list[str]) -> bool:
    return any(METRICS[n].better == "natural" for n in names)


def spoken_word_count(text: str) -> int:
    """Words a speaker says for ``text`` (numbers and abbreviations expanded)."""
    from synthesis.text.normalize import normalize_text

    return len([w for w in normalize_text(text).text.split() if any(ch.isalnum() for ch in w)])


def punctuation_junctions(text: str) -> int:
    """Word junctions the script marks with punctuation (the sentence end excluded)."""
    from synthesis.evaluation.text_norm import script_words

    _, punct = script_words(text)
    return int(sum(punct[:-1])) if punct else 0


def reference_free_values(text: str, analysis, transcript=None, mos: float | None = None,
                          names: list[str] | tuple[str, ...] = ()) -> dict:
    """Values of the ``scope == "all"`` metrics in ``names`` for one utterance.

    Args:
        analysis: ``synthesis.evaluation.features.UtteranceAnalysis`` of the utterance.
        transcript: ``synthesis.evaluation.asr.Transcript`` (for ``wer``).
        mos: its DistillMOS (for ``distillmos``).

    Returns:
        name -> float (NaN where undefined), ``wer`` as ``[errors, reference words]``.
    """
    from synthesis.evaluation import metrics as M
    from synthesis.evaluation.pauses import silent_runs

    out: dict = {}
    if "wer" in names:
        from synthesis.evaluation.text_norm import normalise_for_wer

        errs = M.word_errors(normalise_for_wer(text), normalise_for_wer(transcript.text))
        out["wer"] = [float(errs.errors), float(errs.n_ref)]
        out["transcript"] = transcript.text
    if "distillmos" in names:
        out["distillmos"] = float(mos) if mos is not None else float("nan")
    if "f0_range" in names:
        out["f0_range"] = M.log_f0_std(analysis.f0) * SEMITONES_PER_LOG_UNIT
    if "speech_rate" in names:
        seconds = analysis.speech_seconds
        out["speech_rate"] = spoken_word_count(text) / seconds if seconds > 0 else float("nan")
    if "pause_per_punct" in names:
        n = punctuation_junctions(text)
        runs = silent_runs(analysis.energy_db, FRAME_S)
        out["pause_per_punct"] = sum(b - a for a, b in runs) / n if n else float("nan")
    return out


def reference_values(analysis, reference, names: list[str] | tuple[str, ...] = ()) -> dict:
    """Values of the ``scope == "recorded"`` metrics in ``names``: the utterance against the
    recording's analysis ``reference``."""
    from synthesis.evaluation import metrics as M

    out: dict = {}
    if {"mcd", "f0_rmse", "log_f0_corr"} & set(names):
        mcd, path = M.mcd_dtw(analysis.mcep, reference.mcep)
        if "mcd" in names:
            out["mcd"] = mcd
        f0s = M.f0_scores_on_path(analysis.f0, reference.f0, path)
        if "f0_rmse" in names:
            out["f0_rmse"] = f0s.rmse_cents
        if "log_f0_corr" in names:
            out["log_f0_corr"] = f0s.log_f0_corr
    if "duration_error" in names:
        out["duration_error"] = abs(M.duration_ratio(analysis.speech_seconds, reference.speech_seconds) - 1.0)
    return out


def column(per_sentence: dict[str, dict], ids: list[str], metric: RegressionMetric) -> np.ndarray:
    """Per-sentence values ``[n]`` (``[n, 2]`` for a ratio metric), NaN where missing."""
    rows = []
    for sid in ids:
        v = per_sentence.get(sid, {}).get(metric.name)
        if metric.aggregate == "ratio":
            rows.append(v if v is not None else [np.nan, np.nan])
        else:
            rows.append(np.nan if v is None else v)
    return np.asarray(rows, dtype=np.float64)
