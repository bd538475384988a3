"""Post-screening per ITU-R BS.1534-3 (hidden reference below 90 on more than 15 % of items)."""

from __future__ import annotations

import pandas as pd

from analysis.screening import apply_screening, screen_listeners
from tests.analysis.conftest import tidy_rows


def _table(n_below: dict[str, int], n_items: int = 20, training_low: bool = True):
    rows = []
    for lis, k in n_below.items():
        for i in range(n_items):
            rows.append((lis, f"i{i}", "ref", "hidden_reference", 80 if i < k else 100))
            rows.append((lis, f"i{i}", "sys", "system", 50))
    frame = tidy_rows(rows)
    if training_low:  # training trials with a low reference never count
        extra = tidy_rows([(lis, "train", "ref", "hidden_reference", 0) for lis in n_below])
        extra["is_training"] = True
        frame = pd.concat([frame, extra], ignore_index=True)
    return frame


def test_rule_is_more_than_15_percent():
    data = _table({"keep0": 0, "keep3": 3, "drop4": 4, "drop20": 20})
    table = screen_listeners(data).set_index("listener")
    # 3 of 20 = 15 % is not "more than 15 %"; 4 of 20 = 20 % is.
    assert not table.at["keep3", "excluded"]
    assert table.at["drop4", "excluded"]
    assert table.at["drop20", "excluded"]
    assert table.at["keep0", "n_items"] == 20  # the training trial is not an item here
    assert table.at["drop4", "fraction_below"] == 0.2
    assert "below 90 on 4 of 20 items (20.0 % > 15 %)" in table.at["drop4", "reason"]
    kept = apply_screening(data, table.reset_index())
    assert set(kept["listener"]) == {"keep0", "keep3"}


def test_thresholds_configurable_and_off():
    data = _table({"a": 3, "b": 0})
    table = screen_listeners(data, max_fraction=0.10).set_index("listener")
    assert table.at["a", "excluded"]
    table = screen_listeners(data, reference_threshold=79).set_index("listener")
    assert not table["excluded"].any()  # 80 is not below 79
    off = screen_listeners(_table({"a": 20, "b": 0}), enabled=False)
    assert not off["excluded"].any()
    assert off.set_index("listener").at["a", "n_reference_below"] == 20
