"""Release vs candidate: summaries, tolerances and verdicts. Pure (no files, no models).

Every metric is summarised per version in its display unit (value * scale): the mean over
sentences, or for WER the ratio of summed errors to summed reference words. The *worsening*
of the candidate is candidate - release for a lower-is-better metric, release - candidate
for a higher-is-better one, and for a "natural" metric the growth of the distance to the
recordings' value: |candidate - target| - |release - target|. A gated metric whose worsening
exceeds its tolerance fails the check, and so does one the candidate leaves undefined where
the release had a value (e.g. no voiced frame left, so no F0 range).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from synthesis.regression.config import Tolerance
from synthesis.regression.metrics import METRICS, RegressionMetric, column

N_WORST = 3


@dataclass(frozen=True)
class MetricComparison:
    metric: str
    release: float
    candidate: float
    worsening: float            # > 0: the candidate is worse by this much (display unit)
    tolerance: float
    gate: bool
    verdict: str                # "worse", "better", "ok", "undefined" (candidate lost it), "n/a"
    n_sentences: int            # sentences with a value for both versions
    target: float | None = None  # the recordings' value, for "natural" metrics
    p_value: float | None = None  # paired Wilcoxon over sentences (informative only)
    worst: list[dict] = field(default_factory=list)  # sentences where the candidate lost most

    @property
    def spec(self) -> RegressionMetric:
        return METRICS[self.metric]

    @property
    def fails(self) -> bool:
        return self.gate and self.verdict in ("worse", "undefined")

    def to_json(self) -> dict:
        def num(x):
            return None if x is None or not np.isfinite(x) else float(x)
        return {"metric": self.metric, "label": self.spec.label, "unit": self.spec.unit,
                "scope": self.spec.scope, "better": self.spec.better, "release": num(self.release),
                "candidate": num(self.candidate), "target": num(self.target),
                "worsening": num(self.worsening), "tolerance": self.tolerance, "gate": self.gate,
                "verdict": self.verdict, "fails": self.fails, "n_sentences": self.n_sentences,
                "p_value": num(self.p_value), "worst": self.worst}


def summarise(values: np.ndarray, metric: RegressionMetric) -> float:
    """The version's value of ``metric`` in display units (NaN rows dropped)."""
    v = np.asarray(values, dtype=np.float64)
    if metric.aggregate == "ratio":
        v = v[~np.isnan(v).any(axis=1)] if v.size else v.reshape(0, 2)
        if not len(v) or v[:, 1].sum() <= 0:
            return float("nan")
        return float(v[:, 0].sum() / v[:, 1].sum() * metric.scale)
    v = v[~np.isnan(v)]
    return float(v.mean() * metric.scale) if v.size else float("nan")


def per_sentence(values: np.ndarray, metric: RegressionMetric) -> np.ndarray:
    """One display-unit number per sentence (a ratio metric: errors / words of that sentence)."""
    v = np.asarray(values, dtype=np.float64)
    if metric.aggregate == "ratio":
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(v[:, 1] > 0, v[:, 0] / v[:, 1], np.nan) * metric.scale
    return v * metric.scale


def badness(values: np.ndarray, metric: RegressionMetric, target: float | None) -> np.ndarray:
    """Per-sentence numbers where larger is worse (for paired tests and the worst sentences)."""
    if metric.better == "lower":
        return values
    if metric.better == "higher":
        return -values
    return np.abs(values - target)


def compare_metric(name: str, ids: list[str], release: dict, candidate: dict, tolerance: Tolerance,
                   recordings: dict | None = None) -> MetricComparison:
    """Compare one metric over the sentences ``ids``.

    Args:
        release, candidate: sentence id -> metric name -> value (``metrics.column`` layout).
        recordings: the same for the recordings (needed by "natural" metrics: their target).
    """
    from synthesis.evaluation.stats import paired_wilcoxon

    metric = METRICS[name]
    col_r, col_c = column(release, ids, metric), column(candidate, ids, metric)
    rel, cand = summarise(col_r, metric), summarise(col_c, metric)
    target = None
    if metric.better == "natural":
        rec_ids = [i for i in ids if i in (recordings or {})]
        target = summarise(column(recordings or {}, rec_ids, metric), metric) if rec_ids else float("nan")
    if metric.better == "lower":
        worsening = cand - rel
    elif metric.better == "higher":
        worsening = rel - cand
    else:
        worsening = abs(cand - target) - abs(rel - target)
    ps_r, ps_c = per_sentence(col_r, metric), per_sentence(col_c, metric)
    both = ~(np.isnan(ps_r) | np.isnan(ps_c))
    if not np.isfinite(rel) and not np.isfinite(cand) or (metric.better == "natural" and not np.isfinite(target)):
        verdict = "n/a"
    elif not np.isfinite(cand) or np.isnan(ps_c).sum() > np.isnan(ps_r).sum():
        verdict = "undefined"  # the candidate lost the value on sentences where the release had one
    elif not np.isfinite(rel):
        verdict = "better"  # the candidate defines what the release could not
    elif worsening > tolerance.max_worse + 1e-9:
        verdict = "worse"
    elif worsening < -tolerance.max_worse - 1e-9:
        verdict = "better"
    else:
        verdict = "ok"
    p_value, worst = None, []
    if both.any() and verdict != "n/a":
        b_r, b_c = badness(ps_r, metric, target), badness(ps_c, metric, target)
        p_value = paired_wilcoxon(b_r, b_c).p_value
        loss = np.where(both, b_c - b_r, -np.inf)
        for k in np.argsort(-loss)[:N_WORST]:
            if loss[k] > 0:
                worst.append({"id": ids[k], "release": float(ps_r[k]), "candidate": float(ps_c[k]),
                              "worsening": float(loss[k])})
    return MetricComparison(name, rel, cand, float(worsening), tolerance.max_worse, tolerance.gate, verdict,
                            int(both.sum()), target, p_value, worst)


def compare_versions(sentence_ids: dict[str, list[str]], release: dict, candidate: dict,
                     tolerances: dict[str, Tolerance], recordings: dict | None = None) -> list[MetricComparison]:
    """Every configured metric over its scope's sentences (``sentence_ids``: scope -> ids)."""
    return [compare_metric(name, sentence_ids[METRICS[name].scope], release, candidate, tol, recordings)
            for name, tol in tolerances.items()]
