"""Calibrate the text-only durations of a trained model (Kathaka) per symbol, in place.

    python scripts/calibrate_durations.py --cache cache/ljspeech-mini checkpoints/kathaka*/model.pt

A squared error on log durations predicts about the median duration, so uncalibrated models
speak fast with short pauses. The baseline and fs2 get the offsets in their duration pass and
CAMP in its stage 2, Kathaka at the end of its stage 2 (`[stage2] calibrate`); this gives them
to files trained before that (docs/kathaka.md). Running it twice gives the same file.
"""

import argparse
import sys

from synthesis.errors import SynthesisError
from synthesis.training.duration_stage import calibrate_checkpoint


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="+")
    parser.add_argument("--cache", required=True, help="the feature cache the checkpoints were trained on")
    parser.add_argument("--split", default=None, help="split file (default: the corpus's own)")
    args = parser.parse_args()
    for path in args.checkpoints:
        try:
            result = calibrate_checkpoint(path, args.cache, args.split)
        except SynthesisError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        before, after = result["validation_before"], result["validation_after"]
        print(f"{path}: {result['calibrated_symbols']} symbols calibrated; validation duration ratio "
              f"{before['total_ratio']:.3f} -> {after['total_ratio']:.3f}, pauses at punctuation "
              f"{before['punctuation_ratio']:.3f} -> {after['punctuation_ratio']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
