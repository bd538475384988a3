"""How fast do a checkpoint's predicted features move, against the recordings'?

Teacher-forced pass (the model's own aligner on the recording) over the first N test clips;
for each feature group, the mean absolute frame-to-frame change of the prediction divided by
that of the recording's features (1: as lively as the recording; well below 1: smeared
transitions). With ``--enhanced`` the prediction first goes through the spectral enhancement
(GV scaling only; the postfilter leaves the time course alone).

    python benchmarks/feature_dynamics.py checkpoints/baseline/model.pt [--enhanced] [--clips 20]

Result (2026-11-29): benchmarks/results/baseline_wer_probes.md.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch

#: WORLD feature groups (dims of the 64-dim frame: 60 mel-cepstra, log-F0, voicing, 2 aperiodicity)
GROUPS = {"c0": [0], "c1-c10": list(range(1, 11)), "c11-c59": list(range(11, 60)), "log-F0": [60],
          "aperiodicity": [62, 63]}


def main() -> None:
    from synthesis.features.enhance import Enhancement, enhance_features
    from synthesis.training.checkpoint import load_checkpoint, rebuild_model
    from synthesis.training.data import collate, load_items

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint")
    ap.add_argument("--cache", default="cache/ljspeech-mini")
    ap.add_argument("--split-file", default="data/splits/ljspeech-mini.json")
    ap.add_argument("--clips", type=int, default=20)
    ap.add_argument("--enhanced", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(1)
    ck = load_checkpoint(args.checkpoint)
    model = rebuild_model(ck, args.checkpoint).eval()
    if model.cfg.feature_kind != "world":
        raise SystemExit("feature_dynamics: WORLD checkpoints only")
    ids = json.loads(open(args.split_file, encoding="utf-8").read())["test"][: args.clips]
    items = load_items(args.cache, ids, "world", ck.get("cache_hashes") or None)
    std, mean = model.target_std.numpy(), model.target_mean.numpy()
    pred_change, rec_change = [], []
    with torch.no_grad():
        for it in items:
            batch = collate([it.arrays])
            pred = model(batch)["after"][0].numpy() * std + mean
            if args.enhanced:
                pred = enhance_features(pred, "world", model.target_gv.numpy(), Enhancement(postfilter_beta=1.0))
            rec = batch["target"][0].numpy()
            pred_change.append(np.abs(np.diff(pred, axis=0)).mean(0))
            rec_change.append(np.abs(np.diff(rec, axis=0)).mean(0))
    ratio = np.mean(pred_change, 0) / np.maximum(np.mean(rec_change, 0), 1e-9)
    print(f"{args.checkpoint} ({'enhanced' if args.enhanced else 'raw'}, {len(items)} test clips): "
          "predicted / recorded mean |frame-to-frame change|")
    for name, dims in GROUPS.items():
        print(f"  {name:13s} {ratio[dims].mean():.2f}")


if __name__ == "__main__":
    main()
