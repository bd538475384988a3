"""The ``analysis`` command: sub-commands parse options, call the library, print. No logic here.

Exit codes: 0 success; 1 a CI gate failed (``--fail-if-worse``, ``--expect``); 2 bad input or
options (one line on stderr, no output files written); 3 an internal error (a bug: traceback on
stderr), kept apart from 1 so that CI never mistakes a crash for a failed gate.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import traceback

from analysis.errors import AnalysisInputError

EXIT_OK, EXIT_GATE, EXIT_INPUT, EXIT_BUG = 0, 1, 2, 3


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors and exit status 2."""

    def error(self, message):
        sys.stderr.write(f"analysis: error: {message}\n")
        raise SystemExit(EXIT_INPUT)


def _report(args) -> int:
    from analysis.data import load
    from analysis.report import ReportOptions, run_report

    data, source = load(
        csv_path=args.csv, db_url=args.db, test=args.test, listener_column=args.listener_column
    )
    options = ReportOptions(
        baseline=args.baseline,
        conditions=args.conditions.split(",") if args.conditions else None,
        alpha=args.alpha,
        ci=args.ci,
        n_boot=args.n_boot,
        seed=args.seed,
        screening=not args.no_screening,
        reference_threshold=args.screen_threshold,
        max_fraction=args.screen_max_fraction,
        fail_if_worse=args.fail_if_worse,
        expectations=list(args.expect or []),
        pair_level_extras=args.pair_level_extras,
    )
    report = run_report(data, source, options, out_dir=args.out, plots=not args.no_plots)
    print(
        f"analysis: wrote report.md, report.html, report.json"
        f"{' and plots' if not args.no_plots else ''} to {args.out}"
    )
    print(f"analysis: {report['inference']['agreement']['statement']}")
    gates = report["gates"]
    if not gates["passed"]:
        print("analysis: gate failed: " + "; ".join(gates["failures"]), file=sys.stderr)
        return EXIT_GATE
    return EXIT_OK


def _simulate(args) -> int:
    from analysis.data import TIDY_VIEW
    from analysis.simulate import PanelConfig, parse_conditions, simulate_panel, write_csv, write_db

    if (args.out is None) == (args.db is None):
        raise AnalysisInputError("simulate: give exactly one of --out FILE.csv or --db URL")
    changes = {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(PanelConfig)
        if f.name not in ("conditions", "test") and getattr(args, f.name, None) is not None
    }
    cfg = PanelConfig(**changes, test=args.test or "simulated")
    if args.conditions:
        cfg = cfg.with_(conditions=parse_conditions(args.conditions))
    panel = simulate_panel(cfg, seed=args.seed)
    if args.out:
        write_csv(panel.ratings, args.out)
        where = args.out
    else:
        write_db(panel.ratings, args.db, replace_test=args.replace)
        where = f"{TIDY_VIEW} of the database"
    print(
        f"analysis: wrote {len(panel.ratings)} ratings of test {cfg.test!r} to {where}; "
        f"planted careless listeners: {', '.join(panel.careless) or 'none'}"
    )
    return EXIT_OK


