"""Condition means and their two-way (listeners x items) bootstrap, vectorised.

The condition mean used everywhere in this package is the *mean of listener means*: each
listener's mean rating of the condition over the items they rated, averaged over listeners with
equal weight. The listener is the unit of replication, so a listener who rated more items does
not count more; in a complete design it equals the plain mean of all ratings.

The bootstrap resamples listeners and items independently with replacement (the "pigeonhole"
bootstrap for crossed designs: Owen 2007, Ann. Appl. Stat. 1(2); Efron & Tibshirani 1993). A
resample is described by how often each listener (``w_l``) and each item (``w_i``) was drawn,
so a listener's resampled mean is ``sum_i w_i S[l, i] / sum_i w_i N[l, i]`` with ``S`` and
``N`` the per-cell sums and counts, and the condition mean is the ``w_l``-weighted average of
these: two matrix products per condition for all resamples at once, no Python loop over
resamples. Listeners who rated none of the drawn items drop out of that resample.

The pigeonhole bootstrap is conservative: for a rating ``a_l + b_i + e_li`` it counts the
residual variance ``var(e)/(L I)`` about three times (Owen 2007, section 3), which for MUSHRA
data (large residual noise) makes a nominal 95 % interval cover about 97 %. The intervals here
therefore use the moment correction ``V = 2 V_L + 2 V_I - V_LI`` (``V_L``: variance with
listeners resampled alone, ``V_I``: items alone, ``V_LI``: both; the expectation of ``V`` is the
true ``var(a)/L + var(b)/I + var(e)/(L I)``), bounded to ``[max(V_L, V_I), V_LI]``, and shrink
the two-way replicates toward the estimate by ``sqrt(V / V_LI)`` before taking percentiles, so
the interval keeps the bootstrap's shape; then they are expanded for the small number of
listeners (see :func:`corrected_interval`). The one-way replicates come from the same draws at
almost no extra cost. ``benchmarks/analysis_validation.py`` measures the resulting coverage.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse

from analysis.data import rated

# Above this many dense cells (conditions x listeners x items) the cell tables are sparse.
_DENSE_LIMIT = 20_000_000
_CHUNK = 512  # resamples per block, bounds memory at listeners x _CHUNK floats


@dataclass(frozen=True)
class Cells:
    """Per (condition, listener, item) rating sums and counts, with the labels of each axis."""

    conditions: tuple[str, ...]
    listeners: np.ndarray
    items: np.ndarray
    sums: list  # per condition: (listeners x items) ndarray or scipy.sparse CSR
    counts: list

    @property
    def n_listeners(self) -> int:
        return len(self.listeners)

    @property
    def n_items(self) -> int:
        return len(self.items)


@dataclass(frozen=True)
class BootstrapMeans:
    """Point estimates and bootstrap replicates of the condition means."""

    conditions: tuple[str, ...]
    estimate: np.ndarray  # (C,)
    replicates: np.ndarray  # (B, C) listeners and items resampled; NaN if nobody rated
    by_listeners: np.ndarray  # (B, C) listeners resampled, all items kept
    by_items: np.ndarray  # (B, C) items resampled, all listeners kept
    seed: int
    n_listeners: int

    def column(self, condition: str) -> np.ndarray:
        return self.replicates[:, self.conditions.index(condition)]

    def value(self, condition: str) -> float:
        return float(self.estimate[self.conditions.index(condition)])

    def columns(self, condition: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(two-way, listeners-only, items-only) replicates of one condition."""
        j = self.conditions.index(condition)
        return self.replicates[:, j], self.by_listeners[:, j], self.by_items[:, j]

    def interval(self, condition: str, level: float = 0.95) -> tuple[float, float]:
        """Variance-corrected, expanded two-way percentile interval of one condition mean."""
        return corrected_interval(
            self.value(condition), *self.columns(condition), level=level, n_units=self.n_listeners
        )


