"""``synthesis regress`` as a library call: check the inputs, let both versions speak the
regression sentences, measure, compare, build the listening set, write the output folder.

Output folder (built beside its destination and renamed into place at the end)::

    summary.md              verdict, diff table, listening-set note (for $GITHUB_STEP_SUMMARY)
    results.json            per-sentence values of both versions and the recordings, the comparison
    wavs/release/<id>.wav   what each version said, every sentence
    wavs/candidate/<id>.wav
    set/                    MUSHRA listening set: sentences with a recording x (hidden reference,
                            anchors, release, candidate)
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from synthesis.errors import ConfigError, SynthesisError
from synthesis.regression.compare import MetricComparison, compare_versions
from synthesis.regression.config import RegressConfig, load_regress_config
from synthesis.regression.listening import build_listening_set, plan_items
from synthesis.regression.metrics import METRICS, reference_free_values, reference_values
from synthesis.regression.sentences import RegressionSentence, load_sentences

RESULTS_FORMAT = "prosody-mushra/regression"
RESULTS_FORMAT_VERSION = 1
SAMPLE_RATE = 22_050
VERSIONS = ("release", "candidate")


@dataclass
class RegressionRequest:
    candidate: Path
    release: Path
    out: Path
    config: Path | None = None
    corpus: Path | None = None
    progress: bool = True


@dataclass
class RegressionResult:
    passed: bool
    rows: list[MetricComparison]
    out: Path
    summary: str
    set_items: int = 0
    timings: dict = field(default_factory=dict)


def _bar(total: int, desc: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="sentence", disable=not enabled, dynamic_ncols=True)


def check_output_folder(out: Path) -> None:
    """An absent or empty folder, or the output of an earlier regress run (replaced)."""
    if not out.exists():
        return
    if not out.is_dir():
        raise SynthesisError(f"{out}: exists and is not a folder")
    if any(out.iterdir()) and not (out / "results.json").is_file():
        raise SynthesisError(f"{out}: folder is not empty and holds no regress output; refusing to write there")


def select_sentences(config: RegressConfig, corpus) -> list[RegressionSentence]:
    sentences = load_sentences(config.sentences, corpus)
    if config.ids:
        by_id = {s.id: s for s in sentences}
        unknown = [i for i in config.ids if i not in by_id]
        if unknown:
            raise ConfigError(f"{config.source}: 'ids' names {unknown[0]!r}, which is not in {config.sentences}")
        sentences = [by_id[i] for i in config.ids]
    if not any(s.has_recording for s in sentences):
        needs = [m for m in config.metrics if METRICS[m].scope == "recorded" or METRICS[m].better == "natural"]
        if needs:
            raise ConfigError(f"{config.source}: metric {needs[0]!r} needs sentences with a recording, and the "
                              "selected sentences have none")
    return sentences


def load_version(path: Path, role: str):
    """The Synthesizer of one version; a one-line error naming the role and the file."""
    from synthesis.inference import Synthesizer

    path = Path(path)
    if not path.is_file():
        raise SynthesisError(f"{role} checkpoint {path} does not exist")
    try:
        synth = Synthesizer.from_checkpoint(path)
    except SynthesisError as exc:
        raise SynthesisError(f"{role} checkpoint: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - any unexpected layout inside a readable file is bad input
        first = (str(exc).splitlines() or [""])[0][:160]
        raise SynthesisError(f"{role} checkpoint {path}: incompatible checkpoint ({type(exc).__name__}: {first})") from None
    if synth.wants_reference:
        raise SynthesisError(f"{role} checkpoint {path}: synthesises in oracle mode, which reads each sentence's "
                             "recording; most regression sentences have none (export it in a text-only mode)")
    return synth


def synthesise_all(synth, sentences: list[RegressionSentence], seed: int, desc: str, progress: bool,
                   batch: int = 8) -> list[np.ndarray]:
    """One float32 waveform per sentence; the torch seed is set first so sampling modes repeat."""
    import torch

    torch.manual_seed(seed)
    waves: list[np.ndarray] = []
    with _bar(len(sentences), desc, progress) as bar:
        for s in range(0, len(sentences), batch):
            chunk = sentences[s:s + batch]
            out = synth.synthesise([x.text for x in chunk])
            for x, w in zip(chunk, out):
                w = np.asarray(w, dtype=np.float32).reshape(-1)
                if not np.all(np.isfinite(w)):
                    w = np.nan_to_num(w, nan=0.0, posinf=0.0, neginf=0.0)
                waves.append(w)
            bar.update(len(chunk))
    return waves


def _analyse(wave: np.ndarray):
    from synthesis.evaluation.features import analyse_utterance

    try:
        return analyse_utterance(wave)
    except ValueError:
        return None  # silent or too short: every analysis metric undefined for this sentence


def measure(waves: dict[str, np.ndarray], sentences: list[RegressionSentence], names: list[str],
            desc: str, progress: bool, references: dict | None = None) -> tuple[dict, dict]:
    """Per-sentence metric values of one version: (values, analyses).

    Args:
        waves: sentence id -> waveform.
        references: sentence id -> the recording's analysis (reference-based metrics).
    """
    needs = {METRICS[n].needs for n in names}
    free = [n for n in names if METRICS[n].scope == "all"]
    ref_names = [n for n in names if METRICS[n].scope == "recorded"]
    analyses, transcripts, mos = {}, {}, {}
    with _bar(len(sentences), f"{desc}: WORLD analysis", progress) as bar:
        for s in sentences:
            if s.id in waves:
                analyses[s.id] = _analyse(waves[s.id])
            bar.update()
    if "asr" in needs:
        from synthesis.evaluation.asr import Transcript, transcribe

        with _bar(len(sentences), f"{desc}: Whisper", progress) as bar:
            for s in sentences:
                w = waves.get(s.id)
                transcripts[s.id] = transcribe(w, SAMPLE_RATE) if w is not None and w.size else Transcript("", ())
                bar.update()
    if "mos" in needs:
        from synthesis.evaluation.mos import distillmos_scores

        ids = [s.id for s in sentences if s.id in waves and waves[s.id].size]
        with _bar(len(ids), f"{desc}: DistillMOS", progress) as bar:
            for k in range(0, len(ids), 8):
                chunk = ids[k:k + 8]
                for sid, score in zip(chunk, distillmos_scores([waves[i] for i in chunk], SAMPLE_RATE)):
                    mos[sid] = score
                bar.update(len(chunk))
    values: dict[str, dict] = {}
    for s in sentences:
        if s.id not in waves:
            continue
        a = analyses.get(s.id)
        v: dict = {}
        analysis_free = [n for n in free if METRICS[n].needs == "analysis"]
        other_free = [n for n in free if METRICS[n].needs != "analysis"]
        if other_free:
            v.update(reference_free_values(s.text, a, transcripts.get(s.id), mos.get(s.id), other_free))
        if a is not None:
            v.update(reference_free_values(s.text, a, names=analysis_free))
            ref = (references or {}).get(s.id)
            if ref is not None and ref_names:
                v.update(reference_values(a, ref, ref_names))
        values[s.id] = {k: (None if isinstance(x, float) and not np.isfinite(x) else x) for k, x in v.items()}
    return values, analyses


def _write_wavs(folder: Path, waves: dict[str, np.ndarray]) -> None:
    from synthesis.audio.io import write_wav

    folder.mkdir(parents=True)
    for sid, w in waves.items():
        peak = float(np.max(np.abs(w))) if w.size else 0.0
        if peak > 0.999:  # 16-bit PCM cannot hold it: scale, never clip
            w = w * (0.999 / peak)
        write_wav(folder / f"{sid}.wav", w if w.size else np.zeros(1, np.float32), SAMPLE_RATE)


def run_regression(req: RegressionRequest) -> RegressionResult:
    """Compare ``req.candidate`` with ``req.release`` and write ``req.out``.

    Raises:
        SynthesisError (ConfigError, CheckpointError, ...): bad input, stated in one line,
            before anything is written.
    """
    import time

    from synthesis.audio.io import load_audio
    from synthesis.corpus import default_corpus_path, load_corpus
    from synthesis.regression.report import summary_markdown

    t_start = time.perf_counter()
    config = load_regress_config(req.config)
    paths = {"release": Path(req.release), "candidate": Path(req.candidate)}
    if not paths["release"].is_file():
        raise SynthesisError(f"release checkpoint {paths['release']} does not exist")
    if not paths["candidate"].is_file():
        raise SynthesisError(f"candidate checkpoint {paths['candidate']} does not exist")
    out = Path(req.out)
    check_output_folder(out)
    corpus = load_corpus(req.corpus or default_corpus_path())
    sentences = select_sentences(config, corpus)
    if any(s.has_recording for s in sentences):
        from synthesis.corpus import default_split_path, load_split

        load_split(default_split_path(corpus.root), corpus)  # the listening set needs it: fail now, not after
    synths = {role: load_version(paths[role], role) for role in VERSIONS}
    names = list(config.metrics)
    recorded = [s for s in sentences if s.has_recording]
    clips = corpus.by_id()
    timings: dict[str, float] = {}

    t0 = time.perf_counter()
    waves = {role: dict(zip([s.id for s in sentences],
                            synthesise_all(synths[role], sentences, config.seed, f"{role}: synthesis", req.progress)))
             for role in VERSIONS}
    timings["synthesis_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    rec_waves = {s.id: load_audio(clips[s.clip].wav_path) for s in recorded}
    rec_names = [n for n in names if METRICS[n].better == "natural" or METRICS[n].scope == "recorded"]
    rec_values, rec_analyses = measure(rec_waves, recorded,
                                       [n for n in rec_names if METRICS[n].scope == "all"], "recordings",
                                       req.progress)
    references = {sid: a for sid, a in rec_analyses.items() if a is not None}
    values = {role: measure(waves[role], sentences, names, role, req.progress, references)[0] for role in VERSIONS}
    timings["metrics_s"] = time.perf_counter() - t0
    scope_ids = {"all": [s.id for s in sentences], "recorded": [s.id for s in recorded]}
    rows = compare_versions(scope_ids, values["release"], values["candidate"], config.metrics, rec_values)
    passed = not any(r.fails for r in rows)
    infos = {role: synths[role].describe() for role in VERSIONS}
    del synths

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        for role in VERSIONS:
            _write_wavs(tmp / "wavs" / role, waves[role])
        set_info: dict = {"dir": "set", "items": 0, "conditions": [], "identical_left_out": [], "merged": False}
        if recorded:
            t0 = time.perf_counter()
            items, identical, merged = plan_items([s.id for s in recorded], waves["release"], waves["candidate"])
            clip_of = {s.id: s.clip for s in recorded}
            staged = {}
            for role in VERSIONS:  # the set's items are named by clip id
                staged[role] = tmp / ".staged" / role
                _write_wavs(staged[role], {clip_of[i]: waves[role][i] for i in items})
            manifest = build_listening_set(config.set_name, corpus.root, clip_of, items, merged, staged, infos,
                                           config.anchors_hz, config.target_lufs, config.seed, tmp / "set",
                                           req.progress, config.source)
            shutil.rmtree(tmp / ".staged")
            timings["set_s"] = time.perf_counter() - t0
            set_info.update(items=len(manifest.items), conditions=[c.label for c in manifest.conditions],
                            identical_left_out=identical, merged=merged)
        texts = {s.id: s.text for s in sentences}
        summary = summary_markdown(rows, infos["release"], infos["candidate"], len(sentences), len(recorded),
                                   set_info, texts)
        timings["total_s"] = time.perf_counter() - t_start
        results = {
            "format": RESULTS_FORMAT, "format_version": RESULTS_FORMAT_VERSION,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "passed": passed, "config": config.source, "config_hash": config.hash(),
            "versions": {role: {"path": str(paths[role]), **infos[role]} for role in VERSIONS},
            "sentences": [{"id": s.id, "category": s.category, "text": s.text, "clip": s.clip or None}
                          for s in sentences],
            "comparison": [r.to_json() for r in rows],
            "per_sentence": {**values, "recordings": rec_values},
            "listening_set": set_info, "timings_s": {k: round(v, 2) for k, v in timings.items()},
        }
        (tmp / "results.json").write_text(json.dumps(results, indent=1, allow_nan=False, default=str) + "\n",
                                          encoding="utf-8")
        (tmp / "summary.md").write_text(summary, encoding="utf-8")
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return RegressionResult(passed, rows, out, summary, set_info["items"], timings)
