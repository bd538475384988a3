"""Calibrate the objective evaluation: every metric for the recordings and copy synthesis.

Runs ``synthesis evaluate`` without checkpoints on the test split (40 clips of the bundled
corpus) with a fresh cache, so the timings are cold, then checks the pause detector on the
recordings, and writes ``benchmarks/results/copy_synthesis.md``.

    nohup python benchmarks/evaluation_copy_synthesis.py > out/copy_synthesis.log 2>&1 &

Options: ``--limit N`` (fewer clips), ``--out DIR`` (default out/eval-copy-synthesis),
``--cache DIR`` (default out/eval-copy-synthesis-cache; delete it for cold timings).
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def pause_validation(results: dict) -> list[str]:
    """How the pause detector behaves on the recordings (and on sample-aligned copies)."""
    rec = results["per_clip"]["recordings"]
    lines = []
    n_j = sum(v["pauses"]["n_punct_junctions"] for v in rec.values())
    n_p = sum(v["pauses"]["n_punct_paused"] for v in rec.values())
    at = sum(v["pauses"]["at_punctuation"] for v in rec.values())
    tot = sum(v["pauses"]["total"] for v in rec.values())
    lines.append(f"- Recordings: {n_p} of {n_j} sentence-internal punctuation junctions "
                 f"({100 * n_p / max(n_j, 1):.0f} %) carry a detected pause; {at:.1f} s of the {tot:.1f} s "
                 f"of internal pauses ({100 * at / max(tot, 1e-9):.0f} %) fall at punctuation.")
    for name in results["per_clip"]:
        if name == "recordings":
            continue
        sysv = results["per_clip"][name]
        s_at = sum(v["pauses"]["at_punctuation"] for v in sysv.values())
        s_tot = sum(v["pauses"]["total"] for v in sysv.values())
        lines.append(f"- {name} (same timing as the recording by construction): pause at punctuation "
                     f"{s_at:.1f} s vs {at:.1f} s (ratio {s_at / max(at, 1e-9):.3f}), all internal pauses "
                     f"{s_tot:.1f} s vs {tot:.1f} s.")
    return lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int)
    ap.add_argument("--out", default=str(ROOT / "out" / "eval-copy-synthesis"))
    ap.add_argument("--cache", default=str(ROOT / "out" / "eval-copy-synthesis-cache"))
    ap.add_argument("--report", default=str(ROOT / "benchmarks" / "results" / "copy_synthesis.md"))
    args = ap.parse_args()

    from synthesis.evaluation.pipeline import EvaluationRequest, run_evaluation
    from synthesis.evaluation.report import markdown_table

    t0 = time.perf_counter()
    req = EvaluationRequest(out=Path(args.out), limit=args.limit, cache=Path(args.cache), force=True,
                            progress=True)
    ev, out = run_evaluation(req)
    wall = time.perf_counter() - t0
    results = json.loads((out / "results.json").read_text())

    lines = ["# Copy synthesis and recordings: calibrating the objective evaluation", ""]
    lines += [f"Command: `python benchmarks/evaluation_copy_synthesis.py{' --limit ' + str(args.limit) if args.limit else ''}` "
              f"(= `synthesis evaluate --out {Path(args.out).name}` without checkpoints). "
              f"Machine: {platform.machine()}, 2 shared CPU cores, Python {platform.python_version()}.", ""]
    lines.append(markdown_table(ev, f"Test split of {ev.clip_ids and 'ljspeech-mini'} ({len(ev.clip_ids)} clips)"))
    lines += ["## Pause detector on the recordings", ""]
    lines += pause_validation(results)
    lines += ["", "## Timings (cold cache, shared CPU)", "",
              f"Whole run: {wall / 60:.1f} min.", "", "| system | stage | clips | seconds | s/clip |",
              "|---|---|---|---|---|"]
    for name, stages in results["timings"].items():
        for stage, t in stages.items():
            per = t["seconds"] / t["clips"] if t["clips"] else float("nan")
            lines.append(f"| {name} | {stage} | {t['clips']} | {t['seconds']:.1f} | {per:.2f} |")
    Path(args.report).write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
