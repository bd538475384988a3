"""LJSpeech-layout corpus: reading, validation and the seeded train/validation/test split.

Layout: ``ROOT/metadata.csv`` with ``id|text|normalized text`` per line (UTF-8, no header) and
``ROOT/wavs/<id>.wav``. The same code reads the 483-clip mini corpus and the full 13,100-clip
LJSpeech download.
"""

from __future__ import annotations

import hashlib
import json
import os
import zlib
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import soundfile as sf

from synthesis.errors import CorpusError

SAMPLE_RATE = 22_050
SPLIT_FORMAT_VERSION = 1
REPO_ROOT = Path(__file__).resolve().parents[1]


def default_corpus_path() -> Path:
    """The bundled corpus beside the checkout (``../shared/corpora/ljspeech-mini``).

    ``PROSODY_CORPUS`` overrides it, so the same commands run on the full LJSpeech.
    """
    env = os.environ.get("PROSODY_CORPUS")
    if env:
        return Path(env)
    return REPO_ROOT.parent / "shared" / "corpora" / "ljspeech-mini"


def chapter_of(clip_id: str) -> str:
    """LJSpeech ids are CHAPTER-NNNN (LJ001-0001): the chapter is the split's stratum (and an
    id without a dash is a chapter of its own)."""
    return clip_id.split("-", 1)[0]


@dataclass(frozen=True)
class Clip:
    """One metadata line: the clip id, its raw and normalised text, and where its wav lies."""

    id: str
    text: str
    normalized_text: str
    wav_path: Path
    line_no: int

    @property
    def chapter(self) -> str:
        return chapter_of(self.id)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a corpus, located as ``file[:line]``."""

    where: str
    what: str

    def __str__(self) -> str:
        return f"{self.where}: {self.what}"


@dataclass
class Corpus:
    root: Path
    clips: list[Clip]
    problems: list[Problem] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.root.resolve().name

    def by_id(self) -> dict[str, Clip]:
        return {c.id: c for c in self.clips}

    def fingerprint(self) -> str:
        """A hash of the sorted clip ids: a split is only valid for the corpus it was made for."""
        return hashlib.sha256("\n".join(sorted(c.id for c in self.clips)).encode()).hexdigest()[:16]


def parse_metadata(raw: bytes, metadata_path: Path, wav_dir: Path) -> tuple[list[Clip], list[Problem]]:
    """Parse the bytes of an LJSpeech ``metadata.csv``.

    Returns the clips of every well-formed line and a problem per bad line (undecodable
    UTF-8, wrong number of fields, empty id or text, duplicate id). Pure: touches no file.
    """
    clips: list[Clip] = []
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    name = str(metadata_path)
    lines = raw.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    for line_no, raw_line in enumerate(lines, start=1):
        where = f"{name}:{line_no}"
        try:
            line = raw_line.decode("utf-8").rstrip("\r")
        except UnicodeDecodeError as exc:
            problems.append(Problem(where, f"not valid UTF-8 (byte {exc.start})"))
            continue
        if line_no == 1 and line.startswith("\ufeff"):
            line = line[1:]
        if not line.strip():
            problems.append(Problem(where, "empty line"))
            continue
        fields = line.split("|")
        if len(fields) not in (2, 3):
            problems.append(Problem(where, f"expected 'id|text|normalized text', found {len(fields)} fields"))
            continue
        clip_id = fields[0].strip()
        text = fields[1].strip()
        normalized = fields[2].strip() if len(fields) == 3 and fields[2].strip() else text
        if not clip_id or any(ch in clip_id for ch in "/\\") or clip_id in (".", ".."):
            problems.append(Problem(where, f"invalid clip id {clip_id!r}"))
            continue
        if not normalized:
            problems.append(Problem(where, f"clip {clip_id} has no text"))
            continue
        if clip_id in seen:
            problems.append(Problem(where, f"duplicate id {clip_id} (first on line {seen[clip_id]})"))
            continue
        seen[clip_id] = line_no
        clips.append(Clip(clip_id, text, normalized, wav_dir / f"{clip_id}.wav", line_no))
    return clips, problems


def read_corpus(root: str | Path) -> Corpus:
    """Read ``metadata.csv`` of a corpus folder; problems in lines are collected, not raised.

    Raises:
        CorpusError: the folder or its metadata file is missing or holds no clip at all.
    """
    root = Path(root)
    if not root.exists():
        raise CorpusError(f"{root}: corpus folder does not exist")
    if not root.is_dir():
        raise CorpusError(f"{root}: not a folder (expected an LJSpeech-layout corpus)")
    metadata = root / "metadata.csv"
    if not metadata.is_file():
        raise CorpusError(f"{metadata}: missing (an LJSpeech corpus has metadata.csv and wavs/)")
    raw = metadata.read_bytes()
    clips, problems = parse_metadata(raw, metadata, root / "wavs")
    if not clips and not problems:
        raise CorpusError(f"{metadata}: empty, the corpus has no clips")
    return Corpus(root=root, clips=clips, problems=problems)


def load_corpus(root: str | Path) -> Corpus:
    """Read a corpus and refuse it if any metadata line is bad (first problem raised)."""
    corpus = read_corpus(root)
    if corpus.problems:
        raise CorpusError(str(corpus.problems[0]))
    return corpus


def check_wav(clip: Clip, sample_rate: int = SAMPLE_RATE) -> tuple[float, int | None, list[Problem]]:
    """Header-level check of one clip's wav. Returns (seconds, sample rate, problems)."""
    path = clip.wav_path
    where = f"{path} (metadata line {clip.line_no})"
    if not path.is_file():
        return 0.0, None, [Problem(where, "wav file is missing")]
    try:
        info = sf.info(str(path))
    except Exception as exc:  # libsndfile's message says what is corrupt
        return 0.0, None, [Problem(where, f"unreadable audio ({str(exc).splitlines()[0]})")]
    problems = []
    if info.frames == 0:
        problems.append(Problem(where, "empty audio (0 samples)"))
    if info.channels != 1:
        problems.append(Problem(where, f"{info.channels} channels, expected mono"))
    if info.samplerate != sample_rate:
        problems.append(Problem(where, f"sample rate {info.samplerate} Hz, expected {sample_rate} Hz"))
    return info.frames / info.samplerate, info.samplerate, problems


