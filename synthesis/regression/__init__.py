"""Regression check of a TTS checkpoint against the last release (``synthesis regress``).

Layers: ``sentences`` (the committed text set), ``config`` (metrics and tolerances),
``metrics`` (per-utterance measurements), ``compare`` (pure: summaries, tolerances,
verdicts), ``report`` (markdown), ``run`` (synthesis, measurement, the listening set and the
output folder).
"""

from synthesis.regression.run import RegressionRequest, RegressionResult, run_regression

__all__ = ["RegressionRequest", "RegressionResult", "run_regression"]
