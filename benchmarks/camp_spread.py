"""Does CAMP stage 2 lose its pitch movement because its predicted word vectors are shrunk?

A squared-error predictor regresses towards the mean, so its vectors spread less than the
recordings' (the F0 std ratio of CAMP stage 2 is below the baseline's). This probe measures the
predicted vs target spread per dimension on a split, then writes copies of a CAMP stage-2
checkpoint whose standardised predictions are scaled by gain**alpha, gain = target std /
predicted std (clamped to [1, 4]; folded into the predictor's output layer), for
`synthesis evaluate` to score.

    python benchmarks/camp_spread.py checkpoints/camp/model.pt runs/camp_spread --split validation --alpha 1
    synthesis evaluate --metrics mcd f0 duration --compare-to baseline \
        --checkpoint baseline=checkpoints/baseline/model.pt --checkpoint camp=checkpoints/camp/model.pt \
        --checkpoint camp-spread=runs/camp_spread/camp_spread1.pt --out out/eval-camp-spread

Result (2026-11-29): benchmarks/results/camp_spread.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from synthesis.models.backbone import ModelConfig, build_model, lengths_to_mask
from synthesis.training import camp_stage2
from synthesis.training.checkpoint import load_checkpoint, save_checkpoint
from synthesis.training.config import TrainSettings
from synthesis.training.data import collate, load_items
from synthesis.training.loop import _split_ids


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint", help="a CAMP stage-2 checkpoint")
    ap.add_argument("out", help="folder for the scaled copies")
    ap.add_argument("--cache", default="cache/ljspeech-mini")
    ap.add_argument("--split", choices=["train", "validation"], default="validation")
    ap.add_argument("--alpha", type=float, nargs="+", default=[1.0])
    args = ap.parse_args()
    torch.set_num_threads(1)
    ck = load_checkpoint(args.checkpoint, "camp")
    model = build_model(ModelConfig.from_dict(ck["config"]["model"]))
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in ck["state_dict"].items()})
    model.eval()

    class _Cfg:
        train = TrainSettings(cache=args.cache)

    split, _ = _split_ids(_Cfg)
    items = load_items(args.cache, getattr(split, args.split), model.cfg.feature_kind, None)
    items = camp_stage2.precompute(model, items, 6000, torch.device("cpu"))
    net = model.prosody.predictor
    preds, targets = [], []
    with torch.no_grad():
        for s in range(0, len(items), 32):
            b = collate([it.arrays for it in items[s:s + 32]])
            out = net(b, b["camp_encoder_out"], lengths_to_mask(b["phone_lens"], b["phoneme_ids"].shape[1]),
                      model.prosody)
            keep = out["word_mask"] & (b["camp_frame_counts"] > 0)
            preds.append(out["vectors_norm"][keep])
            targets.append(((b["camp_target"] - net.vector_mean) / net.vector_std)[keep])
    p, t = torch.cat(preds), torch.cat(targets)
    gain = (t.std(0) / p.std(0)).clamp(1.0, 4.0)
    print(f"{args.split}: {len(p)} tokens")
    print("predicted std", np.round(p.std(0).numpy(), 3), "target std", np.round(t.std(0).numpy(), 3))
    print("correlation per dimension", [round(float(np.corrcoef(p[:, d], t[:, d])[0, 1]), 3) for d in range(p.shape[1])])
    print("gain", np.round(gain.numpy(), 3))
    Path(args.out).mkdir(parents=True, exist_ok=True)
    for alpha in args.alpha:
        g = gain ** alpha
        sd = dict(ck["state_dict"])
        for name, scale in (("weight", g[:, None]), ("bias", g)):
            key = f"prosody.predictor.out.{name}"
            sd[key] = (sd[key].float() * scale).to(sd[key].dtype)
        path = Path(args.out) / f"camp_spread{alpha:g}.pt"
        save_checkpoint(path, {**ck, "state_dict": sd})
        print("wrote", path)


if __name__ == "__main__":
    main()