_SIM_HELP = {
    "n_listeners": "number of listeners",
    "n_items": "number of items (sentences)",
    "items_per_listener": "each listener rates only this many items (subset design)",
    "listener_bias_sd": "SD of a listener's overall offset (points)",
    "listener_scale_sd": "SD of the log factor by which a listener stretches the scale",
    "item_sd": "SD of item difficulty (points)",
    "listener_condition_sd": "SD of the listener x condition interaction (points)",
    "item_condition_sd": "SD of the item x condition interaction (points)",
    "noise_sd": "SD of the rating noise (points)",
    "reference_top_share": "share of good listeners' hidden-reference ratings that are 100",
    "reference_miss_rate": "share of trials on which a good listener rates the reference 70-89",
    "careless_share": "share of careless listeners (cannot tell the reference apart)",
    "careless_sd": "SD of a careless listener's ratings (points)",
    "training_items": "training items added per listener (is_training true)",
    "time_median_s": "median seconds per trial (illustrative)",
}


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="analysis",
        description="Statistics for MUSHRA listening tests "
        "(ITU-R BS.1534-3): post-screening, tests, relative gains, simulation.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    rep = sub.add_parser(
        "report",
        help="analyse ratings and write report.md/.html/.json",
        description="Exit 0: done; 1: a gate failed; 2: bad input.",
    )
    src = rep.add_argument_group("input (one of)")
    src.add_argument("--csv", metavar="FILE", help="tidy CSV or webMUSHRA's mushra.csv")
    src.add_argument("--db", metavar="URL", help="SQLAlchemy URL with a tidy_ratings view")
    src.add_argument("--test", metavar="NAME", help="test name (needed with --db)")
    src.add_argument(
        "--listener-column",
        metavar="COLUMN",
        help="webMUSHRA: participant column identifying listeners "
        "(default: session_uuid, else participant_id/name/email)",
    )
    rep.add_argument("--out", metavar="DIR", required=True, help="output folder")
    rep.add_argument("--baseline", metavar="NAME", help="baseline system for gains and gates")
    rep.add_argument(
        "--conditions", metavar="A,B,C", help="conditions compared pairwise (default: all systems)"
    )
    rep.add_argument(
        "--fail-if-worse",
        action="store_true",
        help="exit 1 if a system is significantly worse than --baseline",
    )
    rep.add_argument(
        "--expect",
        metavar="A>B",
        action="append",
        help="exit 1 unless A is significantly better than B (repeatable)",
    )
    rep.add_argument("--alpha", type=float, default=0.05, help="family-wise level (0.05)")
    rep.add_argument("--ci", type=float, default=0.95, help="confidence level (0.95)")
    rep.add_argument("--n-boot", type=int, default=2000, help="bootstrap resamples (2000)")
    rep.add_argument("--seed", type=int, default=0, help="bootstrap seed (0)")
    rep.add_argument("--no-screening", action="store_true", help="keep every listener")
    rep.add_argument(
        "--screen-threshold",
        type=float,
        default=90.0,
        help="hidden-reference rating below which an item counts as missed (90)",
    )
    rep.add_argument(
        "--screen-max-fraction",
        type=float,
        default=0.15,
        help="exclude listeners missing more than this share of items (0.15)",
    )
    rep.add_argument(
        "--pair-level-extras",
        action="store_true",
        help="also show pair-level tests, labelled as not the analysis",
    )
    rep.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    rep.set_defaults(func=_report)

    sim = sub.add_parser(
        "simulate",
        help="write a synthetic listener panel",
        description="Defaults are estimated from real MUSHRA data; see docs/analysis.md.",
    )
    sim.add_argument("--out", metavar="FILE.csv", help="write the tidy CSV here")
    sim.add_argument("--db", metavar="URL", help="or insert into tidy_ratings of this database")
    sim.add_argument(
        "--replace", action="store_true", help="with --db: replace existing rows of the same test"
    )
    sim.add_argument("--test", metavar="NAME", help="test name (simulated)")
    sim.add_argument(
        "--conditions",
        metavar="SPEC",
        help="NAME:ROLE:MEAN,... (default recording:hidden_reference:100,"
        "anchor35:anchor:20,baseline:system:55,kathaka:system:60,"
        "camp:system:62)",
    )
    sim.add_argument("--seed", type=int, default=0, help="random seed (0)")
    from analysis.simulate import PanelConfig

    for f in dataclasses.fields(PanelConfig):
        if f.name in ("conditions", "test"):
            continue
        kind = (
            int
            if f.name in ("n_listeners", "n_items", "items_per_listener", "training_items")
            else float
        )
        flag = "--" + f.name.replace("_", "-").replace("n-listeners", "listeners").replace(
            "n-items", "items"
        )
        sim.add_argument(
            flag,
            dest=f.name,
            type=kind,
            default=None,
            metavar="N" if kind is int else "X",
            help=f"{_SIM_HELP.get(f.name, f.name)} (default {f.default})",
        )
    sim.set_defaults(func=_simulate)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except AnalysisInputError as exc:
        message = " ".join(str(exc).split())
        print(f"analysis: error: {message}", file=sys.stderr)
        return EXIT_INPUT
    except Exception:  # noqa: BLE001 - a bug: show it, but never as exit 1 (gate failed)
        traceback.print_exc()
        print("analysis: internal error (a bug; traceback above)", file=sys.stderr)
        return EXIT_BUG
