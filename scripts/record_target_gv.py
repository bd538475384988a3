"""Record the training recordings' global variance in checkpoints written before it existed.

    python scripts/record_target_gv.py --cache cache/ljspeech-mini checkpoints/*/model.pt

Trainings record it themselves since the enhancement was added; an older file without it synthesises without the
global-variance half of the spectral enhancement (docs/synthesis.md).
"""

import sys

from _checkpoint_script import run_over_checkpoints

from synthesis.training.export import record_target_gv


def record(path: str, cache: str, split: str | None) -> str:
    return f"target_gv recorded ({record_target_gv(path, cache, split).shape[0]} dims)"


if __name__ == "__main__":
    sys.exit(run_over_checkpoints(__doc__.splitlines()[0], record, error_status=1))
