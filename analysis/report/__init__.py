"""The whole report: build it from ratings, render it, write it, gate on it.

Python API::

    from analysis.data import load
    from analysis.report import ReportOptions, run_report

    data, source = load(csv_path="ratings.csv")
    report = run_report(data, source, ReportOptions(baseline="baseline"), out_dir="out")
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from analysis.report.build import SCHEMA, SCHEMA_VERSION, ReportOptions, build_report
from analysis.report.write import render_all, write_files

__all__ = ["SCHEMA", "SCHEMA_VERSION", "ReportOptions", "build_report", "run_report"]


def run_report(
    data: pd.DataFrame,
    source: dict | None,
    options: ReportOptions,
    out_dir: str | Path | None = None,
    plots: bool = True,
) -> dict:
    """Build the report and, with ``out_dir``, write report.md/.html/.json and the plots.

    All computation and rendering happen before the first file is written.
    """
    report = build_report(data, source, options)
    if out_dir is not None:
        files = render_all(report, data, plots=plots)
        write_files(files, out_dir)
    return report
