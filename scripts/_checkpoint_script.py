"""The command line shared by the scripts that update trained checkpoints in place from the
feature cache they were trained on: `SCRIPT --cache CACHE [--split FILE] CHECKPOINT...`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from synthesis.errors import SynthesisError


def run_over_checkpoints(description: str, update: Callable[[str, str, str | None], str],
                         error_status: int) -> int:
    """Parse the arguments, then ``update(path, cache, split)`` each checkpoint and print
    ``path: <what it returned>``; stop at the first error with one line and ``error_status``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("checkpoints", nargs="+")
    parser.add_argument("--cache", required=True, help="the feature cache the checkpoints were trained on")
    parser.add_argument("--split", default=None, help="split file (default: the corpus's own)")
    args = parser.parse_args()
    for path in args.checkpoints:
        try:
            message = update(path, args.cache, args.split)
        except SynthesisError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return error_status
        print(f"{path}: {message}")
    return 0
