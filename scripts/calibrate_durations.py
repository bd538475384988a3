"""Calibrate the text-only durations of a trained model (Kathaka) per symbol, in place.

    python scripts/calibrate_durations.py --cache cache/ljspeech-mini checkpoints/kathaka*/model.pt

A squared error on log durations predicts about the median duration, so uncalibrated models
speak fast with short pauses. The baseline and fs2 get the offsets in their duration pass and
CAMP in its stage 2, Kathaka at the end of its stage 2 (`[stage2] calibrate`); this gives them
to files trained before that (docs/kathaka.md). Running it twice gives the same file.
"""

import sys

from _checkpoint_script import run_over_checkpoints

from synthesis.training.duration_stage import calibrate_checkpoint


def calibrate(path: str, cache: str, split: str | None) -> str:
    result = calibrate_checkpoint(path, cache, split)
    before, after = result["validation_before"], result["validation_after"]
    return (f"{result['calibrated_symbols']} symbols calibrated; validation duration ratio "
            f"{before['total_ratio']:.3f} -> {after['total_ratio']:.3f}, pauses at punctuation "
            f"{before['punctuation_ratio']:.3f} -> {after['punctuation_ratio']:.3f}")


if __name__ == "__main__":
    sys.exit(run_over_checkpoints(__doc__.splitlines()[0], calibrate, error_status=2))
