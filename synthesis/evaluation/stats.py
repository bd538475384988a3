"""Confidence intervals and paired tests over test clips (pure functions).

The clip is the unit of resampling: every number of a system comes from the same clips, so
an interval says how much the score would move with another draw of test sentences.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

N_BOOTSTRAP = 2000
SEED = 20250


def mean_of(values: np.ndarray) -> float:
    return float(np.mean(values[:, 0]))


def ratio_of_sums(values: np.ndarray) -> float:
    """Aggregate of ``[n, 2]`` (numerator, denominator) rows, e.g. word errors / reference words."""
    den = float(np.sum(values[:, 1]))
    return float(np.sum(values[:, 0]) / den) if den > 0 else float("nan")


@dataclass(frozen=True)
class Estimate:
    value: float
    ci_low: float
    ci_high: float
    n: int

    def to_json(self) -> dict:
        return {"value": _num(self.value), "ci95": [_num(self.ci_low), _num(self.ci_high)], "n": self.n}


def _num(x: float) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)


def bootstrap_ci(values: np.ndarray, statistic: Callable[[np.ndarray], float] = mean_of,
                 n_boot: int = N_BOOTSTRAP, seed: int = SEED, level: float = 0.95) -> Estimate:
    """Percentile bootstrap interval of ``statistic`` over rows (clips).

    Args:
        values: ``[n]`` per-clip values or ``[n, k]`` per-clip columns (for ``ratio_of_sums``);
            rows holding NaN are dropped first.
        statistic: maps an ``[m, k]`` array of resampled rows to one number.

    Returns:
        The statistic on all rows and the ``level`` percentile interval of ``n_boot``
        resamples of the rows with replacement (seeded: the same input gives the same interval).
    """
    v = np.asarray(values, dtype=np.float64)
    if v.ndim == 1:
        v = v[:, None]
    v = v[~np.isnan(v).any(axis=1)]
    n = len(v)
    if n == 0:
        return Estimate(float("nan"), float("nan"), float("nan"), 0)
    point = statistic(v)
    if n == 1:
        return Estimate(point, float("nan"), float("nan"), 1)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_boot, n))
    boots = np.array([statistic(v[i]) for i in idx])
    boots = boots[np.isfinite(boots)]
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(boots, [alpha, 1.0 - alpha]) if boots.size else (np.nan, np.nan)
    return Estimate(point, float(lo), float(hi), n)


@dataclass(frozen=True)
class PairedTest:
    statistic: float
    p_value: float
    n: int
    median_difference: float

    def to_json(self) -> dict:
        return {"statistic": _num(self.statistic), "p_value": _num(self.p_value), "n": self.n,
                "median_difference": _num(self.median_difference)}


def paired_wilcoxon(a: np.ndarray, b: np.ndarray) -> PairedTest:
    """Two-sided Wilcoxon signed-rank test of per-clip values of two systems.

    Pairs with a NaN on either side are dropped; zero differences are handled by scipy's
    default (``zero_method="wilcox"``, dropped). NaN p-value when fewer than two pairs differ.
    """
    from scipy.stats import wilcoxon

    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"paired values must have equal shapes, got {x.shape} and {y.shape}")
    keep = ~(np.isnan(x) | np.isnan(y))
    x, y = x[keep], y[keep]
    d = x - y
    if np.count_nonzero(d) < 2:
        return PairedTest(float("nan"), float("nan"), len(d), float(np.median(d)) if len(d) else float("nan"))
    res = wilcoxon(x, y, alternative="two-sided")
    return PairedTest(float(res.statistic), float(res.pvalue), len(d), float(np.median(d)))
