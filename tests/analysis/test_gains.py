"""Gap closure, relative improvement and the vectorised two-way bootstrap."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.errors import AnalysisInputError
from analysis.gains import gap_closure, relative_gains, relative_improvement
from analysis.resample import bootstrap_means, corrected_interval, draw_counts


def test_formulas_by_hand():
    assert gap_closure(60, 50, 90) == pytest.approx(25.0)  # closes 10 of 40 points
    assert relative_improvement(55, 50) == pytest.approx(10.0)
    assert np.isnan(gap_closure(60, 50, 50))


def test_point_estimates_use_mean_of_listener_means(ratings):
    g = relative_gains(ratings, "base", n_boot=200, seed=3).set_index("system")
    means = ratings.groupby(["condition", "listener"])["score"].mean().groupby("condition").mean()
    expected = 100 * (means["good"] - means["base"]) / (means["ref"] - means["base"])
    assert g.at["good", "gap_closure_pct"] == pytest.approx(expected)
    assert g.at["good", "relative_improvement_pct"] == pytest.approx(
        100 * (means["good"] - means["base"]) / means["base"]
    )
    assert (
        g.at["good", "gap_ci_low"] < g.at["good", "gap_closure_pct"] < g.at["good", "gap_ci_high"]
    )
    assert set(g.index) == {"good", "same"}


def test_same_seed_same_numbers_other_seed_differs(ratings):
    a = relative_gains(ratings, "base", n_boot=300, seed=5)
    b = relative_gains(ratings, "base", n_boot=300, seed=5)
    c = relative_gains(ratings, "base", n_boot=300, seed=6)
    pd.testing.assert_frame_equal(a, b)
    assert not np.allclose(a["gap_ci_low"], c["gap_ci_low"])


def test_unknown_baseline(ratings):
    with pytest.raises(AnalysisInputError, match="unknown baseline 'nope'"):
        relative_gains(ratings, "nope")


def test_vectorised_bootstrap_equals_brute_force(ratings):
    """Replicate b of the vectorised code equals the same resample built row by row."""
    # Drop some ratings so that the design is unbalanced (subset design).
    data = ratings.drop(index=ratings.index[::7]).reset_index(drop=True)
    conds = ["ref", "base", "good"]
    boot = bootstrap_means(data, conds, n_boot=2, seed=11)
    listeners = np.array(sorted(data["listener"].unique()))
    items = np.array(sorted(data["item"].unique()))
    rng = np.random.default_rng(11)
    w_l = draw_counts(len(listeners), 2, rng)
    w_i = draw_counts(len(items), 2, rng)
    for b in range(2):
        rows = []
        for li, nl in zip(listeners, w_l[b], strict=True):
            for copy_l in range(nl):
                for it, ni in zip(items, w_i[b], strict=True):
                    sub = data[(data.listener == li) & (data["item"] == it)]
                    for _ in range(ni):
                        rows.append(sub.assign(listener=f"{li}#{copy_l}"))
        res = pd.concat(rows)
        expect = res.groupby(["condition", "listener"])["score"].mean().groupby("condition").mean()
        for j, c in enumerate(conds):
            assert boot.replicates[b, j] == pytest.approx(expect[c])


def test_corrected_interval_shrinks_toward_one_way_variance():
    rng = np.random.default_rng(0)
    both = rng.normal(0, 3, 4000)
    lis = rng.normal(0, 2, 4000)
    itm = rng.normal(0, 1, 4000)
    lo, hi = corrected_interval(0.0, both, lis, itm)
    # V = 2*4 + 2*1 - 9 = 1 -> bounded below by max(4, 1) = 4 -> SD 2
    assert (hi - lo) / (2 * 1.96) == pytest.approx(2.0, rel=0.05)
    lo_n, hi_n = corrected_interval(0.0, both, lis, itm, n_units=10)
    assert hi_n - lo_n > hi - lo  # small-sample expansion
