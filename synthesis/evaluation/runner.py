"""Score systems against held-out recordings: synthesis, analysis, ASR, MOS, statistics.

Every expensive step is cached per (system, clip) under the cache folder, keyed by the
system's ``cache_key()``; a re-run recomputes only what is missing. The result is a plain
``Evaluation`` (JSON-ready); writing files is ``report``'s job.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from synthesis.errors import SynthesisError
from synthesis.evaluation import metrics as M
from synthesis.evaluation.features import UtteranceAnalysis, analyse_utterance
from synthesis.evaluation.pauses import pauses_at_punctuation, silent_runs
from synthesis.evaluation.stats import bootstrap_ci, mean_of, paired_wilcoxon, ratio_of_sums
from synthesis.evaluation.systems import SAMPLE_RATE, EvalItem, System

RESULTS_FORMAT_VERSION = 1


@dataclass(frozen=True)
class MetricSpec:
    name: str
    label: str
    unit: str
    group: str          # the --metrics name that turns it on
    better: str         # "lower", "higher" or "closer to 1"
    aggregate: str      # "mean" over clips, or "ratio" of sums (per clip: numerator, denominator)
    scale: float = 1.0  # shown as value * scale (e.g. WER as %)
    digits: int = 2


METRICS: tuple[MetricSpec, ...] = (
    MetricSpec("distillmos", "DistillMOS", "1-5", "distillmos", "higher", "mean"),
    MetricSpec("wer", "Whisper WER", "%", "wer", "lower", "ratio", 100.0, 1),
    MetricSpec("mcd", "MCD (DTW)", "dB", "mcd", "lower", "mean"),
    MetricSpec("f0_rmse_hz", "F0 RMSE", "Hz", "f0", "lower", "mean", 1.0, 1),
    MetricSpec("f0_rmse_cents", "F0 RMSE", "cents", "f0", "lower", "mean", 1.0, 0),
    MetricSpec("log_f0_corr", "log-F0 correlation", "r", "f0", "higher", "mean"),
    MetricSpec("f0_gross_error", "gross pitch error (> 20 %)", "%", "f0", "lower", "mean", 100.0, 1),
    MetricSpec("f0_rmse_fine_cents", "F0 RMSE without gross errors", "cents", "f0", "lower", "mean", 1.0, 0),
    MetricSpec("f0_level_error_cents", "F0 level error", "cents", "f0", "lower", "mean", 1.0, 0),
    MetricSpec("f0_rmse_shape_cents", "F0 RMSE, level removed", "cents", "f0", "lower", "mean", 1.0, 0),
    MetricSpec("f0_std_ratio", "F0 std ratio", "sys/rec", "f0", "closer to 1", "mean"),
    MetricSpec("f0_rmse_phone_hz", "F0 RMSE, phone-aligned", "Hz", "f0_phones", "lower", "mean", 1.0, 1),
    MetricSpec("log_f0_corr_phone", "log-F0 correlation, phone-aligned", "r", "f0_phones", "higher", "mean"),
    MetricSpec("f0_gross_error_phone", "gross pitch error, phone-aligned", "%", "f0_phones", "lower", "mean",
               100.0, 1),
    MetricSpec("duration_ratio", "duration ratio", "sys/rec", "duration", "closer to 1", "mean"),
    MetricSpec("word_duration_error", "word duration error", "ms", "word_durations", "lower", "mean", 1000.0, 0),
    MetricSpec("phone_duration_error", "phone duration error", "ms", "phone_durations", "lower", "mean", 1000.0, 0),
    MetricSpec("pause_punct", "pause at punctuation", "s/clip", "pauses", "closer to rec", "mean"),
    MetricSpec("pause_punct_ratio", "pause at punctuation ratio", "sys/rec", "pauses", "closer to 1", "ratio"),
    MetricSpec("pause_total", "all internal pauses", "s/clip", "pauses", "closer to rec", "mean"),
)
METRIC_GROUPS = ("distillmos", "wer", "mcd", "f0", "f0_phones", "duration", "word_durations", "phone_durations",
                 "pauses")
_NEEDS_ANALYSIS = {"mcd", "f0", "f0_phones", "duration", "pauses"}
_NEEDS_PHONES = {"f0_phones", "phone_durations"}
_NEEDS_ASR = {"wer", "word_durations", "pauses"}


def check_metric_groups(groups: list[str] | None) -> list[str]:
    """The metric groups to compute, in canonical order; all of them when ``groups`` is empty."""
    if not groups:
        return list(METRIC_GROUPS)
    unknown = [g for g in groups if g not in METRIC_GROUPS]
    if unknown:
        raise SynthesisError(f"unknown metric {unknown[0]!r} (known: {', '.join(METRIC_GROUPS)})")
    return [g for g in METRIC_GROUPS if g in groups]


@dataclass
class Evaluation:
    """Everything measured: per-clip values, summaries with CIs, paired tests."""

    systems: list[dict]
    clip_ids: list[str]
    groups: list[str]
    per_clip: dict[str, dict[str, dict]]                  # system -> clip -> metric -> value
    summary: dict[str, dict[str, dict]] = field(default_factory=dict)
    paired_tests: list[dict] = field(default_factory=list)
    waves: dict[str, dict[str, Path]] = field(default_factory=dict)  # system -> clip -> cached wav
    f0: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    timings: dict[str, dict[str, dict]] = field(default_factory=dict)  # system -> stage -> seconds, clips

    def metrics(self) -> list[MetricSpec]:
        return [m for m in METRICS if m.group in self.groups]

    def to_json(self, extra: dict | None = None) -> dict:
        return {
            "format_version": RESULTS_FORMAT_VERSION,
            **(extra or {}),
            "clip_ids": self.clip_ids,
            "metric_groups": self.groups,
            "metrics": {m.name: {"label": m.label, "unit": m.unit, "better": m.better,
                                 "aggregate": m.aggregate, "display_scale": m.scale} for m in self.metrics()},
            "systems": self.systems,
            "summary": self.summary,
            "paired_tests": self.paired_tests,
            "timings": self.timings,
            "per_clip": _finite_or_none(self.per_clip),
        }


def _finite_or_none(obj):
    """JSON has no NaN: an undefined per-clip value (no voiced frame in common, no word
    recognised) is written as null."""
    if isinstance(obj, dict):
        return {k: _finite_or_none(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite_or_none(v) for v in obj]
    if isinstance(obj, float | np.floating):
        return float(obj) if np.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


# ---------------------------------------------------------------------------------------------
# Cache


class ClipCache:
    """Per-(system, clip) files: the waveform, its analysis, its transcript and its MOS."""

    def __init__(self, root: Path, system: System):
        self.dir = Path(root) / system.cache_key()
        self.dir.mkdir(parents=True, exist_ok=True)

    def path(self, clip_id: str, suffix: str) -> Path:
        return self.dir / f"{clip_id}.{suffix}"

    def write_atomic(self, target: Path, write: Callable[[Path], None]) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.dir, prefix=".tmp-", suffix=target.suffix)
        os.close(fd)
        try:
            write(Path(tmp))
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def load_wave(self, clip_id: str) -> np.ndarray | None:
        p = self.path(clip_id, "wav")
        if not p.is_file():
            return None
        wave, _ = sf.read(str(p), dtype="float32")
        return wave

    def save_wave(self, clip_id: str, wave: np.ndarray) -> None:
        # 32-bit float: the cached output is exactly what the system produced (no clipping).
        self.write_atomic(self.path(clip_id, "wav"),
                          lambda p: sf.write(str(p), wave, SAMPLE_RATE, subtype="FLOAT", format="WAV"))

    def load_json(self, clip_id: str, kind: str) -> dict | None:
        p = self.path(clip_id, f"{kind}.json")
        if not p.is_file():
            return None
        try:
            return json.loads(p.read_text(encoding="utf-8"))
        except ValueError:
            return None

    def save_json(self, clip_id: str, kind: str, data: dict) -> None:
        self.write_atomic(self.path(clip_id, f"{kind}.json"),
                          lambda p: p.write_text(json.dumps(data), encoding="utf-8"))

    def load_analysis(self, clip_id: str) -> UtteranceAnalysis | None:
        p = self.path(clip_id, "analysis.npz")
        if not p.is_file():
            return None
        try:
            with np.load(p) as arrays:
                return UtteranceAnalysis.from_arrays(arrays)
        except (ValueError, KeyError, OSError):
            return None

    def save_analysis(self, clip_id: str, a: UtteranceAnalysis) -> None:
        def write(p: Path) -> None:
            with open(p, "wb") as f:
                np.savez(f, **a.to_arrays())
        self.write_atomic(self.path(clip_id, "analysis.npz"), write)


# ---------------------------------------------------------------------------------------------
# Per-system measurement


def _progress(total: int, desc: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="clip", disable=not enabled, leave=False, dynamic_ncols=True)


class _StageTimer:
    """Wall-clock seconds and number of clips actually computed (not cached) per stage."""

    def __init__(self):
        self.stages: dict[str, dict] = {}

    def add(self, stage: str, seconds: float, clips: int) -> None:
        entry = self.stages.setdefault(stage, {"seconds": 0.0, "clips": 0})
        entry["seconds"] = round(entry["seconds"] + seconds, 3)
        entry["clips"] += clips


def _analyse_file(path: Path) -> UtteranceAnalysis | str:
    """WORLD analysis of a cached waveform; the error message instead of raising (for pools)."""
    wave, _ = sf.read(str(path), dtype="float32")
    try:
        return analyse_utterance(wave)
    except ValueError as exc:
        return str(exc)


def _analyse_files(paths: list[Path], ids: list[str], pool):
    """Yield ``(clip id, analysis or error message)`` in order, in the process pool if any.

    Harvest F0 is single-threaded and the slowest step of an evaluation, so clips are spread
    over processes when a pool is given.
    """
    if pool is None or len(paths) < 2:
        for cid, p in zip(ids, paths):
            yield cid, _analyse_file(p)
        return
    yield from zip(ids, pool.map(_analyse_file, paths))


def _analysis_pool(workers: int):
    """A process pool shared by all systems (spawned: the parent may hold torch threads)."""
    if workers <= 1:
        return contextlib.nullcontext(None)
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))


def _measure_system(system: System, items: list[EvalItem], groups: list[str], cache_root: Path,
                    progress: bool, synth_batch: int, timer: _StageTimer,
                    pool=None) -> tuple[dict, dict, dict, dict]:
    """Waves (cached paths), analyses, transcripts and MOS of one system over all items."""
    cache = ClipCache(cache_root, system)
    missing = [it for it in items if not cache.path(it.clip_id, "wav").is_file()]
    with _progress(len(missing), f"{system.name}: synthesis", progress) as bar:
        for s in range(0, len(missing), synth_batch):
            chunk = missing[s:s + synth_batch]
            t0 = time.perf_counter()
            waves = system.synthesise(chunk)
            timer.add("synthesis", time.perf_counter() - t0, len(chunk))
            for it, w in zip(chunk, waves):
                w = np.asarray(w, dtype=np.float32).reshape(-1)
                if w.size == 0 or not np.all(np.isfinite(w)):
                    raise SynthesisError(f"{system.name}: output for {it.clip_id} is empty or not finite")
                cache.save_wave(it.clip_id, w)
            bar.update(len(chunk))
    wave_paths = {it.clip_id: cache.path(it.clip_id, "wav") for it in items}

    analyses: dict[str, UtteranceAnalysis] = {}
    if _NEEDS_ANALYSIS & set(groups):
        for it in items:
            a = cache.load_analysis(it.clip_id)
            if a is not None:
                analyses[it.clip_id] = a
        todo = [it.clip_id for it in items if it.clip_id not in analyses]
        with _progress(len(todo), f"{system.name}: WORLD analysis", progress) as bar:
            t0 = time.perf_counter()
            for cid, result in _analyse_files([cache.path(c, "wav") for c in todo], todo, pool):
                if isinstance(result, str):
                    raise SynthesisError(f"{system.name}: output for {cid}: {result}")
                cache.save_analysis(cid, result)
                analyses[cid] = result
                bar.update()
            if todo:
                timer.add("world_analysis", time.perf_counter() - t0, len(todo))

    transcripts: dict = {}
    if _NEEDS_ASR & set(groups):
        from synthesis.evaluation.asr import Transcript, transcribe

        with _progress(len(items), f"{system.name}: Whisper", progress) as bar:
            for it in items:
                data = cache.load_json(it.clip_id, "whisper")
                if data is None:
                    t0 = time.perf_counter()
                    data = transcribe(cache.load_wave(it.clip_id), SAMPLE_RATE).to_json()
                    timer.add("whisper", time.perf_counter() - t0, 1)
                    cache.save_json(it.clip_id, "whisper", data)
                transcripts[it.clip_id] = Transcript.from_json(data)
                bar.update()

    mos: dict[str, float] = {}
    if "distillmos" in groups:
        from synthesis.evaluation.mos import distillmos_scores

        todo = []
        for it in items:
            data = cache.load_json(it.clip_id, "distillmos")
            if data is None:
                todo.append(it.clip_id)
            else:
                mos[it.clip_id] = float(data["distillmos"])
        with _progress(len(todo), f"{system.name}: DistillMOS", progress) as bar:
            for s in range(0, len(todo), 8):
                ids = todo[s:s + 8]
                t0 = time.perf_counter()
                scores = distillmos_scores([cache.load_wave(c) for c in ids], SAMPLE_RATE)
                timer.add("distillmos", time.perf_counter() - t0, len(ids))
                for cid, score in zip(ids, scores):
                    cache.save_json(cid, "distillmos", {"distillmos": score})
                    mos[cid] = score
                bar.update(len(ids))
    phones: dict[str, dict] = {}
    if _NEEDS_PHONES & set(groups):
        with _progress(len(items), f"{system.name}: forced alignment", progress) as bar:
            for it in items:
                data = cache.load_json(it.clip_id, "phones")
                if data is None or "all" not in data:  # "all": since the phone-aligned F0
                    t0 = time.perf_counter()
                    data = _phone_alignment(it.text, cache.load_wave(it.clip_id))
                    timer.add("forced_alignment", time.perf_counter() - t0, 1)
                    cache.save_json(it.clip_id, "phones", data)
                phones[it.clip_id] = data
                bar.update()
    return wave_paths, analyses, transcripts, mos, phones


_FRONTEND: list = []


def _phone_alignment(text: str, wave: np.ndarray) -> dict:
    """Pocketsphinx forced alignment of ``text``'s phonemes in ``wave`` (as `synthesis prepare`
    aligns the corpus): frames (hop 256) of every phoneme including pauses and edge silence
    (``all``, positions from the start of the wave) and of the spoken ones alone
    (``durations``); both None where it finds no alignment. The same instrument times the
    recording and every system."""
    from synthesis.features.forced_alignment import IPA_TO_ARPABET, recording_durations
    from synthesis.text.phonemes import SYMBOLS

    if not _FRONTEND:
        from synthesis.text.frontend import TextFrontend

        _FRONTEND.append(TextFrontend())
    analysis = _FRONTEND[0].analyse(text)
    durations = recording_durations(wave, analysis.phoneme_ids, analysis.word_index, len(wave) // 256)
    if durations is None:
        return {"durations": None, "all": None}
    return {"durations": [int(d) for i, d in zip(analysis.phoneme_ids, durations)
                          if SYMBOLS[int(i)] in IPA_TO_ARPABET],
            "all": [int(d) for d in durations]}


def _clip_metrics(groups: list[str], item: EvalItem, a_sys, a_ref, t_sys, t_ref, mos,
                  p_sys=None, p_ref=None) -> dict:
    """Per-clip values of one system (ratio metrics as ``[numerator, denominator]``)."""
    from synthesis.evaluation.text_norm import normalise_for_wer, script_words, word_key

    out: dict = {}
    if "distillmos" in groups:
        out["distillmos"] = mos
    if "wer" in groups:
        errs = M.word_errors(normalise_for_wer(item.text), normalise_for_wer(t_sys.text))
        out["wer"] = [errs.errors, errs.n_ref]
        out["transcript"] = t_sys.text
    path = None
    if "mcd" in groups or "f0" in groups:
        mcd, path = M.mcd_dtw(a_sys.mcep, a_ref.mcep)
        if "mcd" in groups:
            out["mcd"] = mcd
    if "f0" in groups:
        f0s = M.f0_scores_on_path(a_sys.f0, a_ref.f0, path)
        out.update(f0_rmse_hz=f0s.rmse_hz, f0_rmse_cents=f0s.rmse_cents, log_f0_corr=f0s.log_f0_corr,
                   f0_gross_error=f0s.gross_error_rate, f0_rmse_fine_cents=f0s.fine_rmse_cents,
                   f0_level_error_cents=abs(f0s.level_offset_cents), f0_rmse_shape_cents=f0s.shape_rmse_cents,
                   f0_std_ratio=M.f0_std_ratio(a_sys.f0, a_ref.f0))
    if "f0_phones" in groups:
        path = M.phone_aligned_path((p_sys or {}).get("all"), (p_ref or {}).get("all"), a_sys.start_frame,
                                    a_ref.start_frame, len(a_sys.f0), len(a_ref.f0))
        f0p = M.f0_scores_on_path(a_sys.f0, a_ref.f0, path)
        out.update(f0_rmse_phone_hz=f0p.rmse_hz, log_f0_corr_phone=f0p.log_f0_corr,
                   f0_gross_error_phone=f0p.gross_error_rate)
    if "duration" in groups:
        out["duration_ratio"] = M.duration_ratio(a_sys.speech_seconds, a_ref.speech_seconds)
    if "word_durations" in groups:
        def spans(t):
            return [(word_key(w.text), w.start, w.end) for w in t.words if word_key(w.text)]
        err, n = M.word_duration_error(spans(t_ref), spans(t_sys))
        out["word_duration_error"] = err
        out["word_duration_matched"] = n
    if "phone_durations" in groups:
        err, n = M.phone_duration_error((p_ref or {}).get("durations"), (p_sys or {}).get("durations"),
                                        256 / SAMPLE_RATE)
        out["phone_duration_error"] = err
        out["phone_duration_matched"] = n
    if "pauses" in groups:
        keys, punct = script_words(item.text)

        def summary(a, t):
            frame_s = 256 / SAMPLE_RATE
            runs = silent_runs(a.energy_db, frame_s)
            words = [(word_key(w.text), w.start, w.end) for w in t.words if word_key(w.text)]
            return pauses_at_punctuation(runs, [w for w, _, _ in words], [(s, e) for _, s, e in words],
                                         keys, punct)
        p_sys, p_ref = summary(a_sys, t_sys), summary(a_ref, t_ref)
        out["pause_punct"] = p_sys.at_punctuation
        out["pause_punct_ratio"] = [p_sys.at_punctuation, p_ref.at_punctuation]
        out["pause_total"] = p_sys.total
        out["pauses"] = p_sys.to_json()
    return out


def _column(per_clip: dict[str, dict], clip_ids: list[str], metric: MetricSpec) -> np.ndarray:
    rows = []
    for cid in clip_ids:
        v = per_clip[cid].get(metric.name)
        if metric.aggregate == "ratio":
            rows.append(v if v is not None else [np.nan, np.nan])
        else:
            rows.append(np.nan if v is None else v)
    return np.asarray(rows, dtype=np.float64)


def _per_clip_value(col: np.ndarray, metric: MetricSpec) -> np.ndarray:
    """The per-clip number a paired test compares (a ratio metric: numerator / denominator)."""
    if metric.aggregate != "ratio":
        return col
    with np.errstate(divide="ignore", invalid="ignore"):
        if metric.name == "pause_punct_ratio":
            return col[:, 0]  # the recording's pause is common to both systems: compare seconds
        return np.where(col[:, 1] > 0, col[:, 0] / col[:, 1], np.nan)


def evaluate_systems(systems: list[System], items: list[EvalItem], groups: list[str], cache_root: Path,
                     compare: list[str] | None = None, progress: bool = True, synth_batch: int = 8,
                     n_boot: int = 2000, workers: int = 1,
                     pairs: list[tuple[str, str]] | None = None) -> Evaluation:
    """Measure every system on every item and summarise.

    Args:
        systems: the first must be the recordings (the reference of every metric).
        items: the test clips.
        groups: metric groups (``check_metric_groups``).
        cache_root: folder of the per-(system, clip) cache.
        compare: names of the systems to test pairwise (Wilcoxon); none when fewer than two.
        workers: processes for the WORLD analysis.
        pairs: explicit ``(a, b)`` pairs to test instead of all pairs of ``compare``.
    """
    if not systems or systems[0].kind != "recording":
        raise ValueError("the first system must be the recordings")
    clip_ids = [it.clip_id for it in items]
    measured, timings = {}, {}
    with _analysis_pool(workers) as pool:
        for system in systems:
            timer = _StageTimer()
            measured[system.name] = _measure_system(system, items, groups, Path(cache_root), progress,
                                                    synth_batch, timer, pool)
            timings[system.name] = timer.stages
    _, a_ref, t_ref, _, p_ref = measured[systems[0].name]
    ev = Evaluation(systems=[s.describe() for s in systems], clip_ids=clip_ids, groups=groups, per_clip={},
                    timings=timings)
    for system in systems:
        waves, analyses, transcripts, mos, phones = measured[system.name]
        ev.waves[system.name] = waves
        ev.f0[system.name] = {cid: a.f0 for cid, a in analyses.items()}
        ev.per_clip[system.name] = {
            it.clip_id: _clip_metrics(groups, it, analyses.get(it.clip_id), a_ref.get(it.clip_id),
                                      transcripts.get(it.clip_id), t_ref.get(it.clip_id), mos.get(it.clip_id),
                                      phones.get(it.clip_id), p_ref.get(it.clip_id))
            for it in items
        }
    for system in systems:
        ev.summary[system.name] = {}
        for metric in ev.metrics():
            col = _column(ev.per_clip[system.name], clip_ids, metric)
            stat = ratio_of_sums if metric.aggregate == "ratio" else mean_of
            ev.summary[system.name][metric.name] = bootstrap_ci(col, stat, n_boot=n_boot).to_json()
    if pairs is None:
        names = list(compare or [])
        pairs = [(names[i], names[j]) for i in range(len(names)) for j in range(i + 1, len(names))]
    for name_a, name_b in pairs:
        for metric in ev.metrics():
            a = _per_clip_value(_column(ev.per_clip[name_a], clip_ids, metric), metric)
            b = _per_clip_value(_column(ev.per_clip[name_b], clip_ids, metric), metric)
            ev.paired_tests.append({"a": name_a, "b": name_b, "metric": metric.name,
                                    **paired_wilcoxon(a, b).to_json()})
    return ev
