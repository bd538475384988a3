"""Descriptives and tests against independent computations (scipy, statsmodels, by hand)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests

from analysis.stats import (
    agreement,
    describe,
    friedman,
    holm,
    listener_means,
    mixed_model,
    pairwise_wilcoxon,
    rank_biserial,
)
from tests.analysis.conftest import tidy_rows

SYSTEMS = ["base", "good", "same"]


def _wide(data, conditions):
    sub = data[~data["is_training"] & data["condition"].isin(conditions)]
    return sub.pivot_table(index="listener", columns="condition", values="score", aggfunc="mean")[
        conditions
    ]


def test_rank_biserial_by_hand():
    # |d| ranks: 1->1, 2->2, 3->3, 4->4; positives 1+3+4 = 8, negatives 2; r = (8-2)/10
    assert rank_biserial([1, -2, 3, 4, 0]) == pytest.approx(0.6)
    assert rank_biserial([1, 2]) == 1.0
    assert rank_biserial([0, 0]) == 0.0


def test_holm_by_hand():
    p = [0.01, 0.04, 0.03]
    adj, rej = holm(p, 0.05)
    # sorted 0.01*3=0.03, 0.03*2=0.06, max(0.04*1, 0.06)=0.06
    assert adj == pytest.approx([0.03, 0.06, 0.06])
    assert rej.tolist() == [True, False, False]


@pytest.mark.parametrize(
    "d",
    [
        [1.5, -0.5, 0.5, 2.0, 2.0, -1.0, 3.0, 0.5],  # ties: scipy permutation test
        [1.5, 0.0, 0.5, 2.0, 2.0, -1.0, 3.0, 0.5, 0.0, -4.0],  # ties and zeros
        [0.3, -1.2, 2.5, 4.1, 0.9, -0.1, 1.7],  # no ties: exact distribution
        list(np.linspace(-3, 10, 30)),  # ties absent, n > 13
        list(np.round(np.linspace(-3, 10, 30))),  # ties, n > 13: normal approximation
    ],
)
def test_signed_rank_matches_scipy(d):
    from analysis.stats import signed_rank_test

    ref = sps.wilcoxon(d)
    stat, p = signed_rank_test(d)
    assert stat == pytest.approx(ref.statistic)
    assert p == pytest.approx(ref.pvalue)


def test_holm_matches_statsmodels():
    rng = np.random.default_rng(0)
    for m in (1, 2, 5, 12):
        p = rng.uniform(0, 0.2, m)
        rej_ref, adj_ref, _, _ = multipletests(p, alpha=0.05, method="holm")
        adj, rej = holm(p, 0.05)
        assert adj == pytest.approx(adj_ref)
        assert rej.tolist() == rej_ref.tolist()


def test_wilcoxon_matches_scipy_on_listener_means(ratings):
    out = pairwise_wilcoxon(ratings, SYSTEMS)
    wide = _wide(ratings, SYSTEMS)
    p_raw = []
    for row in out.itertuples():
        d = wide[row.condition_a] - wide[row.condition_b]
        ref = sps.wilcoxon(d.to_numpy())
        assert row.statistic == pytest.approx(ref.statistic)
        assert row.p_unc == pytest.approx(ref.pvalue)
        assert row.n == len(d)
        assert row.mean_diff == pytest.approx(d.mean())
        lo, hi = sps.t.interval(0.95, len(d) - 1, loc=d.mean(), scale=sps.sem(d))
        assert (row.diff_ci_low, row.diff_ci_high) == pytest.approx((lo, hi))
        p_raw.append(ref.pvalue)
    assert out["p_holm"].to_numpy() == pytest.approx(multipletests(p_raw, method="holm")[1])
    good_vs_base = out[(out.condition_a == "base") & (out.condition_b == "good")].iloc[0]
    assert good_vs_base.mean_diff < 0 and good_vs_base.rank_biserial < 0


def test_pair_unit_uses_every_rating(ratings):
    out = pairwise_wilcoxon(ratings, ["base", "good"], unit="pair")
    a = ratings[ratings.condition == "base"].set_index(["listener", "item"])["score"]
    b = ratings[ratings.condition == "good"].set_index(["listener", "item"])["score"]
    d = (a - b).to_numpy()
    ref = sps.wilcoxon(d)
    assert out["n"].iat[0] == len(d)
    assert out["p_unc"].iat[0] == pytest.approx(ref.pvalue)


def test_friedman_matches_scipy(ratings):
    out = friedman(ratings, SYSTEMS).iloc[0]
    wide = _wide(ratings, SYSTEMS)
    stat, p = sps.friedmanchisquare(*(wide[c] for c in SYSTEMS))
    assert out.statistic == pytest.approx(stat)
    assert out.p_value == pytest.approx(p)
    assert out.kendall_w == pytest.approx(stat / (len(wide) * 2))
    assert np.isnan(friedman(ratings, ["base", "good"]).iloc[0].p_value)


def test_describe_mean_and_t_interval(ratings):
    d = describe(ratings, n_boot=300, seed=1).set_index("condition")
    lm = ratings[ratings.condition == "good"].groupby("listener")["score"].mean()
    assert d.at["good", "mean"] == pytest.approx(lm.mean())
    lo, hi = sps.t.interval(0.95, len(lm) - 1, loc=lm.mean(), scale=sps.sem(lm))
    assert (d.at["good", "ci_low_t"], d.at["good", "ci_high_t"]) == pytest.approx((lo, hi))
    scores = ratings.loc[ratings.condition == "good", "score"]
    assert d.at["good", "median"] == scores.median()
    assert d.at["good", "q1"] == scores.quantile(0.25)
    assert d.at["good", "ci_low_boot"] < d.at["good", "mean"] < d.at["good", "ci_high_boot"]
    assert d.at["ref", "role"] == "hidden_reference"


def test_subset_design_pairs_items_within_listener():
    # Listener A rated item 1 (easy) for both systems and item 2 (hard) only for x:
    # the paired comparison must use item 1 only for A.
    rows = [
        ("A", "1", "x", "system", 80),
        ("A", "1", "y", "system", 70),
        ("A", "2", "x", "system", 20),
        ("B", "3", "x", "system", 50),
        ("B", "3", "y", "system", 45),
        ("C", "1", "x", "system", 60),
        ("C", "1", "y", "system", 58),
    ]
    for lis in "ABC":
        rows.append((lis, "1" if lis != "B" else "3", "r", "hidden_reference", 100))
    data = tidy_rows(rows)
    out = pairwise_wilcoxon(data, ["x", "y"]).iloc[0]
    assert out.mean_diff == pytest.approx(np.mean([10, 5, 2]))
    wide = listener_means(data, ["x", "y"])
    assert wide.loc["A", "x"] == 80  # complete trials only


def test_mixed_model_matches_statsmodels_formula(ratings):
    contrasts, info = mixed_model(ratings, SYSTEMS)
    assert info["formulation"] == "crossed"
    sub = ratings[ratings.condition.isin(SYSTEMS)].copy()
    sub["g"] = 1
    ref = sm.MixedLM.from_formula(
        "score ~ 0 + C(condition)",
        groups="g",
        data=sub,
        vc_formula={
            "listener": "0 + C(listener)",
            "item": "0 + C(item)",
            "lc": "0 + C(listener):C(condition)",
        },
    ).fit(reml=True, method=["lbfgs"])
    fe = {c: ref.fe_params[f"C(condition)[{c}]"] for c in SYSTEMS}
    for c in SYSTEMS:
        assert info["condition_means"][c] == pytest.approx(fe[c], abs=1e-3)
    row = contrasts.iloc[0]
    assert row.estimate == pytest.approx(fe[row.condition_a] - fe[row.condition_b], abs=1e-3)
    # The REML surface is flat in the variance components: two optimiser runs from different
    # starting points stop at slightly different places (ours reaches the higher likelihood
    # here), so the components agree to a few percent, the fixed effects to 1e-3.
    vc = dict(zip(ref.model.exog_vc.names, np.sqrt(ref.vcomp), strict=True))
    mine = info["variance_components_sd"]
    assert mine["listener:condition"] == pytest.approx(vc["lc"], rel=0.05)
    assert mine["listener"] == pytest.approx(vc["listener"], rel=0.1)
    assert mine["residual"] == pytest.approx(np.sqrt(ref.scale), rel=0.02)
    assert row.dof == (ratings.listener.nunique() - 1) * 2


def test_cell_means_formulation_equals_crossed_in_balanced_design(ratings):
    crossed, _ = mixed_model(ratings, SYSTEMS)
    cells, info = mixed_model(ratings, SYSTEMS, max_rows=0)
    assert info["formulation"] == "cell_means"
    assert cells["estimate"].to_numpy() == pytest.approx(crossed["estimate"].to_numpy())
    assert cells["se"].to_numpy() == pytest.approx(crossed["se"].to_numpy(), rel=0.02)


def test_agreement_statement():
    w = pd.DataFrame(
        {
            "condition_a": ["a"],
            "condition_b": ["b"],
            "mean_diff": [3.0],
            "p_holm": [0.01],
            "significant": [True],
        }
    )
    m = pd.DataFrame(
        {
            "condition_a": ["a"],
            "condition_b": ["b"],
            "estimate": [3.0],
            "p_holm": [0.2],
            "significant": [False],
        }
    )
    out = agreement(w, m)
    assert not out["agree"] and "disagree on 1 of 1" in out["statement"]
    assert agreement(w, m.assign(significant=True, p_holm=0.02))["agree"]