@dataclass
class CorpusReport:
    root: Path
    n_clips: int
    n_ok: int
    seconds: float
    sample_rates: Counter
    chapters: Counter
    problems: list[Problem]

    @property
    def hours(self) -> float:
        return self.seconds / 3600.0

    def summary_lines(self) -> list[str]:
        rates = ", ".join(f"{sr} Hz x {n}" for sr, n in sorted(self.sample_rates.items())) or "none"
        chapters = ", ".join(f"{ch}: {n}" for ch, n in sorted(self.chapters.items()))
        return [
            f"corpus: {self.root}",
            f"clips: {self.n_clips} listed, {self.n_ok} usable",
            f"duration: {self.hours:.2f} h ({self.seconds / 60:.1f} min)",
            f"sample rates: {rates}",
            f"chapters: {chapters}",
            f"problems: {len(self.problems)}",
        ]


def check_corpus(root: str | Path, sample_rate: int = SAMPLE_RATE) -> CorpusReport:
    """Validate a whole corpus: metadata lines and every wav's header. Collects all problems."""
    corpus = read_corpus(root)
    problems = list(corpus.problems)
    seconds = 0.0
    rates: Counter = Counter()
    n_ok = 0
    listed = {c.wav_path.name for c in corpus.clips}
    for clip in corpus.clips:
        dur, sr, clip_problems = check_wav(clip, sample_rate)
        if sr is not None:
            rates[sr] += 1
        if clip_problems:
            problems.extend(clip_problems)
        else:
            n_ok += 1
            seconds += dur
    wav_dir = corpus.root / "wavs"
    if wav_dir.is_dir():
        unlisted = sorted(p.name for p in wav_dir.glob("*.wav") if p.name not in listed)
        if unlisted:
            problems.append(Problem(str(wav_dir), f"{len(unlisted)} wav files not in metadata.csv (e.g. {unlisted[0]})"))
    return CorpusReport(
        root=corpus.root,
        n_clips=len(corpus.clips),
        n_ok=n_ok,
        seconds=seconds,
        sample_rates=rates,
        chapters=Counter(c.chapter for c in corpus.clips),
        problems=problems,
    )


# ---------------------------------------------------------------------------------------------
# The split


@dataclass(frozen=True)
class Split:
    corpus: str
    fingerprint: str
    seed: int
    train: tuple[str, ...]
    validation: tuple[str, ...]
    test: tuple[str, ...]
    #: chapters left out of every subset (`synthesis corpus split --exclude-chapter`)
    excluded_chapters: tuple[str, ...] = ()

    def subset(self, name: str) -> tuple[str, ...]:
        if name not in ("train", "validation", "test"):
            raise CorpusError(f"unknown split subset {name!r} (train, validation, test)")
        return getattr(self, name)

    def to_json(self) -> dict:
        excluded = {"excluded_chapters": list(self.excluded_chapters)} if self.excluded_chapters else {}
        return {
            "format_version": SPLIT_FORMAT_VERSION,
            "corpus": self.corpus,
            "fingerprint": self.fingerprint,
            "seed": self.seed,
            **excluded,
            "counts": {"train": len(self.train), "validation": len(self.validation), "test": len(self.test)},
            "train": list(self.train),
            "validation": list(self.validation),
            "test": list(self.test),
        }


def _allocate(sizes: dict[str, int], total: int) -> dict[str, int]:
    """Spread ``total`` over strata proportionally (largest remainder), at least one each."""
    n = sum(sizes.values())
    if total > n:
        raise CorpusError(f"cannot hold out {total} clips from a corpus of {n}")
    quotas = {k: total * v / n for k, v in sizes.items()}
    alloc = {k: min(sizes[k], max(1 if total >= len(sizes) else 0, int(q))) for k, q in quotas.items()}
    order = sorted(sizes, key=lambda k: (-(quotas[k] - int(quotas[k])), k))
    i = 0
    while sum(alloc.values()) < total:
        k = order[i % len(order)]
        if alloc[k] < sizes[k]:
            alloc[k] += 1
        i += 1
    while sum(alloc.values()) > total:
        k = max(alloc, key=lambda c: (alloc[c] - quotas[c], c))
        alloc[k] -= 1
    return alloc


