"""A run folder's ``metrics.jsonl``, shared by every training loop."""

from __future__ import annotations

import json
from pathlib import Path


class MetricsLog:
    """Appends one JSON record per line and flushes it at once: a run stopped at any point keeps
    every line written so far, and a resumed run goes on appending to the same file."""

    def __init__(self, path: str | Path):
        self._fh = open(path, "a", encoding="utf-8")  # noqa: SIM115 (open for the whole run)

    def __call__(self, record: dict) -> None:
        self._fh.write(json.dumps(record) + "\n")
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()
