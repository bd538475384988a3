"""Choose the spectral enhancement (global variance + mel-cepstral postfilter) by measurement.

Synthesises a split's sentences with one checkpoint under several settings of
``synthesis.features.enhance.Enhancement`` and scores each with DistillMOS and Whisper WER
(the same scorers as ``synthesis evaluate``). Pick the setting on the validation split;
confirm it on the test split with ``synthesis evaluate`` (which uses the default setting).

    python benchmarks/feature_enhancement.py checkpoints/baseline/model.pt --split validation \
        --settings 0:1 1:1 1:1.2 1:1.4 1.25:1.2 --out benchmarks/results/feature_enhancement_validation.json

A setting is ``GV_STRENGTH:POSTFILTER_BETA`` (``0:1`` = the raw prediction).
Result (2026-11-29): benchmarks/results/feature_enhancement.md.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch


def main() -> None:
    from synthesis.evaluation.asr import transcribe
    from synthesis.evaluation.metrics import word_errors
    from synthesis.evaluation.mos import distillmos_scores
    from synthesis.evaluation.pipeline import EvaluationRequest, check_request
    from synthesis.evaluation.stats import bootstrap_ci
    from synthesis.evaluation.text_norm import normalise_for_wer
    from synthesis.features.enhance import Enhancement
    from synthesis.inference import Synthesizer

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint")
    ap.add_argument("--split", choices=["validation", "test"], default="validation")
    ap.add_argument("--settings", nargs="+", default=["0:1", "1:1", "1:1.2", "1:1.4"])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    _, items, _ = check_request(EvaluationRequest(out=Path("/nonexistent/unused"), split=args.split))
    texts = [it.text for it in items]
    results = {}
    for setting in args.settings:
        gv, beta = (float(v) for v in setting.split(":"))
        synth = Synthesizer.from_checkpoint(args.checkpoint, enhancement=Enhancement(gv, beta))
        t0 = time.perf_counter()
        waves = synth.synthesise(texts)
        mos = np.array(distillmos_scores(waves, synth.sample_rate))
        errors = [word_errors(normalise_for_wer(t), normalise_for_wer(transcribe(w, synth.sample_rate).text))
                  for t, w in zip(texts, waves)]
        wer = 100 * sum(e.errors for e in errors) / sum(e.n_ref for e in errors)
        results[setting] = {"gv_strength": gv, "postfilter_beta": beta, "distillmos": float(mos.mean()),
                            "distillmos_ci": bootstrap_ci(mos).to_json()["ci95"], "wer_percent": wer,
                            "distillmos_clips": mos.tolist(), "wer_clips": [e.wer for e in errors],
                            "seconds": round(time.perf_counter() - t0, 1)}
        print(f"{args.split} gv={gv} beta={beta}: DistillMOS {mos.mean():.2f} WER {wer:.1f} %", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"checkpoint": args.checkpoint, "split": args.split, "clips": len(items),
                                    "results": results}, indent=1))


if __name__ == "__main__":
    main()
