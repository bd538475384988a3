"""``synthesis evaluate`` as a library call: check the inputs, score, write the output folder.

The output folder is built beside its destination and renamed into place at the end, so a
failure never leaves a half-written result; bad inputs are refused before anything is
written.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from synthesis.errors import SynthesisError
from synthesis.evaluation.runner import Evaluation, check_metric_groups, evaluate_systems
from synthesis.evaluation.systems import (
    CheckpointSystem,
    CopySynthesisSystem,
    EvalItem,
    RecordingSystem,
    System,
)

COPY_SYNTHESIS_VOCODERS = ("griffinlim", "world")
N_PLOT_CLIPS = 3


@dataclass
class EvaluationRequest:
    checkpoints: list[Path] = field(default_factory=list)
    labels: list[str | None] = field(default_factory=list)  # column name per checkpoint (None: its system)
    compare_to: str | None = None  # test every checkpoint against this one only (default: all pairs)
    copy_vocoders: tuple[str, ...] = COPY_SYNTHESIS_VOCODERS  # the copy-synthesis ceilings scored
    vocoders: dict[str, str] = field(default_factory=dict)  # checkpoint label -> vocoder replacing its own
    split: str = "test"
    out: Path = Path("out/evaluation")
    corpus: Path | None = None
    split_file: Path | None = None
    limit: int | None = None
    metrics: list[str] | None = None
    cache: Path | None = None
    force: bool = False
    progress: bool = True
    write_wavs: bool = True
    workers: int = 1
    extra_systems: list[System] = field(default_factory=list)  # for callers that bring their own


def default_evaluation_cache() -> Path:
    from synthesis.evaluation.asr import default_cache_root

    return default_cache_root() / "evaluation"


def check_request(req: EvaluationRequest) -> tuple[list[str], list[EvalItem], dict[str, str]]:
    """Everything a user can get wrong, checked before any work: one-line SynthesisError each."""
    from synthesis.audio.io import load_audio
    from synthesis.corpus import default_corpus_path, default_split_path, load_corpus, load_split

    groups = check_metric_groups(req.metrics)
    if req.split not in ("train", "validation", "test"):
        raise SynthesisError(f"unknown split {req.split!r} (train, validation, test)")
    if req.limit is not None and req.limit < 1:
        raise SynthesisError(f"--limit must be at least 1, got {req.limit}")
    if req.workers < 1:
        raise SynthesisError(f"--workers must be at least 1, got {req.workers}")
    for ckpt in req.checkpoints:
        if not Path(ckpt).is_file():
            raise SynthesisError(f"{ckpt}: checkpoint file does not exist")
    from synthesis.vocoders import available_vocoders

    for name in req.copy_vocoders:
        if name not in available_vocoders():
            raise SynthesisError(f"unknown vocoder {name!r} for copy synthesis (known: {', '.join(available_vocoders())})")
    given = [label for label in req.labels if label]
    for label, name in req.vocoders.items():
        if label not in given:
            raise SynthesisError(f"--vocoder {label}={name}: no checkpoint is named {label!r} (use --checkpoint {label}=PATH)")
        if name not in available_vocoders():
            raise SynthesisError(f"--vocoder {label}={name}: unknown vocoder (known: {', '.join(available_vocoders())})")
    reserved = {"recordings", *(f"copy-{v}" for v in req.copy_vocoders)}
    for label in given:
        if label in reserved or given.count(label) > 1:
            raise SynthesisError(f"checkpoint label {label!r} is used twice or names a built-in column")
        if not all(ch.isalnum() or ch in "-_." for ch in label):
            raise SynthesisError(f"checkpoint label {label!r}: use letters, digits, '-', '_' and '.' only")
    out = Path(req.out)
    if out.exists() and not out.is_dir():
        raise SynthesisError(f"{out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not req.force:
        raise SynthesisError(f"{out}: folder is not empty (use --force to replace it)")
    corpus = load_corpus(req.corpus or default_corpus_path())
    split = load_split(req.split_file or default_split_path(corpus.root), corpus)
    ids = list(split.subset(req.split))[: req.limit]
    if req.split == "test":
        for ckpt in req.checkpoints:
            check_held_out(Path(ckpt), ids)
    by_id = corpus.by_id()
    items = [EvalItem(cid, by_id[cid].text, load_audio(by_id[cid].wav_path)) for cid in ids]
    return groups, items, {cid: by_id[cid].text for cid in ids}


def check_held_out(checkpoint: Path, test_ids: list[str]) -> None:
    """Refuse a checkpoint that learnt from or was tuned on any of the clips it is to be tested on.

    Those clips are the ``seen_clips`` an exported file records (synthesis.training.export),
    else the train and validation subsets of the split its config names, else of the committed
    split of the corpus its cache was built from (as training chose it). Testing on another
    split, e.g. one that leaves a chapter out, would otherwise score clips the model learnt
    from. A checkpoint that cannot be read here is left to the loader's own error; one without
    ``seen_clips`` whose cache or split is not on this machine cannot be checked and passes.
    """
    from synthesis.corpus import seen_in_training
    from synthesis.training.checkpoint import load_checkpoint
    from synthesis.training.export import training_split

    try:
        ckpt = load_checkpoint(checkpoint)
        recorded = ckpt.get("seen_clips")
        if recorded is not None:
            seen_set = set(recorded)
            seen, where = [cid for cid in test_ids if cid in seen_set], "the clips recorded in the checkpoint"
        else:
            split, split_file = training_split(ckpt)
            seen, where = seen_in_training(split, test_ids), f"its split is {split_file}"
    except (SynthesisError, KeyError, TypeError, OSError):
        return
    if seen:
        raise SynthesisError(f"{checkpoint}: trained or tuned on {len(seen)} of the {len(test_ids)} test clips "
                             f"(first {seen[0]}; {where}): test it on a split it has not seen (--split-file)")


def build_systems(req: EvaluationRequest) -> list[System]:
    systems: list[System] = [RecordingSystem()]
    for name in req.copy_vocoders:
        try:
            systems.append(CopySynthesisSystem(name))
        except (OSError, ValueError) as exc:  # e.g. a neural vocoder whose weights are missing
            raise SynthesisError(f"copy synthesis with {name}: {str(exc).splitlines()[0]}") from exc
    names = {s.name for s in systems}
    labels = list(req.labels) + [None] * (len(req.checkpoints) - len(req.labels))
    for ckpt, label in zip(req.checkpoints, labels):
        system = CheckpointSystem(ckpt, name=label, vocoder=req.vocoders.get(label) if label else None)
        base, k = system.name, 2
        while system.name in names:  # two checkpoints of the same system: keep columns apart
            system.name = f"{base}-{k}"
            k += 1
        names.add(system.name)
        systems.append(system)
    systems += req.extra_systems
    return systems


def run_evaluation(req: EvaluationRequest) -> tuple[Evaluation, Path]:
    """Score the recordings, copy synthesis and each checkpoint; write ``req.out``.

    Writes ``results.json``, ``results.md``, ``f0_contours.png`` and ``wavs/<system>/<clip>.wav``.
    Paired Wilcoxon tests compare the checkpoints pairwise when there are two or more,
    otherwise the copy-synthesis vocoders.
    """
    groups, items, texts = check_request(req)
    systems = build_systems(req)
    models = [s.name for s in systems if s.kind not in ("recording", "copy_synthesis")]
    compare = models if len(models) >= 2 else [s.name for s in systems if s.kind == "copy_synthesis"]
    pairs = None
    if req.compare_to is not None:
        if req.compare_to not in models:
            raise SynthesisError(f"--compare-to {req.compare_to!r} is not one of the checkpoints "
                                 f"({', '.join(models) or 'none given'})")
        pairs = [(m, req.compare_to) for m in models if m != req.compare_to]
    cache = Path(req.cache) if req.cache else default_evaluation_cache()
    ev = evaluate_systems(systems, items, groups, cache, compare=compare, progress=req.progress,
                          workers=req.workers, pairs=pairs)
    write_output(ev, req, texts)
    return ev, Path(req.out)


def write_output(ev: Evaluation, req: EvaluationRequest, texts: dict[str, str]) -> None:
    from synthesis.audio.io import load_audio, write_wav
    from synthesis.corpus import default_corpus_path
    from synthesis.evaluation.report import markdown_table, plot_f0_contours

    out = Path(req.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        meta = {
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "split": req.split,
            "corpus": str(req.corpus or default_corpus_path()),
            "texts": texts,
            "settings": _settings(),
        }
        (tmp / "results.json").write_text(json.dumps(ev.to_json(meta), indent=1, allow_nan=False) + "\n",
                                          encoding="utf-8")
        (tmp / "results.md").write_text(markdown_table(ev, f"Objective evaluation ({req.split} split)"),
                                        encoding="utf-8")
        plot_f0_contours(ev, tmp / "f0_contours.png", ev.clip_ids[:N_PLOT_CLIPS], texts)
        if req.write_wavs:
            for name, waves in ev.waves.items():
                folder = tmp / "wavs" / name
                folder.mkdir(parents=True)
                for cid, src in waves.items():
                    wave = load_audio(src)
                    peak = float(np.max(np.abs(wave))) if wave.size else 0.0
                    if peak > 0.999:  # 16-bit files cannot hold it: scale, never clip
                        wave = wave * (0.999 / peak)
                    write_wav(folder / f"{cid}.wav", wave, 22_050)
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _settings() -> dict:
    from synthesis.evaluation import features, pauses
    from synthesis.evaluation.stats import N_BOOTSTRAP, SEED

    return {
        "mcd": {"analysis": "WORLD harvest + cheaptrick, pysptk mel-cepstrum", "order": features.MCD_ORDER,
                "c0_excluded": True, "dtw": "librosa, steps (1,1),(1,0),(0,1), cost = frame MCD",
                "trim": "synthesis.audio.trim.silence_bounds (40 dB, 0.1 s pad)"},
        "asr": {"model": "Whisper base (CTranslate2, int8)", "decoding": "greedy, language en, no VAD",
                "normaliser": "transformers EnglishTextNormalizer + short spelling list"},
        "pauses": {"threshold_db": pauses.THRESHOLD_DB, "min_pause_s": pauses.MIN_PAUSE_S,
                   "max_offset_s": pauses.MAX_OFFSET_S},
        "bootstrap": {"resamples": N_BOOTSTRAP, "seed": SEED, "interval": "percentile 95 %"},
    }
