"""Post-screening of listeners, ITU-R BS.1534-3 section 4.1.2.

The Recommendation excludes an assessor "if he or she rates the hidden reference condition for
more than 15 % of the test items lower than a score of 90". Both numbers are parameters here.
Training trials never count (the caller passes rated trials only, see :func:`screen_listeners`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.data import rated

SCREENING_COLUMNS = (
    "listener",
    "n_items",
    "n_reference_below",
    "fraction_below",
    "excluded",
    "reason",
)

DEFAULT_REFERENCE_THRESHOLD = 90.0
DEFAULT_MAX_FRACTION = 0.15


def screen_listeners(
    data: pd.DataFrame,
    reference_threshold: float = DEFAULT_REFERENCE_THRESHOLD,
    max_fraction: float = DEFAULT_MAX_FRACTION,
    enabled: bool = True,
) -> pd.DataFrame:
    """One row per listener: how often they rated the hidden reference below the threshold.

    Args:
        data: tidy ratings (training trials are ignored here).
        reference_threshold: a hidden-reference rating below this counts as a miss (90).
        max_fraction: a listener with a larger share of missed items is excluded (0.15;
            "more than 15 %", so exactly 15 % is kept).
        enabled: ``False`` keeps everybody (the table still shows the counts).

    Returns:
        DataFrame with columns :data:`SCREENING_COLUMNS`, sorted by listener. ``n_items`` counts
        the items on which the listener rated the hidden reference.
    """
    if not 0 <= max_fraction <= 1:
        raise ValueError("max_fraction must lie within 0-1")
    data = rated(data)
    listeners = pd.Index(sorted(data["listener"].unique()), name="listener")
    ref = data[data["role"] == "hidden_reference"]
    n_items = ref.groupby("listener")["item"].nunique().reindex(listeners, fill_value=0)
    below = (
        ref[ref["score"] < reference_threshold]
        .groupby("listener")["item"]
        .nunique()
        .reindex(listeners, fill_value=0)
    )
    n = n_items.to_numpy()
    k = below.to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(n > 0, k / np.maximum(n, 1), np.nan)
    excluded = enabled & (n > 0) & (frac > max_fraction + 1e-12)
    reasons = []
    for nn, kk, ff, ex in zip(n, k, frac, excluded, strict=True):
        if nn == 0:
            reasons.append("no hidden-reference ratings: cannot be screened, kept")
        elif ex:
            reasons.append(
                f"rated the hidden reference below {reference_threshold:g} on {kk} of {nn} "
                f"items ({100 * ff:.1f} % > {100 * max_fraction:g} %)"
            )
        elif not enabled:
            reasons.append("screening off")
        else:
            reasons.append("")
    return pd.DataFrame(
        {
            "listener": listeners.to_numpy(),
            "n_items": n.astype(int),
            "n_reference_below": k.astype(int),
            "fraction_below": frac,
            "excluded": excluded.astype(bool),
            "reason": reasons,
        },
        columns=list(SCREENING_COLUMNS),
    )


def apply_screening(data: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """The ratings of the listeners that ``table`` (from :func:`screen_listeners`) keeps."""
    dropped = set(table.loc[table["excluded"], "listener"])
    if not dropped:
        return data
    return data.loc[~data["listener"].isin(dropped)].reset_index(drop=True)
