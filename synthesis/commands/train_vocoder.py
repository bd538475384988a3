"""`synthesis train-vocoder` and `synthesis export-vocoder`: the neural (Vocos-style) vocoder."""

from __future__ import annotations

from synthesis.commands import EXIT_OK


def _cmd_train_vocoder(args) -> int:
    from synthesis.training.vocoder import load_vocoder_config, train_vocoder

    cfg = load_vocoder_config(args.config)
    if args.max_minutes is not None:
        cfg.train.max_minutes = args.max_minutes
    if args.max_steps is not None:
        cfg.train.max_steps = args.max_steps
    if args.threads is not None:
        cfg.train.threads = args.threads
    if args.corpus:
        cfg.train.corpus = args.corpus
    if args.split:
        cfg.train.split = args.split
    cfg.validate(str(args.config))
    result = train_vocoder(cfg, args.out, device=args.device, progress=not args.quiet, resume=not args.restart)
    print(f"vocoder: {result.step} steps in {result.seconds / 60:.1f} min ({result.stopped}), "
          f"{result.seconds_per_step:.2f} s/step, {result.parameters / 1e6:.2f} M generator parameters, "
          f"best validation mel L1 {result.best_val:.4f}; checkpoints in {result.out}")
    return EXIT_OK


def _cmd_export_vocoder(args) -> int:
    from synthesis.training.vocoder import export_vocoder

    info = export_vocoder(args.run, args.out, which=args.which)
    print(f"exported {info['checkpoint']} ({info['megabytes']:.1f} MB, step {info['step']})")
    return EXIT_OK


def register(sub) -> None:
    p = sub.add_parser("train-vocoder", help="train the neural (Vocos-style) vocoder on the corpus",
                       description="Train the vocos vocoder on the training split (log-mel of the recordings); "
                                   "resumes from RUN/last.pt when present. See docs/vocoder.md.")
    p.add_argument("--config", required=True, help="TOML config, e.g. configs/vocoder_cpu.toml")
    p.add_argument("--out", required=True, help="run folder (checkpoints, config, metrics.jsonl)")
    p.add_argument("--max-minutes", type=float, help="training time limit (overrides the config)")
    p.add_argument("--max-steps", type=int, help="step limit (overrides the config; also sets the LR schedule)")
    p.add_argument("--threads", type=int, help="torch threads on CPU (overrides the config)")
    p.add_argument("--device", choices=["cpu", "cuda"], help="default: cuda when available")
    p.add_argument("--corpus", help="LJSpeech-layout corpus (overrides [train] corpus)")
    p.add_argument("--split", help="split file (overrides [train] split)")
    p.add_argument("--restart", action="store_true", help="ignore RUN/last.pt and start afresh")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_train_vocoder)
    e = sub.add_parser("export-vocoder", help="write the vocoder's generator as a small float16 file",
                       description="Copy the generator of RUN/best.pt to OUT/model.pt (float16, no "
                                   "discriminators or optimiser state) with config.toml and metrics.json. "
                                   "OUT=checkpoints/vocoder makes it the default `vocos` vocoder.")
    e.add_argument("run", help="run folder written by `synthesis train-vocoder`")
    e.add_argument("--out", required=True, help="output folder, e.g. checkpoints/vocoder")
    e.add_argument("--which", choices=["best", "last"], default="best")
    e.set_defaults(func=_cmd_export_vocoder)
