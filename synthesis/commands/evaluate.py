"""`synthesis evaluate`: objective metrics of checkpoints against held-out recordings."""

from __future__ import annotations

from pathlib import Path

from synthesis.commands import EXIT_OK


def split_checkpoint_arg(arg: str) -> tuple[str | None, Path]:
    """``NAME=PATH`` -> (NAME, PATH); a plain path (even one holding '=') -> (None, PATH)."""
    name, sep, path = arg.partition("=")
    if sep and name and "/" not in name and not Path(arg).exists():
        return name, Path(path)
    return None, Path(arg)


def _cmd_evaluate(args) -> int:
    from synthesis.errors import SynthesisError
    from synthesis.evaluation.pipeline import (
        COPY_SYNTHESIS_VOCODERS,
        EvaluationRequest,
        run_evaluation,
    )

    specs = [split_checkpoint_arg(c) for c in args.checkpoint or []]
    vocoders = {}
    for arg in args.vocoder or []:
        label, sep, name = arg.partition("=")
        if not sep or not label or not name:
            raise SynthesisError(f"--vocoder {arg!r}: expected NAME=VOCODER, e.g. baseline-vocos=vocos")
        vocoders[label] = name
    req = EvaluationRequest(
        checkpoints=[path for _, path in specs],
        labels=[label for label, _ in specs],
        compare_to=args.compare_to,
        vocoders=vocoders,
        copy_vocoders=tuple(args.copy_vocoder or COPY_SYNTHESIS_VOCODERS),
        split=args.split,
        out=Path(args.out),
        corpus=Path(args.corpus) if args.corpus else None,
        split_file=Path(args.split_file) if args.split_file else None,
        limit=args.limit,
        metrics=args.metrics,
        cache=Path(args.cache) if args.cache else None,
        force=args.force,
        progress=not args.quiet,
        write_wavs=not args.no_wavs,
        workers=args.workers,
    )
    _, out = run_evaluation(req)
    print((out / "results.md").read_text(encoding="utf-8"))
    print(f"results written to {out} (results.json, results.md, f0_contours.png"
          f"{', wavs/' if req.write_wavs else ''})")
    return EXIT_OK


def register(sub) -> None:
    from synthesis.evaluation.runner import METRIC_GROUPS

    p = sub.add_parser(
        "evaluate", help="objective metrics of TTS checkpoints against the held-out recordings",
        description="Score the recordings, copy synthesis through each vocoder (the ceilings) and each "
                    "checkpoint: DistillMOS, Whisper WER, MCD, F0 RMSE/correlation/range, duration, "
                    "word durations and pauses at punctuation, each with a bootstrap 95 % CI; paired "
                    "Wilcoxon tests between checkpoints. See docs/evaluation.md.")
    p.add_argument("--checkpoint", action="append", metavar="[NAME=]CKPT",
                   help="a TTS checkpoint, optionally with its column name (repeat for several; none scores "
                        "only recordings and copy synthesis)")
    p.add_argument("--vocoder", action="append", metavar="NAME=VOCODER",
                   help="synthesise the checkpoint named NAME (--checkpoint NAME=PATH) through this vocoder "
                        "instead of its own, e.g. a log-mel model through vocos (repeat per checkpoint)")
    p.add_argument("--copy-vocoder", action="append", metavar="VOCODER",
                   help="copy synthesis to score as a ceiling (repeat; default griffinlim and world; "
                        "vocos for the committed neural vocoder)")
    p.add_argument("--compare-to", metavar="NAME",
                   help="paired tests of every checkpoint against this one only (default: all pairs)")
    p.add_argument("--split", default="test", help="split subset: train, validation or test (default test)")
    p.add_argument("--out", required=True, help="output folder (must be empty or absent unless --force)")
    p.add_argument("--corpus", help="corpus folder (default: the bundled corpus)")
    p.add_argument("--split-file", help="split file (default: data/splits/<corpus>.json)")
    p.add_argument("--limit", type=int, help="score only the first N clips of the split")
    p.add_argument("--metrics", nargs="+", metavar="METRIC",
                   help=f"metric groups to compute (default all): {', '.join(METRIC_GROUPS)}")
    p.add_argument("--cache", help="per-(system, clip) cache folder (default ~/.cache/prosody-mushra/evaluation)")
    p.add_argument("--workers", type=int, default=1,
                   help="processes for the WORLD analysis (default 1; Harvest F0 is single-threaded)")
    p.add_argument("--force", action="store_true", help="replace a non-empty --out folder")
    p.add_argument("--no-wavs", action="store_true", help="do not copy the synthesised audio into --out")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_evaluate)
