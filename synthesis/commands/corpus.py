"""`synthesis corpus check|split`."""

from __future__ import annotations

import sys
from pathlib import Path

from synthesis.commands import EXIT_OK, EXIT_PROBLEMS

def _cmd_corpus_check(args) -> int:
    from synthesis.corpus import check_corpus, default_corpus_path

    report = check_corpus(args.path or default_corpus_path(), args.sample_rate)
    for line in report.summary_lines():
        print(line)
    for p in report.problems[: args.max_problems]:
        print(f"problem: {p}")
    if len(report.problems) > args.max_problems:
        print(f"... and {len(report.problems) - args.max_problems} more problems")
    return EXIT_PROBLEMS if report.problems else EXIT_OK


def _cmd_corpus_split(args) -> int:
    from synthesis.corpus import default_corpus_path, default_split_path, save_split, split_corpus

    root = Path(args.path or default_corpus_path())
    split = split_corpus(root, args.seed, args.n_test, args.n_validation, tuple(args.exclude_chapter or ()))
    out = Path(args.out) if args.out else default_split_path(root)
    save_split(split, out)
    counts = split.to_json()["counts"]
    print(f"split written to {out}: train {counts['train']}, validation {counts['validation']}, "
          f"test {counts['test']} (seed {split.seed}, corpus fingerprint {split.fingerprint})")
    return EXIT_OK


def register(sub) -> None:
    corpus = sub.add_parser("corpus", help="inspect an LJSpeech-layout corpus and make its split",
                            description="Inspect an LJSpeech-layout corpus (metadata.csv + wavs/).")
    csub = corpus.add_subparsers(dest="corpus_command", metavar="ACTION", required=True)
    check = csub.add_parser("check", help="validate and summarise a corpus (clips, hours, sample rates, problems)")
    check.add_argument("path", nargs="?", help="corpus folder (default: ../shared/corpora/ljspeech-mini)")
    check.add_argument("--sample-rate", type=int, default=22_050, help="expected sample rate (default 22050)")
    check.add_argument("--max-problems", type=int, default=50, help="problems to list (default 50)")
    check.set_defaults(func=_cmd_corpus_check)
    split = csub.add_parser("split", help="write the seeded, deterministic train/validation/test split",
                            description="Split the usable clips by chapter; the same corpus and seed give "
                                        "the same split.")
    split.add_argument("path", nargs="?", help="corpus folder (default: the bundled corpus)")
    split.add_argument("--seed", type=int, default=1234)
    split.add_argument("--n-test", type=int, default=40)
    split.add_argument("--n-validation", type=int, default=20)
    split.add_argument("--exclude-chapter", action="append", metavar="CHAPTER",
                       help="leave this chapter (the id before the dash, e.g. LJ003) out of every subset; repeatable")
    split.add_argument("--out", help="split file (default: data/splits/<corpus folder>.json)")
    split.set_defaults(func=_cmd_corpus_split)

