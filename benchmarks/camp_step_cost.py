"""Cost of CAMP's reference encoder per training step against the baseline, same batch.

Runs forward + backward of ``configs/baseline_cpu.toml`` and ``configs/camp_stage1.toml``
(same seed, same clips) alternately on one thread and reports the median step time of each,
plus stage 2's precompute and step time on the same clips (a stage-1 model with random
weights: the cost does not depend on them).

    python benchmarks/camp_step_cost.py --cache /tmp/camp/cache --clips LJ002-0020 ... --steps 8
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch


def main() -> None:
    from synthesis.models.backbone import build_model, training_step
    from synthesis.training.camp_stage2 import (
        Stage2Config,
        build_stage2_model,
        precompute,
        step_losses,
    )
    from synthesis.training.config import load_config
    from synthesis.training.data import collate, feature_stats, load_items

    ap = argparse.ArgumentParser()
    ap.add_argument("--cache", required=True)
    ap.add_argument("--clips", nargs="+", required=True)
    ap.add_argument("--steps", type=int, default=8)
    args = ap.parse_args()
    torch.set_num_threads(1)
    items = load_items(args.cache, args.clips, "world")
    batch = collate([it.arrays for it in items])
    frames = int(batch["frame_lens"].sum())
    models = {}
    for name in ("baseline_cpu", "camp_stage1"):
        cfg = load_config(f"configs/{name}.toml")
        torch.manual_seed(0)
        m = build_model(cfg.model)
        m.set_stats(**feature_stats(items))
        models[name] = (m, torch.optim.AdamW(m.parameters(), 1e-4), cfg.loss)
    times = {k: [] for k in models}
    for _ in range(args.steps):
        for name, (m, opt, loss_w) in models.items():
            t0 = time.perf_counter()
            losses = training_step(m, batch, 1000, loss_w)
            opt.zero_grad()
            losses["total"].backward()
            opt.step()
            times[name].append(time.perf_counter() - t0)
    base = statistics.median(times["baseline_cpu"])
    camp = statistics.median(times["camp_stage1"])
    n_params = {k: sum(p.numel() for p in m.parameters()) for k, (m, _, _) in models.items()}
    print(f"clips {len(items)}, frames {frames}, steps {args.steps}")
    print(f"baseline step {base:.3f} s ({n_params['baseline_cpu'] / 1e6:.2f} M params)")
    print(f"camp stage 1 step {camp:.3f} s ({n_params['camp_stage1'] / 1e6:.2f} M params), x{camp / base:.2f}")
    m1 = models["camp_stage1"][0]
    stage1 = {"config": {"model": m1.cfg.to_dict()}, "state_dict": m1.state_dict()}
    model2 = build_stage2_model(stage1, Stage2Config())
    t0 = time.perf_counter()
    pre = precompute(model2, items, 6000, torch.device("cpu"))
    t_pre = time.perf_counter() - t0
    params = [p for p in model2.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, 1e-3)
    model2.prosody.predictor.train()
    b2 = collate([it.arrays for it in pre])
    t2 = []
    for _ in range(args.steps):
        t0 = time.perf_counter()
        losses = step_losses(model2, b2, {"vector": 1.0, "duration": 1.0})
        opt.zero_grad()
        losses["total"].backward()
        opt.step()
        t2.append(time.perf_counter() - t0)
    print(f"camp stage 2: precompute {t_pre / len(items):.3f} s per clip, step {statistics.median(t2):.3f} s "
          f"({sum(p.numel() for p in params) / 1e6:.2f} M trainable params)")


if __name__ == "__main__":
    main()
