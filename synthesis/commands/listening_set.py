"""`synthesis build-set` and `synthesis validate-set`."""

from __future__ import annotations

import sys
from pathlib import Path

from synthesis.commands import EXIT_OK, EXIT_PROBLEMS

def _cmd_build_set(args) -> int:
    from synthesis.listening_set.builder import build_set
    from synthesis.listening_set.config import load_set_config

    config = load_set_config(args.config)
    if args.workers:
        from dataclasses import replace

        config = replace(config, workers=args.workers)
    manifest = build_set(config, args.out, force=args.force, progress=not args.quiet)
    n_files = len(manifest.items) * len(manifest.conditions)
    print(f"listening set '{manifest.name}' written to {args.out}: {len(manifest.items)} items x "
          f"{len(manifest.conditions)} conditions ({n_files} files)")
    return EXIT_OK


def _cmd_validate_set(args) -> int:
    from synthesis.listening_set import verify_set

    problems = verify_set(args.dir)
    for p in problems:
        print(p, file=sys.stderr)
    if problems:
        print(f"{args.dir}: INVALID ({len(problems)} problems)", file=sys.stderr)
        return EXIT_PROBLEMS
    from synthesis.listening_set import read_set

    m = read_set(args.dir)
    print(f"{args.dir}: valid listening set '{m.name}' ({len(m.items)} items x {len(m.conditions)} conditions)")
    return EXIT_OK


def register(sub) -> None:
    bs = sub.add_parser("build-set", help="build a MUSHRA listening set (manifest + loudness-aligned audio)",
                        description="Build a listening set from a TOML config: hidden reference, BS.1534-3 "
                                    "anchors and systems, per item of the test split.")
    bs.add_argument("--config", help="set config (default: configs/listening_set.toml)")
    bs.add_argument("--out", required=True, help="output folder (must not hold a set unless --force)")
    bs.add_argument("--force", action="store_true", help="replace an existing listening set in --out")
    bs.add_argument("--workers", type=int, help="processes (default: from the config)")
    bs.add_argument("--quiet", action="store_true", help="no progress bar")
    bs.set_defaults(func=_cmd_build_set)

    vs = sub.add_parser("validate-set", help="check a listening set completely (schema, files, checksums)",
                        description="Check schema, files, checksums, sample rates and durations; name each problem.")
    vs.add_argument("dir", help="listening-set folder")
    vs.set_defaults(func=_cmd_validate_set)