def cell_tables(data: pd.DataFrame, conditions=None) -> Cells:
    """Sum and count of ratings per (listener, item) for each condition (training excluded).

    Listener and item codes are taken from all rated trials, so two calls on the same data with
    different ``conditions`` index listeners and items identically (and a bootstrap with the
    same seed draws the same listeners and items).
    """
    data = rated(data)
    l_code, listeners = pd.factorize(data["listener"], sort=True)
    i_code, items = pd.factorize(data["item"], sort=True)
    if conditions is None:
        conditions = sorted(data["condition"].unique())
    conditions = tuple(conditions)
    n_l, n_i = len(listeners), len(items)
    dense = len(conditions) * n_l * n_i <= _DENSE_LIMIT
    cond = data["condition"].to_numpy()
    score = data["score"].to_numpy(float)
    sums, counts = [], []
    for c in conditions:
        m = cond == c
        flat = l_code[m].astype(np.int64) * n_i + i_code[m]
        if dense:
            s = np.bincount(flat, weights=score[m], minlength=n_l * n_i).reshape(n_l, n_i)
            k = np.bincount(flat, minlength=n_l * n_i).astype(float).reshape(n_l, n_i)
        else:
            s = sparse.csr_matrix((score[m], (l_code[m], i_code[m])), shape=(n_l, n_i))
            k = sparse.csr_matrix((np.ones(m.sum()), (l_code[m], i_code[m])), shape=(n_l, n_i))
        sums.append(s)
        counts.append(k)
    return Cells(conditions, np.asarray(listeners), np.asarray(items), sums, counts)


def condition_means(cells: Cells) -> np.ndarray:
    """Mean of listener means per condition (NaN for a condition nobody rated)."""
    out = np.full(len(cells.conditions), np.nan)
    for j, (s, k) in enumerate(zip(cells.sums, cells.counts, strict=True)):
        tot = np.asarray(s.sum(axis=1)).ravel()
        cnt = np.asarray(k.sum(axis=1)).ravel()
        ok = cnt > 0
        if ok.any():
            out[j] = np.mean(tot[ok] / cnt[ok])
    return out


