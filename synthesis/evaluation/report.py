"""Rendering an evaluation: the markdown table and the F0-contour plot (no computation)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from synthesis.evaluation.runner import Evaluation, MetricSpec


def _fmt(x: float | None, metric: MetricSpec) -> str:
    if x is None:
        return "–"
    return f"{x * metric.scale:.{metric.digits}f}"


def _cell(est: dict, metric: MetricSpec) -> str:
    value = _fmt(est["value"], metric)
    lo, hi = est["ci95"]
    if lo is None or hi is None:
        return value
    return f"{value} [{_fmt(lo, metric)}, {_fmt(hi, metric)}]"


def markdown_table(ev: Evaluation, title: str | None = None) -> str:
    """Metric rows x system columns, each cell ``value [95 % CI]``; then the paired tests."""
    names = [s["name"] for s in ev.systems]
    lines = []
    if title:
        lines += [f"## {title}", ""]
    lines.append(f"{len(ev.clip_ids)} clips; value [bootstrap 95 % CI over clips].")
    lines.append("")
    lines.append("| metric | unit | better | " + " | ".join(names) + " |")
    lines.append("|---|---|---|" + "---|" * len(names))
    for m in ev.metrics():
        cells = [_cell(ev.summary[n][m.name], m) for n in names]
        lines.append(f"| {m.label} | {m.unit} | {m.better} | " + " | ".join(cells) + " |")
    if ev.paired_tests:
        pairs = []
        for t in ev.paired_tests:
            if (t["a"], t["b"]) not in pairs:
                pairs.append((t["a"], t["b"]))
        lines += ["", ("Paired two-sided Wilcoxon signed-rank tests over clips (p-values; "
                       "median per-clip difference a - b in brackets):"), ""]
        lines.append("| metric | " + " | ".join(f"{a} vs {b}" for a, b in pairs) + " |")
        lines.append("|---|" + "---|" * len(pairs))
        for m in ev.metrics():
            cells = []
            for a, b in pairs:
                t = next(t for t in ev.paired_tests if t["a"] == a and t["b"] == b and t["metric"] == m.name)
                p = "–" if t["p_value"] is None else (f"{t['p_value']:.2g}")
                diff = t["median_difference"]
                scale = 1.0 if m.name == "pause_punct_ratio" else m.scale
                cells.append(p if diff is None else f"{p} ({diff * scale:+.{m.digits}f})")
            lines.append(f"| {m.label} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot_f0_contours(ev: Evaluation, path: Path, clip_ids: list[str], texts: dict[str, str]) -> bool:
    """F0 over time of each system against the recording, one panel per clip.

    Each system on its own time axis (trimmed speech), so tempo differences stay visible.
    Returns False (and writes nothing) when no F0 was computed.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [s["name"] for s in ev.systems if ev.f0.get(s["name"])]
    clip_ids = [c for c in clip_ids if all(c in ev.f0[n] for n in names)]
    if not names or not clip_ids:
        return False
    frame_s = 256 / 22_050
    fig, axes = plt.subplots(len(clip_ids), 1, figsize=(11, 2.8 * len(clip_ids)), squeeze=False)
    for ax, cid in zip(axes[:, 0], clip_ids):
        for k, name in enumerate(names):
            f0 = np.asarray(ev.f0[name][cid], dtype=np.float64)
            f0 = np.where(f0 > 0, f0, np.nan)
            t = np.arange(len(f0)) * frame_s
            style = {"color": "black", "linewidth": 2.0} if k == 0 else {"linewidth": 1.2, "alpha": 0.85}
            ax.plot(t, f0, label=name, **style)
        text = texts.get(cid, "")
        ax.set_title(f"{cid}: {text[:90]}{'…' if len(text) > 90 else ''}", fontsize=9)
        ax.set_ylabel("F0 (Hz)")
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("time in trimmed speech (s)")
    axes[0, 0].legend(fontsize=8, ncol=min(len(names), 5), loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
