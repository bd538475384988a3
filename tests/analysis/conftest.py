"""Fixtures for the analysis tests: small seeded panels and hand-made tables."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.simulate import PanelConfig, SimCondition, simulate_panel

CONDITIONS = (
    SimCondition("ref", "hidden_reference", 100.0),
    SimCondition("anchor", "anchor", 20.0),
    SimCondition("base", "system", 55.0),
    SimCondition("good", "system", 65.0),
    SimCondition("same", "system", 55.0),
)


@pytest.fixture(scope="session")
def small_cfg() -> PanelConfig:
    return PanelConfig(n_listeners=14, n_items=8, conditions=CONDITIONS, careless_share=0.0)


@pytest.fixture(scope="session")
def panel(small_cfg):
    return simulate_panel(small_cfg, seed=7)


@pytest.fixture()
def ratings(panel) -> pd.DataFrame:
    return panel.ratings.copy()


def tidy_rows(rows) -> pd.DataFrame:
    """Tidy table from (listener, item, condition, role, score) tuples."""
    frame = pd.DataFrame(rows, columns=["listener", "item", "condition", "role", "score"])
    frame.insert(0, "test", "t")
    frame["time_spent_s"] = 10.0
    frame["all_played"] = True
    frame["is_training"] = False
    return frame
