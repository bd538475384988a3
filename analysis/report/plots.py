"""Report figures as PNG bytes (matplotlib, headless: the Agg canvas, no pyplot state)."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

from analysis.data import rated

PLOT_FILES = {
    "boxplot": "boxplot.png",
    "means": "means_ci.png",
    "items": "item_means.png",
}
_ROLE_COLOURS = {"hidden_reference": "#4d4d4d", "anchor": "#b0b0b0", "system": "#3a76af"}


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _png(fig) -> bytes:
    buf = io.BytesIO()
    # Fixed metadata: the same data give byte-identical files.
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


def make_plots(data: pd.DataFrame, report: dict) -> dict[str, bytes]:
    """The report's figures: box plots, means with CIs, per-item means (file name -> PNG)."""
    data = rated(data)
    listeners_kept = {r["listener"] for r in report["screening"]["listeners"] if not r["excluded"]}
    data = data[data["listener"].isin(listeners_kept)]
    desc = report["descriptives"]
    order = [d["condition"] for d in desc]
    roles = {d["condition"]: d["role"] for d in desc}
    return {
        PLOT_FILES["boxplot"]: _boxplot(data, order, roles),
        PLOT_FILES["means"]: _means(desc),
        PLOT_FILES["items"]: _item_means(data, order, roles),
    }


def _boxplot(data, order, roles) -> bytes:
    groups = data.groupby("condition")["score"]
    values = [groups.get_group(c).to_numpy() for c in order]
    fig = _figure(max(5.0, 1.0 + 0.8 * len(order)), 4.0)
    ax = fig.add_subplot()
    few = max(len(v) for v in values) <= 20_000  # thousands of fliers only blacken the plot
    bp = ax.boxplot(values, showfliers=few, patch_artist=True, widths=0.6)
    ax.set_xticks(range(1, len(order) + 1), order)
    for patch, c in zip(bp["boxes"], order, strict=True):
        patch.set_facecolor(_ROLE_COLOURS[roles[c]])
        patch.set_alpha(0.6)
    ax.set_ylim(-2, 102)
    ax.set_ylabel("rating (0-100)")
    ax.set_title("Ratings per condition (after post-screening)")
    ax.tick_params(axis="x", labelrotation=30)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return _png(fig)


def _means(desc) -> bytes:
    fig = _figure(max(5.0, 1.0 + 0.8 * len(desc)), 4.0)
    ax = fig.add_subplot()
    x = np.arange(len(desc))
    mean = np.array([d["mean"] for d in desc])
    t_lo = np.array([d["ci_low_t"] for d in desc])
    t_hi = np.array([d["ci_high_t"] for d in desc])
    b_lo = np.array([d["ci_low_boot"] for d in desc])
    b_hi = np.array([d["ci_high_boot"] for d in desc])
    ax.errorbar(
        x - 0.1,
        mean,
        yerr=[mean - t_lo, t_hi - mean],
        fmt="o",
        capsize=4,
        label="95 % CI, t (listeners)",
    )
    ax.errorbar(
        x + 0.1,
        mean,
        yerr=[mean - b_lo, b_hi - mean],
        fmt="s",
        capsize=4,
        label="95 % CI, bootstrap (listeners and items)",
    )
    ax.set_xticks(x, [d["condition"] for d in desc])
    ax.set_ylim(-2, 102)
    ax.set_ylabel("mean rating")
    ax.set_title("Condition means with confidence intervals")
    ax.tick_params(axis="x", labelrotation=30)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    return _png(fig)


def _item_means(data, order, roles) -> bytes:
    table = data.pivot_table(
        index="item", columns="condition", values="score", aggfunc="mean", observed=True
    )
    systems = [c for c in order if roles[c] == "system" and c in table.columns]
    key = table[systems].mean(axis=1) if systems else table.mean(axis=1)
    table = table.loc[key.sort_values().index]
    n_items = len(table)
    fig = _figure(min(max(6.0, 0.25 * n_items + 2), 20.0), 4.5)
    ax = fig.add_subplot()
    x = np.arange(n_items)
    for c in order:
        if c in table.columns:
            ax.plot(
                x,
                table[c].to_numpy(),
                marker="o",
                markersize=3 if n_items <= 60 else 1.5,
                linewidth=0.8,
                label=c,
            )
    if n_items <= 60:
        ax.set_xticks(x, table.index, fontsize=7)
        ax.tick_params(axis="x", labelrotation=90)
    else:
        ax.set_xlabel(f"{n_items} items, sorted by the mean of the systems")
    ax.set_ylim(-2, 102)
    ax.set_ylabel("mean rating over listeners")
    ax.set_title("Per-item means")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7, ncol=min(len(order), 5), loc="lower right")
    fig.tight_layout()
    return _png(fig)
