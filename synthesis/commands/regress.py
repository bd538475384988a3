"""`synthesis regress`: objective check of a candidate checkpoint against the release, plus a
MUSHRA listening set of both for a human check."""

from __future__ import annotations

import os
from pathlib import Path

from synthesis.commands import EXIT_OK, EXIT_PROBLEMS


def _cmd_regress(args) -> int:
    from synthesis.regression import RegressionRequest, run_regression
    from synthesis.regression.report import diff_table, verdict_line

    result = run_regression(RegressionRequest(
        candidate=Path(args.candidate), release=Path(args.release), out=Path(args.out),
        config=Path(args.config) if args.config else None, corpus=Path(args.corpus) if args.corpus else None,
        progress=not args.quiet))
    print(diff_table(result.rows))
    print()
    print(verdict_line(result.rows))
    set_note = (f"listening set {result.out / 'set'} ({result.set_items} items)" if result.set_items
                else "no listening set (no sentence has a recording)")
    print(f"summary {result.out / 'summary.md'}, results {result.out / 'results.json'}, {set_note}; "
          f"{result.timings.get('total_s', 0):.0f} s")
    summary_target = args.summary or os.environ.get("GITHUB_STEP_SUMMARY")
    if summary_target:
        with open(summary_target, "a", encoding="utf-8") as fh:
            fh.write(result.summary)
    return EXIT_OK if result.passed else EXIT_PROBLEMS


def register(sub) -> None:
    from synthesis.regression.metrics import METRICS

    p = sub.add_parser(
        "regress", help="check a candidate checkpoint against the release (exit 1 when worse)",
        description="Both versions speak the regression sentences (data/regression/); objective metrics "
                    f"({', '.join(METRICS)}) are compared with the tolerances of the config. Exit 0: within "
                    "tolerance; 1: the candidate is worse beyond tolerance (diff table printed); 2: bad input. "
                    "Always writes OUT/summary.md, OUT/results.json, OUT/wavs/ and a MUSHRA listening set "
                    "OUT/set/ of the sentences with recordings. See docs/pipeline.md.")
    p.add_argument("--candidate", required=True, metavar="CKPT", help="the new checkpoint (model.pt)")
    p.add_argument("--release", required=True, metavar="CKPT", help="the released checkpoint to compare with")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="output folder (absent, empty, or an earlier regress output, which is replaced)")
    p.add_argument("--config", metavar="TOML", help="metrics and tolerances (default: configs/regress.toml)")
    p.add_argument("--corpus", metavar="DIR", help="corpus with the recordings (default: the bundled corpus)")
    p.add_argument("--summary", metavar="FILE",
                   help="also append summary.md to FILE (default: $GITHUB_STEP_SUMMARY when set)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_regress)
