"""`synthesis train-postfilter`: the adversarial mel-cepstral post-filter of a trained model."""

from __future__ import annotations

from synthesis.commands import EXIT_OK


def _cmd_train_postfilter(args) -> int:
    from synthesis.training.postfilter import train_from_args

    result = train_from_args(args)
    val = result.validation
    print(f"post-filter: {result.step} steps in {result.seconds / 60:.1f} min; validation L1 {val['l1']:.3f}, "
          f"dynamics ratio {val['dynamics_ratio']:.2f}; {result.out / 'postfilter.pt'}"
          + (f", attached to {args.checkpoint}" if args.attach else ""))
    return EXIT_OK


def register(sub) -> None:
    p = sub.add_parser("train-postfilter", help="train the adversarial mel-cepstral post-filter of a WORLD model",
                       description="Train a GAN post-filter on the frozen model's teacher-forced predictions of the "
                                   "training clips; resumes from RUN/last.pt. With --attach the post-filter is "
                                   "written into CHECKPOINT, where synthesis applies it. See docs/synthesis.md.")
    p.add_argument("--checkpoint", required=True, help="the acoustic model (WORLD features), e.g. "
                                                       "checkpoints/baseline/model.pt")
    p.add_argument("--config", default="configs/postfilter_cpu.toml", help="TOML config (default: %(default)s)")
    p.add_argument("--out", required=True, help="run folder (last.pt, postfilter.pt, config.toml, metrics.jsonl)")
    p.add_argument("--attach", action="store_true", help="write the trained post-filter into CHECKPOINT")
    p.add_argument("--steps", type=int, help="training steps (overrides the config)")
    p.add_argument("--cache", help="feature cache (overrides [train] cache)")
    p.add_argument("--restart", action="store_true", help="ignore RUN/last.pt and start afresh")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_train_postfilter)
