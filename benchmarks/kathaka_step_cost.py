"""Training-step cost of Kathaka stage 1 against the baseline (same backbone config).

Times forward + backward + optimiser step of ``configs/baseline_cpu.toml`` and
``configs/kathaka_stage1.toml`` on the same batches of cached clips, one torch thread, and
prints ms per step and the relative overhead of the reference encoder.

    python benchmarks/kathaka_step_cost.py --cache cache/ljspeech-mini --clips 12 --steps 10 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from synthesis.models.backbone import build_model
from synthesis.training.config import load_config
from synthesis.training.data import collate, feature_stats, load_items


def time_config(config: str, items, steps: int) -> float:
    cfg = load_config(config)
    torch.manual_seed(0)
    model = build_model(cfg.model)
    model.set_stats(**feature_stats(items))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    batch = collate([it.arrays for it in items])
    times = []
    for step in range(steps + 1):
        t0 = time.perf_counter()
        losses = model.losses(batch, model(batch, 1000), 1000, cfg.loss)
        opt.zero_grad()
        losses["total"].backward()
        opt.step()
        if step:  # the first step warms numba and allocators
            times.append(time.perf_counter() - t0)
    return 1000 * sorted(times)[len(times) // 2]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--cache", default="cache/ljspeech-mini")
    p.add_argument("--clips", type=int, default=12)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    torch.set_num_threads(1)
    manifest = json.loads((Path(args.cache) / "manifest.json").read_text())
    ids = sorted(manifest["clips"])[: args.clips]
    items = load_items(args.cache, ids, "world")
    # Interleaved rounds, best round kept: the machine is shared, and load comes and goes.
    base, kathaka = float("inf"), float("inf")
    for _ in range(args.rounds):
        base = min(base, time_config("configs/baseline_cpu.toml", items, args.steps))
        kathaka = min(kathaka, time_config("configs/kathaka_stage1.toml", items, args.steps))
    frames = sum(it.n_frames for it in items)
    print(f"{len(items)} clips, {frames} frames per batch, best of {args.rounds} rounds of the median of "
          f"{args.steps} steps, 1 thread")
    print(f"baseline {base:.0f} ms/step, kathaka stage 1 {kathaka:.0f} ms/step "
          f"(+{100 * (kathaka / base - 1):.0f} %)")


if __name__ == "__main__":
    main()
