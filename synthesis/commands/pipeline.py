"""`synthesis pipeline`: prepare -> train (or reuse checkpoints) -> evaluate -> build-set, then
optionally serve the set with `evalapp serve`."""

from __future__ import annotations

import os
import secrets
import sys

from synthesis.commands import EXIT_OK


def _cmd_pipeline(args) -> int:
    from synthesis.listening_set import read_set
    from synthesis.pipeline import load_pipeline_config, run_pipeline, serve_argv, show, show_url

    config = load_pipeline_config(args.config)
    result = run_pipeline(config, train=tuple(args.train or ()), evaluate=True if args.evaluate else None,
                          force=args.force, progress=not args.quiet, say=lambda line: print(line, flush=True))
    left_out = [s.spec.id for s in result.systems if not s.available]
    print(f"listening set {show(result.set_dir)} ready in {result.seconds:.0f} s"
          + (f"; left out (no checkpoint): {', '.join(left_out)}" if left_out else ""), flush=True)
    if not args.serve:
        print(f"serve it: evalapp serve --set {show(result.set_dir)} --db {show_url(args.db or result.ratings_db)} "
              f"--admin-token <TOKEN>")
        return EXIT_OK
    port = args.port or config.serve_port
    db = args.db or result.ratings_db
    token = args.admin_token or os.environ.get("EVALAPP_ADMIN_TOKEN") or secrets.token_urlsafe(18)
    print(f"serving the MUSHRA test: http://localhost:{port}/   admin page: http://localhost:{port}/admin   "
          f"admin token: {token}", flush=True)
    print(f"ratings go to {show_url(db)}; afterwards: analysis report --db {show_url(db)} --test "
          f"{read_set(result.set_dir).name} --out out/report", flush=True)
    argv = serve_argv(result.set_dir, db, port, sys.executable)
    # exec: the server replaces this process (Ctrl-C stops it); the token stays out of `ps`.
    os.execve(sys.executable, argv, {**os.environ, "EVALAPP_ADMIN_TOKEN": token})
    return EXIT_OK  # not reached


def register(sub) -> None:
    p = sub.add_parser(
        "pipeline", help="prepare -> train (or reuse checkpoints) -> evaluate -> build-set [-> serve]",
        description="Run the whole chain from a pipeline config, skipping stages that are up to date "
                    "(stamps in the work folder). Committed checkpoints are reused; a system is trained "
                    "only with --train or when its config's train policy allows it. See docs/pipeline.md.")
    p.add_argument("--config", required=True, metavar="TOML", help="pipeline config, e.g. configs/demo.toml")
    p.add_argument("--train", action="append", metavar="SYSTEM",
                   help="train this system (repeatable; 'all' for every system) instead of reusing its checkpoint")
    p.add_argument("--evaluate", action="store_true", help="run the objective evaluation even if the config has it off")
    p.add_argument("--force", action="store_true", help="redo evaluate and build-set even when up to date")
    p.add_argument("--serve", action="store_true", help="then serve the set with `evalapp serve`")
    p.add_argument("--port", type=int, help="port for --serve (default: the config's [serve] port, 8501)")
    p.add_argument("--db", metavar="URL", help="ratings database for --serve (default: the config's, sqlite next "
                                                "to the set)")
    p.add_argument("--admin-token", metavar="TOKEN",
                   help="admin token for --serve (default: $EVALAPP_ADMIN_TOKEN, else a new random one, printed)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_pipeline)
