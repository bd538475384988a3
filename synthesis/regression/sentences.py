"""The regression text set: a committed TSV of sentences chosen to stress prosody.

``data/regression/sentences.tsv`` has a header and the columns ``id``, ``category``, ``text``,
``clip``: ``clip`` is empty or the id of a corpus clip whose recording speaks exactly ``text``
(test-split clips, so no model has trained on them). Only those sentences can take
reference-based metrics and enter a MUSHRA listening set with a hidden reference.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from synthesis.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SENTENCES = REPO_ROOT / "data" / "regression" / "sentences.tsv"
COLUMNS = ("id", "category", "text", "clip")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")


@dataclass(frozen=True)
class RegressionSentence:
    id: str
    category: str
    text: str
    clip: str = ""           # corpus clip id of its recording, or "" when there is none

    @property
    def has_recording(self) -> bool:
        return bool(self.clip)


def parse_sentences(raw: str, source: str = "<sentences>") -> list[RegressionSentence]:
    """Parse the TSV text; a malformed line is a ConfigError naming ``source`` and the line."""
    lines = raw.splitlines()
    if not lines or tuple(c.strip() for c in lines[0].split("\t")) != COLUMNS:
        raise ConfigError(f"{source} line 1: header must be {' <tab> '.join(COLUMNS)}")
    out: list[RegressionSentence] = []
    seen: dict[str, int] = {}
    for n, line in enumerate(lines[1:], start=2):
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) == 3:
            fields.append("")
        if len(fields) != 4:
            raise ConfigError(f"{source} line {n}: expected 4 tab-separated fields, got {len(fields)}")
        sid, category, text, clip = (f.strip() for f in fields)
        if not _ID.fullmatch(sid):
            raise ConfigError(f"{source} line {n}: id {sid!r} must be letters, digits, '_', '-', '.'")
        if sid in seen:
            raise ConfigError(f"{source} line {n}: id {sid!r} already used on line {seen[sid]}")
        if not text:
            raise ConfigError(f"{source} line {n}: empty text")
        seen[sid] = n
        out.append(RegressionSentence(sid, category or "other", text, clip))
    if not out:
        raise ConfigError(f"{source}: no sentences")
    return out


def load_sentences(path: str | Path | None = None, corpus=None) -> list[RegressionSentence]:
    """Read and check the sentence set.

    Args:
        corpus: a ``synthesis.corpus.Corpus``; when given, every ``clip`` must be one of its
            clips and its script must equal the sentence's text.
    """
    path = Path(path) if path else DEFAULT_SENTENCES
    if not path.is_file():
        raise ConfigError(f"{path}: sentence file does not exist")
    try:
        raw = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    sentences = parse_sentences(raw, str(path))
    if corpus is not None:
        clips = corpus.by_id()
        for s in sentences:
            if not s.clip:
                continue
            if s.clip not in clips:
                raise ConfigError(f"{path}: sentence {s.id!r} names clip {s.clip!r}, which is not in corpus "
                                  f"{corpus.root}")
            if clips[s.clip].text.strip() != s.text:
                raise ConfigError(f"{path}: sentence {s.id!r} differs from the script of clip {s.clip!r} "
                                  f"({clips[s.clip].text.strip()[:50]!r}...)")
    return sentences
