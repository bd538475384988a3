"""Builds a listening-set folder from a SetConfig: select items, render every condition, trim,
loudness-align, write under content-hash names, validate, then move into place atomically."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from synthesis import __version__
from synthesis.audio.io import load_audio
from synthesis.audio.loudness import align_loudness
from synthesis.audio.trim import apply_bounds, silence_bounds
from synthesis.corpus import default_corpus_path, default_split_path, load_corpus, load_split
from synthesis.errors import ConfigError, ListeningSetError, SynthesisError
from synthesis.listening_set.conditions import ConditionSource, ItemAudio, make_source
from synthesis.listening_set.config import SetConfig
from synthesis.listening_set.folder import MANIFEST_NAME, encode_wav, read_set, verify_set
from synthesis.listening_set.manifest import Condition, Item, Manifest, Stimulus


@dataclass(frozen=True)
class ItemJob:
    id: str
    text: str
    wav_path: str


def select_items(config: SetConfig, subset_ids: tuple[str, ...], known_ids: set[str]) -> list[str]:
    """The item ids of the set: the configured list, or a seeded draw from the split subset."""
    if config.items:
        unknown = [i for i in config.items if i not in known_ids]
        if unknown:
            raise ConfigError(f"{config.source}: item {unknown[0]!r} is not in the corpus")
        if len(set(config.items)) != len(config.items):
            raise ConfigError(f"{config.source}: 'items' lists a clip twice")
        return sorted(config.items)
    pool = sorted(subset_ids)
    if config.n_items > len(pool):
        raise ConfigError(f"{config.source}: asks for {config.n_items} items but the {config.subset} split holds"
                          f" only {len(pool)}")
    rng = np.random.default_rng(config.seed)
    return sorted(pool[i] for i in rng.choice(len(pool), size=config.n_items, replace=False))


def make_sources(config: SetConfig) -> list[ConditionSource]:
    return [make_source(c.id, c.kind, c.params, f"{config.source}: condition {c.id!r}") for c in config.conditions]


def render_item(job: ItemJob, config: SetConfig, sources: list[ConditionSource], out_dir: Path) -> Item:
    """All stimuli of one item, trimmed by one rule, loudness-aligned and written to ``out_dir``."""
    sr = config.sample_rate
    recording = load_audio(job.wav_path, sr, resample=False)
    audio = ItemAudio(job.id, job.text, recording, sr)
    ref_bounds = silence_bounds(recording, sr, config.trim_top_db, config.trim_pad_s)
    waves = []
    for source in sources:
        wave = np.asarray(source.render(audio), dtype=np.float32)
        if source.aligned:
            wave = wave[: len(recording)] if len(wave) >= len(recording) else np.pad(wave, (0, len(recording) - len(wave)))
            bounds = ref_bounds
        else:
            bounds = silence_bounds(wave, sr, config.trim_top_db, config.trim_pad_s)
        waves.append(apply_bounds(wave, bounds, sample_rate=sr))
    waves, lufs = align_loudness(waves, sr, config.target_lufs, config.peak_limit_dbtp)
    stimuli = {}
    for source, wave in zip(sources, waves):
        data = encode_wav(wave, sr)
        digest = hashlib.sha256(data).hexdigest()
        name = f"{digest[:20]}.wav"
        (out_dir / name).write_bytes(data)
        stimuli[source.id] = Stimulus(name, digest, len(wave), len(wave) / sr)
    return Item(job.id, job.text, stimuli, lufs)


_WORKER: dict = {}


def _init_worker(config: SetConfig, out_dir: str) -> None:
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass
    _WORKER["config"] = config
    _WORKER["sources"] = make_sources(config)
    _WORKER["out"] = Path(out_dir)


def _render_in_worker(job: ItemJob) -> Item:
    return render_item(job, _WORKER["config"], _WORKER["sources"], _WORKER["out"])


def prepare_output(out: Path, force: bool) -> None:
    """Refuse to overwrite anything but an existing set (and that only with force)."""
    if not out.exists():
        return
    if not out.is_dir():
        raise ListeningSetError(f"{out}: exists and is not a folder")
    if (out / MANIFEST_NAME).exists():
        if not force:
            raise ListeningSetError(f"{out}: already holds a listening set (use --force to replace it)")
        return
    if any(out.iterdir()):
        raise ListeningSetError(f"{out}: folder is not empty and holds no listening set; refusing to write there")


def build_set(config: SetConfig, out: str | Path, force: bool = False, progress: bool = True) -> Manifest:
    """Build the set described by ``config`` into ``out``.

    Nothing is left behind on failure: the set is written into a hidden sibling folder and
    renamed into place only after it validated.
    """
    out = Path(out)
    prepare_output(out, force)
    corpus_root = Path(config.corpus) if config.corpus else default_corpus_path()
    corpus = load_corpus(corpus_root)
    split_path = Path(config.split) if config.split else default_split_path(corpus_root)
    split = load_split(split_path, corpus)
    clips = corpus.by_id()
    ids = select_items(config, split.subset(config.subset), set(clips))
    sources = make_sources(config)  # validates every condition before any audio work
    jobs = [ItemJob(i, clips[i].text, str(clips[i].wav_path)) for i in ids]

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.partial-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        items = _render_all(jobs, config, sources, tmp, progress)
        manifest = Manifest(
            name=config.name,
            sample_rate=config.sample_rate,
            target_lufs=config.target_lufs,
            peak_limit_dbtp=config.peak_limit_dbtp,
            conditions=tuple(Condition(s.id, s.role, s.kind, spec.label or s.id, s.provenance())
                             for s, spec in zip(sources, config.conditions)),
            items=tuple(items),
            created_with=f"synthesis {__version__}",
            trim={"top_db": config.trim_top_db, "pad_s": config.trim_pad_s, "rule": "librosa.effects.trim; "
                  "sample-aligned conditions share the recording's bounds"},
            build={"config_hash": config.hash(), "seed": config.seed, "corpus": corpus.name,
                   "corpus_fingerprint": corpus.fingerprint(), "split_fingerprint": split.fingerprint,
                   "subset": config.subset},
        )
        (tmp / MANIFEST_NAME).write_text(json.dumps(manifest.to_json(), indent=1, ensure_ascii=False) + "\n",
                                         encoding="utf-8")
        problems = verify_set(tmp)
        if problems:
            raise ListeningSetError(f"built set failed validation: {problems[0]}")
        manifest = read_set(tmp)  # what readers will see (JSON-rounded numbers)
        _swap_into_place(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return manifest


def _render_all(jobs: list[ItemJob], config: SetConfig, sources: list[ConditionSource], tmp: Path,
                progress: bool) -> list[Item]:
    from tqdm import tqdm

    bar = tqdm(total=len(jobs), desc=f"build-set {config.name}", unit="item", disable=not progress)
    try:
        if config.workers <= 1 or len(jobs) <= 1:
            items = []
            for job in jobs:
                items.append(render_item(job, config, sources, tmp))
                bar.update()
            return items
        # Longest clips first, so that no worker is left with a long clip while the other idles.
        order = sorted(range(len(jobs)), key=lambda i: -os.path.getsize(jobs[i].wav_path))
        items: list[Item | None] = [None] * len(jobs)
        with ProcessPoolExecutor(max_workers=config.workers, initializer=_init_worker,
                                 initargs=(config, str(tmp))) as pool:
            futures = {pool.submit(_render_in_worker, jobs[i]): i for i in order}
            try:
                for future in as_completed(futures):
                    items[futures[future]] = future.result()
                    bar.update()
            except BaseException:
                pool.shutdown(wait=True, cancel_futures=True)  # no work left running on failure
                raise
        return items
    except SynthesisError:
        raise
    finally:
        bar.close()


def _swap_into_place(tmp: Path, out: Path) -> None:
    if out.exists():
        old = out.parent / f".{out.name}.old-{os.getpid()}"
        out.rename(old)
        tmp.rename(out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        tmp.rename(out)
