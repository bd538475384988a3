"""Small seeded versions of the calibration study (full numbers: benchmarks/analysis_validation.py)."""

from __future__ import annotations

from analysis.validation import (
    family_wise_error,
    gap_ci_coverage,
    panel_config,
    power,
    screening_accuracy,
    wilson,
)

SMALL = {"n_listeners": 14, "n_items": 8, "careless_share": 0.0}
# more than 13 listeners: scipy's Wilcoxon then never falls back to a (slow) permutation test


def test_wilson_interval():
    lo, hi = wilson(5, 100)
    assert 0.02 < lo < 0.05 < hi < 0.12


def test_null_false_positives_listener_level_vs_pair_level():
    cfg = panel_config((60.0, 60.0, 60.0), **{**SMALL, "n_items": 16})
    listener = family_wise_error(cfg, 50, seed=100)["wilcoxon_holm"]["rate"]
    pair = family_wise_error(cfg, 50, seed=100, unit="pair")["wilcoxon_holm"]["rate"]
    assert listener <= 0.10
    assert pair >= listener + 0.10  # treating ratings as independent inflates false positives


def test_gap_closure_ci_covers():
    cfg = panel_config((50.0, 60.0), **SMALL)
    res = gap_ci_coverage(cfg, "sys1", "sys2", 40, seed=200, n_boot=400)
    assert res["coverage"]["rate"] >= 0.85
    assert abs(res["mean_estimate_pct"] - res["true_gap_closure_pct"]) < 5


def test_screening_catches_careless():
    cfg = panel_config((60.0, 60.0), n_listeners=20, n_items=10, careless_share=0.25)
    res = screening_accuracy(cfg, 20, seed=300)
    assert res["catch_rate"]["rate"] >= 0.95
    assert res["false_exclusion_rate"]["rate"] <= 0.05


def test_power_for_a_large_effect():
    cfg = panel_config((50.0, 65.0), **SMALL)
    assert power(cfg, "sys2", "sys1", 20, seed=400)["power"]["rate"] >= 0.8
