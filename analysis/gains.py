"""Relative gains of systems over a baseline: gap closure toward the recordings and plain
relative improvement, each with a two-way bootstrap confidence interval.

Both use the condition means M (means of listener means, :mod:`analysis.resample`):

- gap closure G = (M_S - M_B) / (M_R - M_B) x 100 %: the share of the distance between the
  baseline B and the hidden reference R (the recordings) that system S closes (CAMP's "closing
  the gap with natural speech by 26 %").
- relative improvement = (M_S - M_B) / M_B x 100 %: the improvement as a share of the
  baseline's score (Kathaka's "13.2 % relative improvement").

The intervals are percentile intervals of the ratio over bootstrap resamples that draw
listeners and items with replacement, with the variance correction of
:func:`analysis.resample.corrected_interval` for the pigeonhole bootstrap's over-counted noise.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.data import rated, reference_condition
from analysis.errors import AnalysisInputError
from analysis.resample import BootstrapMeans, bootstrap_means, corrected_interval

GAP_FORMULA = "gap closure = (M_S - M_B) / (M_R - M_B) x 100 %"
RELATIVE_FORMULA = "relative improvement = (M_S - M_B) / M_B x 100 %"
GAIN_COLUMNS = (
    "system",
    "baseline",
    "reference",
    "mean_system",
    "mean_baseline",
    "mean_reference",
    "gap_closure_pct",
    "gap_ci_low",
    "gap_ci_high",
    "relative_improvement_pct",
    "relative_ci_low",
    "relative_ci_high",
    "n_boot",
)


def gap_closure(m_s, m_b, m_r):
    """(M_S - M_B) / (M_R - M_B) in percent; NaN where the baseline equals the reference."""
    m_s, m_b, m_r = (np.asarray(v, float) for v in (m_s, m_b, m_r))
    den = m_r - m_b
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(np.abs(den) > 1e-9, 100.0 * (m_s - m_b) / den, np.nan)


def relative_improvement(m_s, m_b):
    """(M_S - M_B) / M_B in percent; NaN where the baseline mean is 0."""
    m_s, m_b = np.asarray(m_s, float), np.asarray(m_b, float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(np.abs(m_b) > 1e-9, 100.0 * (m_s - m_b) / m_b, np.nan)


def relative_gains(
    data: pd.DataFrame,
    baseline: str,
    systems=None,
    ci: float = 0.95,
    n_boot: int = 2000,
    seed: int = 0,
    boot: BootstrapMeans | None = None,
) -> pd.DataFrame:
    """Gap closure and relative improvement of each system over ``baseline``.

    Args:
        data: tidy ratings (one hidden-reference condition).
        baseline: name of the baseline condition B.
        systems: systems S to compare (default: every ``system`` condition but the baseline).
        ci: confidence level of the percentile intervals.
        n_boot: bootstrap resamples (listeners and items); at least 2,000 recommended.
        seed: random seed; same data and seed give the same intervals.
        boot: precomputed bootstrap of the condition means to reuse (optional).

    Returns:
        One row per system, columns :data:`GAIN_COLUMNS`.
    """
    data = rated(data)
    present = set(data["condition"])
    if baseline not in present:
        raise AnalysisInputError(
            f"unknown baseline {baseline!r} (conditions: {', '.join(sorted(present))})"
        )
    reference = reference_condition(data)
    if systems is None:
        systems = sorted(set(data.loc[data["role"] == "system", "condition"]) - {baseline})
    systems = [s for s in systems if s != baseline]
    for s in systems:
        if s not in present:
            raise AnalysisInputError(f"unknown system {s!r}")
    needed = [reference, baseline, *systems]
    if boot is None or not set(needed) <= set(boot.conditions):
        boot = bootstrap_means(data, needed, n_boot=n_boot, seed=seed)
    m_r, m_b = boot.value(reference), boot.value(baseline)
    r_r, r_b = boot.columns(reference), boot.columns(baseline)
    rows = []
    for s in systems:
        m_s, r_s = boot.value(s), boot.columns(s)
        gap = float(gap_closure(m_s, m_b, m_r))
        rel = float(relative_improvement(m_s, m_b))
        g_lo, g_hi = corrected_interval(
            gap,
            *(gap_closure(r_s[j], r_b[j], r_r[j]) for j in range(3)),
            level=ci,
            n_units=boot.n_listeners,
        )
        q_lo, q_hi = corrected_interval(
            rel,
            *(relative_improvement(r_s[j], r_b[j]) for j in range(3)),
            level=ci,
            n_units=boot.n_listeners,
        )
        rows.append(
            {
                "system": s,
                "baseline": baseline,
                "reference": reference,
                "mean_system": m_s,
                "mean_baseline": m_b,
                "mean_reference": m_r,
                "gap_closure_pct": gap,
                "gap_ci_low": g_lo,
                "gap_ci_high": g_hi,
                "relative_improvement_pct": rel,
                "relative_ci_low": q_lo,
                "relative_ci_high": q_hi,
                "n_boot": int(boot.replicates.shape[0]),
            }
        )
    return pd.DataFrame(rows, columns=list(GAIN_COLUMNS))
