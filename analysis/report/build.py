"""Assemble the whole analysis into one JSON-ready dict (the report), and evaluate CI gates.

The dict is the single source of the three renderings (markdown, HTML, JSON): every number the
report shows is in it, unrounded. Its layout is versioned by :data:`SCHEMA_VERSION`.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from analysis import __version__
from analysis.data import condition_roles, rated, reference_condition
from analysis.errors import AnalysisInputError
from analysis.gains import GAP_FORMULA, RELATIVE_FORMULA, relative_gains
from analysis.resample import bootstrap_means, cell_tables
from analysis.screening import apply_screening, screen_listeners
from analysis.stats import (
    MIXED_MAX_EFFECTS,
    MIXED_MAX_ROWS,
    agreement,
    describe,
    friedman,
    mixed_model,
    pairwise_wilcoxon,
)

SCHEMA = "prosody-mushra/analysis-report"
SCHEMA_VERSION = "1.0"
_EXPECT = re.compile(r"^\s*(.+?)\s*(>|<)\s*(.+?)\s*$")


@dataclass
class ReportOptions:
    """Everything that changes the numbers of a report (recorded in report.json)."""

    baseline: str | None = None
    conditions: list[str] | None = None  # family of compared conditions; default: systems
    alpha: float = 0.05
    ci: float = 0.95
    n_boot: int = 2000
    seed: int = 0
    screening: bool = True
    reference_threshold: float = 90.0
    max_fraction: float = 0.15
    fail_if_worse: bool = False
    expectations: list[str] = field(default_factory=list)
    pair_level_extras: bool = False
    mixed_max_rows: int = MIXED_MAX_ROWS
    mixed_max_effects: int = MIXED_MAX_EFFECTS

    def check(self) -> None:
        if not 0 < self.alpha < 1:
            raise AnalysisInputError("--alpha must lie strictly between 0 and 1")
        if not 0 < self.ci < 1:
            raise AnalysisInputError("--ci must lie strictly between 0 and 1")
        if self.n_boot < 100:
            raise AnalysisInputError("--n-boot must be at least 100 (2,000 recommended)")
        if not 0 <= self.max_fraction <= 1:
            raise AnalysisInputError("--screen-max-fraction must lie within 0-1")
        if not 0 <= self.reference_threshold <= 100:
            raise AnalysisInputError("--screen-threshold must lie within 0-100")
        if self.fail_if_worse and not self.baseline:
            raise AnalysisInputError("--fail-if-worse needs --baseline NAME")


def parse_expectation(text: str) -> tuple[str, str, str]:
    """``"A>B"`` -> ("A", ">", "B"): A is expected to be rated significantly higher than B."""
    m = _EXPECT.match(text or "")
    if not m or not m.group(1) or not m.group(3):
        raise AnalysisInputError(f"--expect {text!r}: write it as A>B or A<B")
    return m.group(1), m.group(2), m.group(3)


def build_report(
    data: pd.DataFrame, source: dict | None = None, options: ReportOptions | None = None
) -> dict:
    """Run post-screening, descriptives, inference, gains and gates on validated ratings.

    Args:
        data: tidy ratings as returned by :mod:`analysis.data` (validated).
        source: description of the input (``source``, ``layout``, ``test``).
        options: :class:`ReportOptions`.

    Returns:
        The report dict (JSON-ready; NaN kept as float NaN until serialised).

    Raises:
        AnalysisInputError: unknown condition names, too few listeners after screening, ...
    """
    options = options or ReportOptions()
    options.check()
    source = dict(source or {})
    all_rated = rated(data)
    roles = condition_roles(all_rated)
    reference = reference_condition(all_rated)
    expectations = [parse_expectation(e) for e in options.expectations]
    names = set(roles)
    wanted = [options.baseline] if options.baseline else []
    wanted += list(options.conditions or [])
    wanted += [x for a, _, b in expectations for x in (a, b)]
    for name in wanted:
        if name not in names:
            raise AnalysisInputError(f"unknown condition {name!r} (conditions: {', '.join(roles)})")

    table = screen_listeners(
        data, options.reference_threshold, options.max_fraction, enabled=options.screening
    )
    kept = rated(apply_screening(data, table))
    n_kept = kept["listener"].nunique()
    if n_kept < 2:
        raise AnalysisInputError(
            f"post-screening kept {n_kept} of {len(table)} listeners; at least 2 are needed "
            "(check the hidden-reference ratings, or use --no-screening)"
        )

    family = _family(roles, options, expectations, reference)
    all_conditions = list(roles)
    cells = cell_tables(kept, all_conditions)
    boot = bootstrap_means(
        kept, all_conditions, n_boot=options.n_boot, seed=options.seed, cells=cells
    )
    desc = describe(kept, all_conditions, ci=options.ci, boot=boot)
    fried = friedman(kept, family)
    wil = pairwise_wilcoxon(kept, family, alpha=options.alpha, ci=options.ci)
    try:
        mixed, mixed_info = mixed_model(
            kept,
            family,
            alpha=options.alpha,
            ci=options.ci,
            max_rows=options.mixed_max_rows,
            max_effects=options.mixed_max_effects,
        )
    except (np.linalg.LinAlgError, ValueError, OverflowError) as exc:  # report, do not crash
        mixed = wil.loc[:, ["condition_a", "condition_b"]].assign(
            estimate=np.nan,
            se=np.nan,
            t=np.nan,
            dof=np.nan,
            ci_low=np.nan,
            ci_high=np.nan,
            p_unc=np.nan,
            p_holm=np.nan,
            significant=False,
        )
        mixed_info = {
            "formulation": "failed",
            "formula": "",
            "n_obs": 0,
            "variance_components_sd": dict.fromkeys(
                ("listener", "item", "listener:condition", "residual"), np.nan
            ),
            "condition_means": {},
            "converged": False,
            "contrast_dof": None,
            "notes": [f"the mixed model could not be fitted: {exc}"],
        }
    agree = agreement(wil, mixed)
    if mixed_info["formulation"] == "failed":
        agree = {
            "agree": None,
            "n_pairs": len(wil),
            "disagreements": [],
            "statement": "The mixed model could not be fitted; no second analysis.",
        }
    gains = None
    if options.baseline:
        g = relative_gains(
            kept,
            options.baseline,
            ci=options.ci,
            n_boot=options.n_boot,
            seed=options.seed,
            boot=boot,
        )
        gains = {
            "baseline": options.baseline,
            "reference": reference,
            "formulas": {
                "gap_closure": GAP_FORMULA,
                "relative_improvement": RELATIVE_FORMULA,
                "means": "M = mean over listeners of each listener's mean rating",
            },
            "ci_level": options.ci,
            "n_boot": options.n_boot,
            "seed": options.seed,
            "interval": (
                "two-way bootstrap (listeners and items resampled), variance-corrected "
                "and expanded percentile interval"
            ),
            "systems": _records(g),
        }
    report = {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "generator": f"analysis {__version__}",
        "input": {
            **source,
            "n_rows": len(data),
            "n_training_rows_ignored": int(data["is_training"].sum()),
            "n_ratings_not_all_played": int((~all_rated["all_played"].fillna(True)).sum()),
            "n_ratings": len(all_rated),
            "n_listeners": int(all_rated["listener"].nunique()),
            "n_items": int(all_rated["item"].nunique()),
            "ratings_per_listener_item": _design(all_rated),
            "conditions": [{"name": c, "role": r} for c, r in roles.items()],
        },
        "options": asdict(options),
        "screening": {
            "enabled": options.screening,
            "rule": (
                f"exclude a listener who rates the hidden reference below "
                f"{options.reference_threshold:g} on more than "
                f"{100 * options.max_fraction:g} % of the items (ITU-R BS.1534-3, 4.1.2)"
            ),
            "reference_threshold": options.reference_threshold,
            "max_fraction": options.max_fraction,
            "n_listeners_before": len(table),
            "n_excluded": int(table["excluded"].sum()),
            "n_listeners_after": int(n_kept),
            "listeners": _records(table),
        },
        "descriptives": _records(desc),
        "inference": {
            "family": family,
            "unit": "listener (per-listener condition means, items averaged within listener)",
            "alpha": options.alpha,
            "correction": "Holm (1979) over all pairs of the family",
            "friedman": _records(fried)[0],
            "wilcoxon": _records(wil),
            "mixed_model": {**mixed_info, "contrasts": _records(mixed)},
            "agreement": agree,
        },
        "gains": gains,
    }
    if options.pair_level_extras:
        extra = pairwise_wilcoxon(kept, family, alpha=options.alpha, ci=options.ci, unit="pair")
        report["extras"] = {
            "pair_level_wilcoxon": _records(extra),
            "warning": (
                "EXTRA, NOT THE ANALYSIS: treats every (listener, item) rating as an "
                "independent observation; ratings of one listener are correlated, so "
                "these p-values are too small and false effects far more frequent than "
                "alpha."
            ),
        }
    report["gates"] = evaluate_gates(report, options, expectations)
    return report


def evaluate_gates(report: dict, options: ReportOptions, expectations=()) -> dict:
    """CI gates on the primary analysis (Holm-corrected Wilcoxon on listener means).

    ``--fail-if-worse``: fails when a system is significantly worse than the baseline.
    ``--expect A>B``: fails unless A is significantly better than B (and ``A<B`` conversely).
    """
    rows = report["inference"]["wilcoxon"]
    family = report["inference"]["family"]
    failures, checks = [], []

    def lookup(a, b):
        for r in rows:
            if (r["condition_a"], r["condition_b"]) == (a, b):
                return r["mean_diff"], r["p_holm"], r["significant"]
            if (r["condition_a"], r["condition_b"]) == (b, a):
                return -r["mean_diff"], r["p_holm"], r["significant"]
        return None

    if options.fail_if_worse and options.baseline:
        base = options.baseline
        for s in family:
            if s == base:
                continue
            found = lookup(s, base)
            if found is None:
                continue
            diff, p, sig = found
            if sig and diff < 0:
                failures.append(
                    f"{s} is significantly worse than baseline {base} "
                    f"(difference {diff:+.1f} points, Holm p = {_p(p)})"
                )
    for a, op, b in expectations:
        found = lookup(a, b)
        if found is None:
            detail = "pair not tested"
            holds = False
        else:
            diff, p, sig = found
            holds = bool(sig and (diff > 0 if op == ">" else diff < 0))
            detail = f"difference {a} - {b} = {diff:+.1f} points, Holm p = {_p(p)}"
        checks.append({"expression": f"{a}{op}{b}", "holds": holds, "detail": detail})
        if not holds:
            failures.append(f"expectation {a}{op}{b} failed ({detail})")
    return {
        "decided_by": "Holm-corrected Wilcoxon signed-rank tests on per-listener means",
        "fail_if_worse": bool(options.fail_if_worse),
        "baseline": options.baseline,
        "expectations": checks,
        "failures": failures,
        "passed": not failures,
    }


def _family(roles: dict, options: ReportOptions, expectations, reference: str) -> list[str]:
    if options.conditions:
        family = list(dict.fromkeys(options.conditions))
    else:
        systems = [c for c, r in roles.items() if r == "system"]
        if options.baseline and options.baseline in systems:
            systems.remove(options.baseline)
            systems.insert(0, options.baseline)
        family = systems
    extra = [options.baseline] if options.baseline else []
    extra += [x for a, _, b in expectations for x in (a, b)]
    for name in extra:
        if name not in family:
            family.append(name)
    if len(family) < 2:  # one system or none: compare with the reference, then the anchors
        family = [reference] + [c for c in family if c != reference]
        family += [c for c, r in roles.items() if r == "anchor" and c not in family]
    if len(family) < 2:
        raise AnalysisInputError("need at least two conditions to compare")
    return family


def _design(data: pd.DataFrame) -> dict:
    per_listener = data.groupby("listener")["item"].nunique()
    n_items = data["item"].nunique()
    return {
        "items_per_listener_min": int(per_listener.min()),
        "items_per_listener_max": int(per_listener.max()),
        "subset_design": bool(per_listener.min() < n_items),
    }


def _records(frame: pd.DataFrame) -> list[dict]:
    return [{k: _plain(v) for k, v in row.items()} for row in frame.to_dict("records")]


def _plain(v):
    if isinstance(v, (np.bool_, bool)):
        return bool(v)
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating, float)):
        return float(v)
    if v is pd.NA:
        return None
    return v


def _p(p) -> str:
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return "n/a"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"
