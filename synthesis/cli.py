"""The ``synthesis`` command. Sub-commands live in ``synthesis.commands`` (one module each)."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from synthesis import commands
from synthesis.commands import EXIT_USAGE
from synthesis.errors import SynthesisError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="synthesis",
        description="TTS backends, audio front end and MUSHRA listening-set builder. "
                    "Exit status: 0 ok, 1 problems found (check/validate/regress), 2 bad input.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        importlib.import_module(f"synthesis.commands.{info.name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except SynthesisError as exc:
        print(f"synthesis: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("synthesis: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
