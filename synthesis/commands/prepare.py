"""`synthesis prepare`: build the per-clip feature cache of a corpus."""

from __future__ import annotations

from synthesis.commands import EXIT_OK


def _cmd_prepare(args) -> int:
    from synthesis.corpus import default_corpus_path
    from synthesis.features.pitch_levels import pitch_warnings
    from synthesis.prepare import prepare

    report = prepare(args.corpus or default_corpus_path(), args.out, workers=args.workers,
                     progress=not args.quiet, max_unaligned=args.max_unaligned)
    print(f"cache {report.out}: {report.n_clips} clips ({report.n_done_before} already done, "
          f"{report.n_computed} computed) in {report.seconds:.1f} s")
    if report.unaligned:
        first = min(report.unaligned)
        print(f"warning: {len(report.unaligned)} clips could not be aligned and are left out of training "
              f"(listed in the manifest under 'unaligned'), first: {report.unaligned[first]}")
    if report.pitch_levels:
        print("median F0 per chapter: " + ", ".join(f"{c.chapter} {c.median_hz:.0f} Hz ({c.n_clips})"
                                                    for c in report.pitch_levels))
    for line in pitch_warnings(report.pitch_levels):
        print(f"warning: {line}")
    return EXIT_OK


def register(sub) -> None:
    p = sub.add_parser("prepare", help="build the feature cache (phonemes, syntax, word vectors, "
                                       "log-mel, WORLD, F0, energy)",
                       description="Analyse every clip of a corpus into a per-clip cache; a re-run "
                                   "skips clips that are already done with the same config.")
    p.add_argument("--corpus", help="LJSpeech-layout corpus (default: the bundled corpus)")
    p.add_argument("--out", required=True, help="cache folder, e.g. cache/ljspeech-mini")
    p.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--max-unaligned", type=float, default=0.05,
                   help="share of clips pocketsphinx may fail to align before the run stops; those "
                        "clips are left out of training (default 0.05)")
    p.set_defaults(func=_cmd_prepare)
