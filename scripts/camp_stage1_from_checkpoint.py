"""Write the frozen stage 1 inside a CAMP stage-2 checkpoint as a stage-1 checkpoint.

    python scripts/camp_stage1_from_checkpoint.py checkpoints/camp/model.pt runs/camp_stage1_committed.pt
    synthesis train --system camp --stage 2 --config configs/camp_stage2.toml \\
        --stage1 runs/camp_stage1_committed.pt --out runs/camp_stage2_new

Stage 2 never changes stage 1, so a new stage-2 variant (an ablation, another ensemble size)
can be trained on the committed model in minutes instead of retraining stage 1 (45 min).
"""

import argparse
import sys

from synthesis.errors import SynthesisError
from synthesis.training.camp_stage2 import stage1_from_stage2


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", help="a CAMP stage-2 checkpoint (run best.pt or exported model.pt)")
    parser.add_argument("out", help="the stage-1 checkpoint to write")
    args = parser.parse_args()
    try:
        stage1_from_stage2(args.checkpoint, args.out)
    except SynthesisError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{args.out}: the stage 1 of {args.checkpoint}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
