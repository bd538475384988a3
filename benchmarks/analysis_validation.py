"""Validation of `analysis` statistics by simulation (issue #5): the full numbers.

    .venv/bin/python benchmarks/analysis_validation.py --experiments 1000 \
        --out benchmarks/results/analysis_validation.md

Runs seeded simulated listening tests (analysis.simulate, defaults estimated from real MUSHRA
data) through the same functions `analysis report` uses and writes a markdown table of
rates with Wilson 95 % intervals. Single process; about 30 minutes on 2 busy cores.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

from analysis.validation import (
    family_wise_error,
    gap_ci_coverage,
    panel_config,
    power,
    screening_accuracy,
)


def _pct(r: dict) -> str:
    return (
        f"{100 * r['rate']:.1f} % ({r['count']}/{r['n']}; 95 % CI "
        f"{100 * r['ci95_low']:.1f}-{100 * r['ci95_high']:.1f})"
    )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--experiments", type=int, default=1000)
    ap.add_argument(
        "--mixed-experiments",
        type=int,
        default=200,
        help="experiments for the crossed mixed model (about 1-2 s each)",
    )
    ap.add_argument("--out", default="benchmarks/results/analysis_validation.md")
    args = ap.parse_args(argv)
    n, n_mixed = args.experiments, args.mixed_experiments
    rows: list[tuple[str, str, str]] = []
    raw: dict = {}

    def record(key, label, setting, value, result):
        rows.append((label, setting, value))
        raw[key] = result
        print(f"{label} | {setting} | {value}", flush=True)

    t0 = time.time()
    null = panel_config((60.0, 60.0, 60.0), careless_share=0.0)
    r = family_wise_error(null, n, seed=1_000_000)
    record(
        "fwer_lc6",
        "False positives, Holm-corrected Wilcoxon on listener means (family-wise)",
        "3 equal systems, 20 listeners x 20 items, listener x condition SD 6.0",
        _pct(r["wilcoxon_holm"]),
        r,
    )
    record("friedman_lc6", "False positives, Friedman omnibus", "same runs", _pct(r["friedman"]), r)
    r = family_wise_error(null.with_(listener_condition_sd=4.0), n, seed=2_000_000)
    record(
        "fwer_lc4",
        "False positives, Holm-corrected Wilcoxon on listener means",
        "as above, listener x condition SD 4.0",
        _pct(r["wilcoxon_holm"]),
        r,
    )
    r = family_wise_error(null, n, seed=1_000_000, unit="pair")
    record(
        "fwer_pair",
        "False positives, Holm-corrected Wilcoxon on (listener, item) pairs "
        "(the wrong analysis, for contrast)",
        "as the first row",
        _pct(r["wilcoxon_holm"]),
        r,
    )
    subset = null.with_(n_listeners=40, items_per_listener=10)
    r = family_wise_error(subset, n, seed=3_000_000)
    record(
        "fwer_subset",
        "False positives, Holm-corrected Wilcoxon on listener means",
        "subset design: 40 listeners each rating 10 of 20 items",
        _pct(r["wilcoxon_holm"]),
        r,
    )
    r = family_wise_error(null, n, seed=4_000_000, with_mixed=True, mixed_max_rows=0)
    record(
        "fwer_mixed_cells",
        "False positives, mixed model (cell-means formulation), Holm",
        "as the first row",
        _pct(r["mixed_model_holm"]),
        r,
    )
    r = family_wise_error(null, n_mixed, seed=5_000_000, with_mixed=True)
    record(
        "fwer_mixed_crossed",
        "False positives, mixed model (crossed REML), Holm",
        f"as the first row, {n_mixed} experiments",
        _pct(r["mixed_model_holm"]),
        r,
    )
    r = family_wise_error(null.with_(item_condition_sd=10.0), n, seed=6_000_000)
    record(
        "fwer_itemcond",
        "False positives vs the population of items, Wilcoxon on listener means",
        "as the first row plus item x condition SD 10 (real codec data)",
        _pct(r["wilcoxon_holm"]),
        r,
    )

    gap_cfg = panel_config((55.0, 60.0), careless_share=0.0)
    r = gap_ci_coverage(gap_cfg, "sys1", "sys2", n, seed=7_000_000)
    record(
        "coverage",
        "Gap-closure 95 % CI covers the true value",
        f"baseline 55 vs system 60, 20 x 20, 2,000 resamples; true G = "
        f"{r['true_gap_closure_pct']:.2f} %, mean width {r['mean_ci_width_pct']:.1f} points",
        _pct(r["coverage"]),
        r,
    )
    r = gap_ci_coverage(gap_cfg, "sys1", "sys2", n, seed=7_000_000, corrected=False)
    record(
        "coverage_plain",
        "Gap-closure CI coverage, plain pigeonhole percentile (for contrast)",
        f"same runs; mean width {r['mean_ci_width_pct']:.1f} points",
        _pct(r["coverage"]),
        r,
    )
    r = gap_ci_coverage(
        gap_cfg.with_(n_listeners=40, items_per_listener=10), "sys1", "sys2", n, seed=8_000_000
    )
    record(
        "coverage_subset",
        "Gap-closure 95 % CI coverage",
        "subset design: 40 listeners each rating 10 of 20 items",
        _pct(r["coverage"]),
        r,
    )

    scr = panel_config((60.0, 60.0, 60.0), careless_share=0.2)
    r = screening_accuracy(scr, n, seed=9_000_000)
    record(
        "screen_catch",
        "Post-screening catches planted careless listeners",
        "20 % careless, 20 listeners x 20 items",
        _pct(r["catch_rate"]),
        r,
    )
    record(
        "screen_false",
        "Post-screening wrongly excludes good listeners",
        "same runs",
        _pct(r["false_exclusion_rate"]),
        r,
    )
    r = screening_accuracy(scr.with_(n_listeners=40, items_per_listener=8), n, seed=9_500_000)
    record(
        "screen_catch_subset",
        "Post-screening catch rate",
        "subset: 8 items per listener",
        _pct(r["catch_rate"]),
        r,
    )
    record(
        "screen_false_subset",
        "Post-screening false exclusions",
        "same runs",
        _pct(r["false_exclusion_rate"]),
        r,
    )

    pw3 = panel_config((60.0, 65.0, 60.0), careless_share=0.0)
    r = power(pw3, "sys2", "sys1", n, seed=10_000_000)
    record(
        "power3",
        "Power, 5-point difference (Holm over 3 pairs)",
        f"20 x 20, 3 systems (60, 65, 60); expected rating difference "
        f"{r['expected_rating_difference']:.2f}",
        _pct(r["power"]),
        r,
    )
    pw2 = panel_config((60.0, 65.0), careless_share=0.0)
    r = power(pw2, "sys2", "sys1", n, seed=11_000_000)
    record(
        "power2",
        "Power, 5-point difference (one pair)",
        "20 x 20, 2 systems (60, 65)",
        _pct(r["power"]),
        r,
    )
    r = power(pw2.with_(n_listeners=40), "sys2", "sys1", n, seed=12_000_000)
    record(
        "power2_40",
        "Power, 5-point difference (one pair)",
        "40 listeners x 20 items",
        _pct(r["power"]),
        r,
    )
    elapsed = time.time() - t0

    lines = [
        "# analysis: validation by simulation",
        "",
        (
            f"Command: `.venv/bin/python benchmarks/analysis_validation.py --experiments {n} "
            f"--mixed-experiments {n_mixed}`"
        ),
        "",
        (
            f"{n} seeded experiments per row unless stated; panel defaults of `analysis.simulate` "
            "(estimated from real MUSHRA data, see docs/analysis.md): listener bias SD 12.2, "
            "log scale-use SD 0.20, item SD 3.1, listener x condition SD 6.0, noise SD 17.4, "
            "integer ratings 0-100; no careless listeners unless stated; post-screening on; "
            "alpha 0.05."
        ),
        "",
        "| quantity | setting | result |",
        "|---|---|---|",
        *[f"| {a} | {b} | {c} |" for a, b, c in rows],
        "",
        (
            f"Wall time {elapsed / 60:.1f} min, Python {platform.python_version()}, "
            f"{platform.machine()}."
        ),
        "",
        "Raw numbers:",
        "",
        "```json",
        json.dumps(raw, indent=1),
        "```",
        "",
    ]
    Path(args.out).write_text("\n".join(lines))
    print(f"wrote {args.out} in {elapsed / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
