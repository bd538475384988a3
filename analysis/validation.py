"""Calibration of the statistics by simulation: false positives, CI coverage, screening, power.

Each function runs ``n_experiments`` simulated listening tests (:mod:`analysis.simulate`) through
the same functions the report uses and returns counts, the rate and a Wilson 95 % interval of
the rate (Wilson 1927), so that a reader can tell simulation noise from miscalibration. The tests
in ``tests/analysis`` run them small; ``benchmarks/analysis_validation.py`` runs them in full.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from analysis.gains import gap_closure
from analysis.resample import bootstrap_means, corrected_interval, percentile_interval
from analysis.screening import apply_screening, screen_listeners
from analysis.simulate import PanelConfig, SimCondition, expected_means, simulate_panel
from analysis.stats import friedman, mixed_model, pairwise_wilcoxon


def wilson(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion k/n."""
    if n == 0:
        return float("nan"), float("nan")
    p = k / n
    den = 1 + z**2 / n
    centre = (p + z**2 / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / den
    return centre - half, centre + half


def _rate(k: int, n: int) -> dict:
    lo, hi = wilson(k, n)
    return {
        "count": int(k),
        "n": int(n),
        "rate": k / n if n else float("nan"),
        "ci95_low": lo,
        "ci95_high": hi,
    }


def panel_config(system_means=(60.0, 60.0, 60.0), **changes) -> PanelConfig:
    """Default panel with systems ``sys1..sysK`` at ``system_means`` (plus reference, anchor)."""
    conditions = (
        SimCondition("reference", "hidden_reference", 100.0),
        SimCondition("anchor35", "anchor", 20.0),
        *(SimCondition(f"sys{j + 1}", "system", float(m)) for j, m in enumerate(system_means)),
    )
    return replace(PanelConfig(), conditions=conditions, **changes)


def _systems(cfg: PanelConfig) -> list[str]:
    return [c.name for c in cfg.conditions if c.role == "system"]


def _screened(cfg: PanelConfig, seed: int):
    data = simulate_panel(cfg, seed=seed).ratings
    table = screen_listeners(data)
    return apply_screening(data, table)


def family_wise_error(
    cfg: PanelConfig,
    n_experiments: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
    unit: str = "listener",
    with_mixed: bool = False,
    mixed_max_rows: int | None = None,
) -> dict:
    """Share of experiments in which any Holm-corrected pairwise test is significant.

    Only meaningful when the systems of ``cfg`` have equal means (no true effect). Also counts
    the Friedman rejections and, with ``with_mixed``, the mixed model's family-wise errors.
    """
    systems = _systems(cfg)
    hits = fried = mixed_hits = 0
    for e in range(n_experiments):
        data = _screened(cfg, seed + e)
        w = pairwise_wilcoxon(data, systems, alpha=alpha, unit=unit)
        hits += bool(w["significant"].any())
        if len(systems) >= 3:
            fried += bool(friedman(data, systems)["p_value"].iat[0] < alpha)
        if with_mixed:
            kwargs = {} if mixed_max_rows is None else {"max_rows": mixed_max_rows}
            m, _ = mixed_model(data, systems, alpha=alpha, **kwargs)
            mixed_hits += bool(m["significant"].any())
    out = {
        "wilcoxon_holm": _rate(hits, n_experiments),
        "unit": unit,
        "friedman": _rate(fried, n_experiments),
    }
    if with_mixed:
        out["mixed_model_holm"] = _rate(mixed_hits, n_experiments)
    return out


def gap_ci_coverage(
    cfg: PanelConfig,
    baseline: str,
    system: str,
    n_experiments: int = 1000,
    seed: int = 0,
    n_boot: int = 2000,
    ci: float = 0.95,
    corrected: bool = True,
) -> dict:
    """How often the bootstrap CI of the gap closure covers the true (population) value.

    ``corrected=False`` measures the plain pigeonhole percentile interval instead.
    """
    truth_means = expected_means(cfg)
    reference = next(c.name for c in cfg.conditions if c.role == "hidden_reference")
    truth = float(gap_closure(truth_means[system], truth_means[baseline], truth_means[reference]))
    covered = 0
    widths, estimates = [], []
    for e in range(n_experiments):
        data = _screened(cfg, seed + e)
        boot = bootstrap_means(data, [reference, baseline, system], n_boot=n_boot, seed=seed + e)
        est = float(gap_closure(boot.value(system), boot.value(baseline), boot.value(reference)))
        cols = [boot.columns(c) for c in (system, baseline, reference)]
        reps = [gap_closure(cols[0][j], cols[1][j], cols[2][j]) for j in range(3)]
        lo, hi = (
            corrected_interval(est, *reps, level=ci, n_units=boot.n_listeners)
            if corrected
            else percentile_interval(reps[0], ci)
        )
        covered += lo <= truth <= hi
        widths.append(hi - lo)
        estimates.append(est)
    return {
        "coverage": _rate(covered, n_experiments),
        "true_gap_closure_pct": truth,
        "mean_estimate_pct": float(np.mean(estimates)),
        "mean_ci_width_pct": float(np.mean(widths)),
        "n_boot": n_boot,
        "interval": "variance-corrected two-way" if corrected else "plain two-way",
    }


def screening_accuracy(cfg: PanelConfig, n_experiments: int = 1000, seed: int = 0) -> dict:
    """Share of planted careless listeners excluded, and of good listeners wrongly excluded."""
    caught = n_careless = wrong = n_good = 0
    for e in range(n_experiments):
        panel = simulate_panel(cfg, seed=seed + e)
        table = screen_listeners(panel.ratings)
        careless = table["listener"].isin(panel.careless)
        caught += int((table["excluded"] & careless).sum())
        n_careless += int(careless.sum())
        wrong += int((table["excluded"] & ~careless).sum())
        n_good += int((~careless).sum())
    return {"catch_rate": _rate(caught, n_careless), "false_exclusion_rate": _rate(wrong, n_good)}


def power(
    cfg: PanelConfig,
    better: str,
    worse: str,
    n_experiments: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> dict:
    """Share of experiments in which the Holm-corrected Wilcoxon test finds ``better`` > ``worse``.

    All systems of ``cfg`` form the family (so the Holm correction covers every pair).
    """
    systems = _systems(cfg)
    hits = 0
    for e in range(n_experiments):
        data = _screened(cfg, seed + e)
        w = pairwise_wilcoxon(data, systems, alpha=alpha)
        row = w[
            ((w["condition_a"] == better) & (w["condition_b"] == worse))
            | ((w["condition_a"] == worse) & (w["condition_b"] == better))
        ].iloc[0]
        sign = 1 if row["condition_a"] == better else -1
        hits += bool(row["significant"] and sign * row["mean_diff"] > 0)
    truth = expected_means(cfg)
    return {
        "power": _rate(hits, n_experiments),
        "expected_rating_difference": truth[better] - truth[worse],
    }
