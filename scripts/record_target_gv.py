"""Record the training recordings' global variance in checkpoints written before it existed.

    python scripts/record_target_gv.py --cache cache/ljspeech-mini checkpoints/*/model.pt

Trainings record it themselves since the enhancement was added; an older file without it synthesises without the
global-variance half of the spectral enhancement (docs/synthesis.md).
"""

import argparse
import sys

from synthesis.errors import SynthesisError
from synthesis.training.export import record_target_gv


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="+")
    parser.add_argument("--cache", required=True, help="the feature cache the checkpoints were trained on")
    parser.add_argument("--split", default=None, help="split file (default: the corpus's own)")
    args = parser.parse_args()
    for path in args.checkpoints:
        try:
            gv = record_target_gv(path, args.cache, args.split)
        except SynthesisError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(f"{path}: target_gv recorded ({gv.shape[0]} dims)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
