"""Estimate the `analysis simulate` defaults from real MUSHRA ratings.

    .venv/bin/python benchmarks/analysis_defaults.py PATH/ratings_formated.csv \
        --out benchmarks/results/analysis_defaults.md

Data: the public MUSHRA ratings of Stahl, Windtner & Sontacchi (2024), "A Bitrate-Scalable
Variational Recurrent Mel-Spectrogram Coder for Real-Time Resynthesis-Based Speech Coding",
IEEE Access 12, 159239, doi:10.1109/ACCESS.2024.3482359; file
`mushra_results_dataset/ratings_formated.csv` of github.com/BenjSta/bernoulli-var-speech-codec
(CC BY 4.0). 21 listeners, 16 items, 9 conditions (7 codecs, reference, anchor); every listener
rated 8 of the 16 items (a subset design). The file is not redistributed here.

Fits a crossed REML model (statsmodels MixedLM, one group, variance components) to the seven
codec conditions: score ~ condition + (listener) + (item) + (listener:condition) +
(item:condition), and summarises the hidden-reference ratings and listeners' scale use.
"""

from __future__ import annotations

import argparse
import ast
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd


def load(path: str) -> pd.DataFrame:
    raw = pd.read_csv(path)
    rows = []
    for r in raw.itertuples(index=False):
        for score, pid in zip(
            ast.literal_eval(r.ratings), ast.literal_eval(r.participant_ids), strict=True
        ):
            rows.append((f"L{pid:02d}", r.signal, r.condition, float(score)))
    return pd.DataFrame(rows, columns=["listener", "item", "condition", "score"])


def main(argv=None) -> int:
    import statsmodels.api as sm

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("csv")
    ap.add_argument("--out", default="benchmarks/results/analysis_defaults.md")
    args = ap.parse_args(argv)
    df = load(args.csv)
    ref = df[df.condition == "Reference"]
    below = ref.assign(low=ref.score < 90).groupby("listener")["low"].agg(["sum", "count"])
    failing = below[below["sum"] / below["count"] > 0.15].index.tolist()
    good_ref = ref[~ref.listener.isin(failing)]
    codecs = df[~df.condition.isin(["Reference", "Anchor"])].copy()
    codecs["g"] = 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = sm.MixedLM.from_formula(
            "score ~ 0 + C(condition)",
            groups="g",
            data=codecs,
            vc_formula={
                "listener": "0 + C(listener)",
                "item": "0 + C(item)",
                "listener_condition": "0 + C(listener):C(condition)",
                "item_condition": "0 + C(item):C(condition)",
            },
        ).fit(reml=True, method=["lbfgs"])
    sd = dict(zip(fit.model.exog_vc.names, np.sqrt(fit.vcomp), strict=True))
    sd["residual"] = float(np.sqrt(fit.scale))
    per_listener_sd = codecs.groupby("listener")["score"].std()
    n_per = codecs.groupby("listener")["score"].size().mean()
    log_sd = float(np.log(per_listener_sd).std(ddof=1))
    sampling = 1 / np.sqrt(2 * (n_per - 1))  # SD of log(sample SD) from sampling alone
    scale_sd = float(np.sqrt(max(log_sd**2 - sampling**2, 0.0)))
    lines = [
        "# analysis: simulation defaults estimated from real MUSHRA data",
        "",
        f"Command: `.venv/bin/python benchmarks/analysis_defaults.py {Path(args.csv).name}`",
        "",
        "Data: Stahl, Windtner & Sontacchi (2024), IEEE Access 12, 159239 (CC BY 4.0): "
        f"{df.listener.nunique()} listeners, {df['item'].nunique()} items, "
        f"{df.condition.nunique()} conditions, {len(df)} ratings; items per listener "
        f"{df.groupby('listener')['item'].nunique().min()}-"
        f"{df.groupby('listener')['item'].nunique().max()}.",
        "",
        "Crossed REML fit on the 7 codec conditions (statsmodels MixedLM), SDs in points:",
        "",
        "| component | SD |",
        "|---|---|",
        *[f"| {k} | {v:.1f} |" for k, v in sd.items()],
        "",
        "Hidden reference: "
        f"{(ref.score == 100).mean():.0%} of {len(ref)} ratings are 100, "
        f"{(ref.score < 90).mean():.1%} below 90; listeners failing BS.1534-3 screening: "
        f"{', '.join(failing) or 'none'} ({len(failing)} of {ref.listener.nunique()}); among "
        f"the others {(good_ref.score < 90).mean():.1%} below 90 and "
        f"{(good_ref.score == 100).mean():.0%} exactly 100.",
        "",
        f"Scale use: SD of log(per-listener rating SD) {log_sd:.2f}, of which sampling "
        f"explains {sampling:.2f}; scale-use SD {scale_sd:.2f}.",
        "",
    ]
    text = "\n".join(lines)
    Path(args.out).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