def draw_counts(n: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """(n_boot x n) matrix: how often each of n units is drawn in each resample of size n."""
    idx = rng.integers(0, n, size=(n_boot, n))
    offset = (np.arange(n_boot, dtype=np.int64) * n)[:, None]
    return np.bincount((idx + offset).ravel(), minlength=n_boot * n).reshape(n_boot, n)


def bootstrap_means(
    data: pd.DataFrame,
    conditions=None,
    n_boot: int = 2000,
    seed: int = 0,
    cells: Cells | None = None,
) -> BootstrapMeans:
    """Two-way bootstrap (listeners and items resampled) of the mean of listener means.

    Args:
        data: tidy ratings.
        conditions: which conditions (default: all).
        n_boot: number of resamples.
        seed: seed of the random generator; same data and seed give the same replicates.
        cells: precomputed :func:`cell_tables` (optional).

    Returns:
        :class:`BootstrapMeans` with ``replicates`` of shape (n_boot, n_conditions).
    """
    if n_boot < 1:
        raise ValueError("n_boot must be positive")
    if cells is None:
        cells = cell_tables(data, conditions)
    rng = np.random.default_rng(seed)
    w_l = draw_counts(cells.n_listeners, n_boot, rng).astype(float)  # (B, L)
    w_i = draw_counts(cells.n_items, n_boot, rng).astype(float)  # (B, I)
    n_c = len(cells.conditions)
    both = np.full((n_boot, n_c), np.nan)
    items_only = np.full((n_boot, n_c), np.nan)
    listeners_only = np.full((n_boot, n_c), np.nan)
    for j, (s, k) in enumerate(zip(cells.sums, cells.counts, strict=True)):
        tot_l = np.asarray(s.sum(axis=1)).ravel()
        cnt_l = np.asarray(k.sum(axis=1)).ravel()
        has = cnt_l > 0
        lm_full = np.divide(tot_l, cnt_l, out=np.zeros_like(tot_l), where=has)
        with np.errstate(invalid="ignore", divide="ignore"):
            listeners_only[:, j] = (w_l @ (lm_full * has)) / (w_l @ has.astype(float))
        for lo in range(0, n_boot, _CHUNK):
            hi = min(lo + _CHUNK, n_boot)
            wi = w_i[lo:hi].T  # (I, b)
            num = np.asarray(s @ wi)  # (L, b): resampled sum of each listener's ratings
            den = np.asarray(k @ wi)
            valid = den > 0
            lm = np.divide(num, den, out=np.zeros_like(num), where=valid)
            wl = w_l[lo:hi].T * valid  # listeners drawn and with a rating in this resample
            tot = wl.sum(axis=0)
            n_valid = valid.sum(axis=0)
            with np.errstate(invalid="ignore", divide="ignore"):
                both[lo:hi, j] = np.where(tot > 0, (wl * lm).sum(axis=0) / tot, np.nan)
                items_only[lo:hi, j] = np.where(n_valid > 0, lm.sum(axis=0) / n_valid, np.nan)
    return BootstrapMeans(
        cells.conditions,
        condition_means(cells),
        both,
        listeners_only,
        items_only,
        seed,
        cells.n_listeners,
    )


def _spread(x: np.ndarray) -> float:
    """Robust variance of replicates: (IQR / 1.349)^2, NaN and infinities ignored."""
    x = np.asarray(x, float)
    x = x[np.isfinite(x)]
    if x.size < 4:
        return float("nan")
    q1, q3 = np.quantile(x, [0.25, 0.75])
    return float(((q3 - q1) / 1.349) ** 2)


def corrected_interval(
    estimate: float, both, by_listeners, by_items, level: float = 0.95, n_units: int | None = None
) -> tuple[float, float]:
    """Percentile interval of the two-way replicates, variance-corrected and small-sample expanded.

    The replicates are rescaled around the estimate by ``sqrt(V / V_LI)`` (the moment
    correction of the module docstring) times ``sqrt(n / (n - 1)) t_{n-1} / z`` for ``n_units``
    units of replication (the listeners): the small-sample expansion of Hesterberg's expanded
    percentile interval (Hesterberg 2015, The American Statistician 69(4)), since a bootstrap
    variance is biased low by (n - 1) / n and the percentile interval has normal rather than t
    tails.

    Args:
        estimate: the statistic on the full data.
        both, by_listeners, by_items: replicates of the same statistic under the two-way,
            listeners-only and items-only resampling of :func:`bootstrap_means`.
        n_units: number of listeners (no expansion when None or < 3).
    """
    v_li, v_l, v_i = _spread(both), _spread(by_listeners), _spread(by_items)
    both = np.asarray(both, float)
    if not (np.isfinite(v_li) and v_li > 0 and np.isfinite(estimate)):
        return percentile_interval(both, level)
    v = min(max(2 * v_l + 2 * v_i - v_li, max(v_l, v_i)), v_li)
    factor = np.sqrt(v / v_li)
    if n_units is not None and n_units >= 3:
        from scipy.stats import norm, t

        q = 1 - (1 - level) / 2
        factor *= np.sqrt(n_units / (n_units - 1)) * t.ppf(q, n_units - 1) / norm.ppf(q)
    return percentile_interval(estimate + factor * (both - estimate), level)


def percentile_interval(replicates: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval, ignoring NaN replicates."""
    r = np.asarray(replicates, float)
    r = r[np.isfinite(r)]
    if r.size == 0:
        return float("nan"), float("nan")
    a = (1 - level) / 2
    lo, hi = np.quantile(r, [a, 1 - a])
    return float(lo), float(hi)
