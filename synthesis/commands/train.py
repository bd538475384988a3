"""`synthesis train`: train a system (baseline, fs2, ...) from a TOML config into a run folder."""

from __future__ import annotations

from synthesis.commands import EXIT_OK

#: systems with a stage 2 on a frozen stage 1 (camp, kathaka: the text-only prosody predictor;
#: baseline, fs2: the duration pass): module whose ``train_from_args(args) -> TrainResult``
#: reads the stage-2 config and the overrides below
STAGE2_TRAINERS = {"camp": "synthesis.training.camp_stage2", "kathaka": "synthesis.training.kathaka_stage2",
                   "baseline": "synthesis.training.duration_stage", "fs2": "synthesis.training.duration_stage"}


def _cmd_train(args) -> int:
    from synthesis.errors import ConfigError
    from synthesis.training.config import apply_train_overrides, load_config
    from synthesis.training.loop import train

    if args.stage == 2:
        import importlib

        if args.system not in STAGE2_TRAINERS:
            raise ConfigError(f"system {args.system!r} has no stage 2")
        result = importlib.import_module(STAGE2_TRAINERS[args.system]).train_from_args(args)
        print(f"{args.system} stage 2: {result.step} steps in {result.seconds / 60:.1f} min ({result.stopped}), "
              f"best validation {result.best_val:.4f}; checkpoints in {result.out}")
        return EXIT_OK
    cfg = load_config(args.config)
    if cfg.model.system != args.system:
        raise ConfigError(f"{args.config}: config is for system {cfg.model.system!r}, not {args.system!r}")
    apply_train_overrides(cfg.train, args)
    result = train(cfg, args.out, progress=not args.quiet, resume=not args.restart)
    print(f"{args.system}: {result.step} steps in {result.seconds / 60:.1f} min ({result.stopped}), "
          f"best validation {result.best_val:.4f}, {result.frames_per_second:.0f} frames/s; "
          f"checkpoints in {result.out}")
    return EXIT_OK


#: systems whose exported checkpoint can carry a default inference mode: module with
#: ``set_checkpoint_inference(path, mode, temperature)``
INFERENCE_MODE_SETTERS = {"kathaka": "synthesis.training.kathaka_stage2", "camp": "synthesis.training.camp_stage2"}


def _cmd_export(args) -> int:
    from pathlib import Path

    from synthesis.errors import ConfigError, SynthesisError
    from synthesis.training.export import export_checkpoint

    info = export_checkpoint(args.run, args.out, which=args.which)
    if args.mode is not None or args.temperature is not None:
        import importlib

        from synthesis.training.checkpoint import load_checkpoint

        system = load_checkpoint(info["checkpoint"]).get("system")
        if system not in INFERENCE_MODE_SETTERS:
            raise ConfigError(f"{info['checkpoint']}: system {system!r} has no inference modes")
        try:
            importlib.import_module(INFERENCE_MODE_SETTERS[system]).set_checkpoint_inference(
                info["checkpoint"], args.mode, args.temperature)
        except SynthesisError:
            # A mode the model cannot run: take the export back, no partial output.
            for name in ("model.pt", "config.toml", "metrics.json"):
                (Path(args.out) / name).unlink(missing_ok=True)
            raise
    print(f"exported {info['checkpoint']} ({info['megabytes']:.1f} MB, step {info['step']})")
    return EXIT_OK


def register(sub) -> None:
    p = sub.add_parser("train", help="train a TTS system from the feature cache",
                       description="Train a system; resumes from RUN/last.pt when present. "
                                   "Under torchrun it trains on all GPUs (DistributedDataParallel).")
    p.add_argument("--system", required=True, choices=["baseline", "fs2", "camp", "kathaka"], help="which system")
    p.add_argument("--stage", type=int, choices=[1, 2], default=1,
                   help="1: the acoustic model (with its reference encoder); 2: on a frozen stage 1, the "
                        "text-only prosody predictor (camp, kathaka) or the duration pass (baseline, fs2)")
    p.add_argument("--config", required=True, help="TOML config, e.g. configs/baseline_cpu.toml")
    p.add_argument("--out", required=True, help="run folder (checkpoints, config, metrics.jsonl)")
    p.add_argument("--cache", help="feature cache (overrides [train] cache)")
    p.add_argument("--max-minutes", type=float, help="training time limit (overrides the config)")
    p.add_argument("--max-steps", type=int, help="step limit (overrides the config)")
    p.add_argument("--seed", type=int, help="random seed (overrides the config; seed-spread studies, "
                                            "docs/camp.md); a CAMP ensemble's members take seed, seed + 1, ...")
    p.add_argument("--stage1", help="stage 2: the stage-1 checkpoint (overrides [stage2] stage1)")
    p.add_argument("--sampler", choices=["bert", "graph", "both"],
                   help="kathaka stage 2: which text sampler (overrides [stage2] sampler)")
    p.add_argument("--restart", action="store_true", help="ignore RUN/last.pt and start afresh")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_train)
    e = sub.add_parser("export-checkpoint", help="write a small float16 inference checkpoint from a run",
                       description="Copy RUN/best.pt (weights in float16, no optimiser state) to OUT, "
                                   "with config.toml and metrics.json beside it.")
    e.add_argument("run", help="run folder written by `synthesis train`")
    e.add_argument("--out", required=True, help="output folder, e.g. checkpoints/baseline")
    e.add_argument("--which", choices=["best", "last"], default="best")
    e.add_argument("--mode", choices=["prior", "mean", "sample", "oracle", "predicted"],
                   help="the inference mode the exported file synthesises in: kathaka prior|mean|sample|oracle "
                        "(docs/kathaka.md), camp predicted|oracle (docs/camp.md)")
    e.add_argument("--temperature", type=float, help="kathaka: sampling temperature (prior, sample)")
    e.set_defaults(func=_cmd_export)
