"""The synthetic listener panel."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.data import TIDY_COLUMNS, validate
from analysis.errors import AnalysisInputError
from analysis.simulate import PanelConfig, expected_means, parse_conditions, simulate_panel


def test_panel_shape_bounds_and_determinism(small_cfg):
    a = simulate_panel(small_cfg, seed=1)
    b = simulate_panel(small_cfg, seed=1)
    assert list(a.ratings.columns) == list(TIDY_COLUMNS)
    assert len(a.ratings) == 14 * 8 * 5
    assert a.ratings.equals(b.ratings)
    s = a.ratings["score"]
    assert s.between(0, 100).all() and (s == np.round(s)).all()
    validate(a.ratings)


def test_subset_design_and_training():
    cfg = PanelConfig(n_listeners=10, n_items=20, items_per_listener=6, training_items=1)
    r = simulate_panel(cfg, seed=2).ratings
    per = r[~r.is_training].groupby("listener")["item"].nunique()
    assert (per == 6).all()
    assert r.loc[r.is_training, "item"].unique().tolist() == ["training1"]
    counts = r[~r.is_training].groupby("item")["listener"].nunique()
    assert counts.max() - counts.min() <= 1  # rotation spreads listeners evenly


def test_careless_listeners_rate_reference_low():
    cfg = PanelConfig(n_listeners=200, n_items=10, careless_share=0.2)
    p = simulate_panel(cfg, seed=3)
    assert 20 < len(p.careless) < 60
    ref = p.ratings[p.ratings.role == "hidden_reference"]
    careless = ref.listener.isin(p.careless)
    assert ref.loc[careless, "score"].mean() < 70
    assert (ref.loc[~careless, "score"] < 90).mean() == pytest.approx(0.03, abs=0.01)


def test_expected_means_track_the_simulation():
    cfg = PanelConfig(n_listeners=400, n_items=40, careless_share=0.0)
    truth = expected_means(cfg, n_draws=100_000)
    r = simulate_panel(cfg, seed=4).ratings
    got = r.groupby("condition")["score"].mean()
    for c in ("baseline", "camp"):
        assert got[c] == pytest.approx(truth[c], abs=1.5)


def test_parse_conditions_and_errors():
    conds = parse_conditions("r:hidden_reference:100, b:system:50")
    assert [c.name for c in conds] == ["r", "b"]
    with pytest.raises(AnalysisInputError):
        parse_conditions("r:hidden_reference")
    with pytest.raises(AnalysisInputError, match="hidden_reference"):
        simulate_panel(PanelConfig(conditions=parse_conditions("b:system:50")))
