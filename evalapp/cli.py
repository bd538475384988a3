"""The ``evalapp`` command: serve, export, migrate. Parses, calls the library, reports.

Exit status: 0 ok, 2 bad input (one line on stderr: ``evalapp: error: <message>``).
"""

from __future__ import annotations

import argparse
import os
import sys

from evalapp.errors import EvalappError

EXIT_OK, EXIT_USAGE = 0, 2


def _cmd_serve(args) -> int:
    from evalapp.context import ENV_ADMIN_TOKEN, ServeSettings
    from evalapp.server import serve

    settings = ServeSettings(set_dir=args.set, db_url=args.db, config_path=args.config)
    serve(settings, args.admin_token or os.environ.get(ENV_ADMIN_TOKEN), port=args.port, address=args.address)
    return EXIT_OK


def _cmd_export(args) -> int:
    from evalapp.export import table, to_csv, write_atomic
    from evalapp.storage import check_reachable, make_engine

    engine = make_engine(args.db)
    check_reachable(engine)
    header, rows = table(engine, args.test, args.format)
    text = to_csv(header, rows)
    if args.out and args.out != "-":
        write_atomic(text, args.out)
        print(f"evalapp: wrote {len(rows)} ratings of test '{args.test}' ({args.format}) to {args.out}",
              file=sys.stderr)
    else:
        sys.stdout.write(text)
    return EXIT_OK


def _cmd_migrate(args) -> int:
    from evalapp.storage import make_engine, migrate, safe_url

    revision = migrate(make_engine(args.db))
    print(f"evalapp: {safe_url(args.db)} is at schema revision {revision}")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="evalapp", description="MUSHRA listening tests in the browser "
                                     "(ITU-R BS.1534-3). Exit status: 0 ok, 2 bad input.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    serve = sub.add_parser("serve", help="serve a listening set as a MUSHRA test",
                           description="Verify the listening set, migrate the database, then serve the test "
                                       "(listeners at /, admin page at /admin).")
    serve.add_argument("--set", required=True, metavar="DIR", help="listening-set folder (manifest.json + audio)")
    serve.add_argument("--db", default="sqlite:///evalapp.db", metavar="URL",
                       help="SQLAlchemy database URL (default: sqlite:///evalapp.db; PostgreSQL: "
                            "postgresql+psycopg://user:pass@host/db)")
    serve.add_argument("--config", metavar="TOML", help="test config (default: built-in, see configs/test.toml)")
    serve.add_argument("--port", type=int, default=8501, help="TCP port (default 8501)")
    serve.add_argument("--address", default="0.0.0.0", help="interface to listen on (default 0.0.0.0)")
    serve.add_argument("--admin-token", metavar="TOKEN",
                       help="token for the admin page (default: $EVALAPP_ADMIN_TOKEN; required)")
    serve.set_defaults(func=_cmd_serve)

    export = sub.add_parser("export", help="write a test's ratings as CSV",
                            description="Write the ratings of one test as the tidy long table (the "
                                        "analysis contract) or in webMUSHRA's MUSHRA CSV layout.")
    export.add_argument("--db", required=True, metavar="URL", help="SQLAlchemy database URL")
    export.add_argument("--test", required=True, metavar="NAME", help="test name")
    export.add_argument("--format", choices=("tidy", "webmushra"), default="tidy")
    export.add_argument("--out", metavar="FILE", help="output CSV (default: standard output)")
    export.set_defaults(func=_cmd_export)

    mig = sub.add_parser("migrate", help="create or upgrade the ratings schema",
                         description="Apply the Alembic migrations (serve does this too).")
    mig.add_argument("--db", required=True, metavar="URL", help="SQLAlchemy database URL")
    mig.set_defaults(func=_cmd_migrate)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except EvalappError as exc:
        print(f"evalapp: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("evalapp: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
