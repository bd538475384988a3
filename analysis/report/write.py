"""Write report.md, report.html, report.json and the PNG plots into an output folder.

Everything is first written into a temporary folder beside the target and then moved into
place, so a failure never leaves a partial report behind.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pandas as pd

from analysis.errors import AnalysisInputError
from analysis.report.html import render_html
from analysis.report.markdown import render_markdown
from analysis.report.plots import make_plots
from analysis.report.to_json import render_json

REPORT_FILES = ("report.md", "report.html", "report.json")


def render_all(report: dict, data: pd.DataFrame, plots: bool = True) -> dict[str, bytes]:
    """File name -> content of every output file."""
    images = make_plots(data, report) if plots else {}
    report["plots"] = sorted(images)
    files = {
        "report.json": render_json(report).encode("utf-8"),
        "report.md": render_markdown(report, with_plots=plots).encode("utf-8"),
        "report.html": render_html(report, images).encode("utf-8"),
    }
    files.update(images)
    return files


def write_files(files: dict[str, bytes], out_dir: str | Path) -> list[Path]:
    """Atomically place ``files`` into ``out_dir`` (created if needed)."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise AnalysisInputError(f"--out {out}: exists and is not a folder")
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.exists():
        raise AnalysisInputError(f"--out {out}: parent folder {parent} does not exist")
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=parent))
    try:
        for name, content in files.items():
            (tmp / name).write_bytes(content)
        out.mkdir(exist_ok=True)
        written = []
        for name in files:
            target = out / name
            (tmp / name).replace(target)
            written.append(target)
        return written
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