def make_split(clip_ids: list[str], seed: int = 1234, n_test: int = 40, n_validation: int = 20,
               corpus_name: str = "corpus") -> Split:
    """A deterministic split stratified by chapter.

    The same ids (in any order) and seed always give the same split: ids are sorted, and each
    chapter is shuffled by a generator seeded from (seed, chapter name).
    """
    ids = sorted(set(clip_ids))
    if len(ids) < n_test + n_validation + 1:
        raise CorpusError(f"corpus has {len(ids)} usable clips, too few for {n_test} test + {n_validation} validation")
    chapters: dict[str, list[str]] = {}
    for cid in ids:
        chapters.setdefault(chapter_of(cid), []).append(cid)
    sizes = {ch: len(v) for ch, v in chapters.items()}
    test_alloc = _allocate(sizes, n_test)
    remaining = {ch: sizes[ch] - test_alloc[ch] for ch in sizes}
    val_alloc = _allocate(remaining, n_validation)
    train, val, test = [], [], []
    for ch, members in sorted(chapters.items()):
        rng = np.random.default_rng([seed, zlib.crc32(ch.encode())])
        order = [members[i] for i in rng.permutation(len(members))]
        t, v = test_alloc[ch], val_alloc[ch]
        test += order[:t]
        val += order[t:t + v]
        train += order[t + v:]
    fingerprint = hashlib.sha256("\n".join(ids).encode()).hexdigest()[:16]
    return Split(corpus_name, fingerprint, seed, tuple(sorted(train)), tuple(sorted(val)), tuple(sorted(test)))


def split_corpus(root: str | Path, seed: int = 1234, n_test: int = 40, n_validation: int = 20,
                 exclude_chapters: tuple[str, ...] = ()) -> Split:
    """Split the usable clips of a corpus (clips with problems are left out of every subset).

    ``exclude_chapters`` leaves whole chapters out of every subset (in ljspeech-mini, LJ003,
    whose files are very likely altered: docs/corpus.md); the split is then the one the corpus
    without those chapters would get.
    """
    report = check_corpus(root)
    corpus = read_corpus(root)
    chapters = {c.chapter for c in corpus.clips}
    unknown = sorted(set(exclude_chapters) - chapters)
    if unknown:
        raise CorpusError(f"{corpus.root / 'metadata.csv'}: no chapter {unknown[0]} to exclude "
                          f"(chapters: {', '.join(sorted(chapters)[:10])}{' ...' if len(chapters) > 10 else ''})")
    bad = {p.where.split(" ")[0] for p in report.problems}
    usable = [c.id for c in corpus.clips if str(c.wav_path) not in bad and c.chapter not in exclude_chapters]
    split = make_split(usable, seed, n_test, n_validation, corpus_name=corpus.name)
    return replace(split, excluded_chapters=tuple(sorted(set(exclude_chapters))))


def seen_in_training(training: Split, clip_ids) -> list[str]:
    """The clips of ``clip_ids`` (in their order) that a model trained on ``training`` learnt from
    or was tuned on (its train and validation subsets)."""
    seen = set(training.train) | set(training.validation)
    return [cid for cid in clip_ids if cid in seen]


def default_split_path(corpus_root: str | Path) -> Path:
    return REPO_ROOT / "data" / "splits" / f"{Path(corpus_root).resolve().name}.json"


def save_split(split: Split, path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(split.to_json(), indent=1) + "\n", encoding="utf-8")
    tmp.replace(path)


def load_split(path: str | Path, corpus: Corpus | None = None) -> Split:
    """Read a split file; with ``corpus``, check that every id exists in it."""
    path = Path(path)
    if not path.is_file():
        raise CorpusError(f"{path}: split file missing (make one with `synthesis corpus split`)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        split = Split(data["corpus"], data["fingerprint"], int(data["seed"]), tuple(data["train"]),
                      tuple(data["validation"]), tuple(data["test"]), tuple(data.get("excluded_chapters", ())))
    except (ValueError, KeyError, TypeError) as exc:
        raise CorpusError(f"{path}: not a valid split file ({exc})") from exc
    if data.get("format_version") != SPLIT_FORMAT_VERSION:
        raise CorpusError(f"{path}: split format version {data.get('format_version')!r}, expected {SPLIT_FORMAT_VERSION}")
    if corpus is not None:
        known = {c.id for c in corpus.clips}
        for name in ("train", "validation", "test"):
            missing = [i for i in split.subset(name) if i not in known]
            if missing:
                raise CorpusError(f"{path}: {name} clip {missing[0]} is not in {corpus.root / 'metadata.csv'}"
                                  " (split made for another corpus?)")
    return split
