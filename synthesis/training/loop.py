"""The one training loop for every system.

The model supplies its losses (``Backbone.losses``; prosody modules add theirs through the
hook); this loop wires data, optimiser, schedule, validation, early stopping, checkpoints and
logging. It runs on CPU, on one GPU (bf16 autocast) or on several under ``torchrun``
(DistributedDataParallel, one process per GPU, rank 0 logs and saves).
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from synthesis.errors import ConfigError
from synthesis.features.cache import CacheError
from synthesis.training.checkpoint import load_checkpoint, restore_training_state, save_checkpoint
from synthesis.training.config import TrainConfig, dump_toml
from synthesis.training.data import collate, feature_stats, frame_batches, load_items


@dataclass
class TrainResult:
    out: Path
    step: int
    best_val: float
    stopped: str           # "max_steps", "time", "early_stop"
    seconds: float
    frames_per_second: float


def _dist_info() -> tuple[int, int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return world, int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))


def lr_at(step: int, cfg) -> float:
    """Linear warm-up then inverse-square-root decay (Vaswani et al.), as a factor of ``lr``."""
    warm = max(1, cfg.warmup_steps)
    return min((step + 1) / warm, math.sqrt(warm / (step + 1)))


def _to(batch: dict, device) -> dict:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


def _split_ids(cfg: TrainConfig):
    return cache_split(cfg.train.cache, cfg.train.split)


def cache_split(cache: str | Path, split_file: str | Path | None = None):
    """(the split, the cache's manifest): ``split_file``, else the committed split of the corpus the
    cache was built from."""
    from synthesis.corpus import default_split_path, load_corpus, load_split
    from synthesis.features.cache import read_manifest

    manifest = read_manifest(Path(cache))
    root = Path(manifest["corpus"]["root"])
    split_path = Path(split_file) if split_file else default_split_path(root)
    corpus = load_corpus(root) if root.exists() else None
    return load_split(split_path, corpus), manifest


def evaluate(model, items, weights: dict, max_frames: int, device, step: int) -> dict[str, float]:
    """Mean validation losses (teacher-forced, dropout off), weighted by batch size.

    Takes the unwrapped model: a DistributedDataParallel forward would broadcast buffers, a
    collective that hangs when only rank 0 evaluates.
    """
    model.eval()
    sums: dict[str, float] = {}
    n = 0
    with torch.no_grad():
        for idx in frame_batches([it.n_frames for it in items], max_frames, None):
            batch = _to(collate([items[i].arrays for i in idx]), device)
            losses = model.losses(batch, model(batch, step), step, weights)
            for k, v in losses.items():
                sums[k] = sums.get(k, 0.0) + float(v) * len(idx)
            n += len(idx)
    model.train()
    return {k: v / n for k, v in sums.items()}


def train(cfg: TrainConfig, out: str | Path, *, progress: bool = True, resume: bool = True,
          items: tuple | None = None) -> TrainResult:
    """Train ``cfg.model`` into the run folder ``out`` (checkpoints, config, metrics.jsonl).

    Args:
        items: (train_items, validation_items) to use instead of reading the cache (tests).

    Files in ``out``: ``config.toml`` (the exact config), ``last.pt`` (resumable),
    ``best.pt`` (lowest validation loss), ``metrics.jsonl`` (one JSON object per log line).
    """
    from tqdm import tqdm

    from synthesis.models.backbone import build_model, same_architecture

    out = Path(out)
    world, rank, local_rank = _dist_info()
    is_main = rank == 0
    if world > 1:
        import torch.distributed as dist

        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    device = torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
    if device.type == "cpu" and cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    random.seed(cfg.train.seed + rank)
    np.random.seed(cfg.train.seed + rank)
    torch.manual_seed(cfg.train.seed)

    cache_hashes = {}
    if items is None:
        split, manifest = _split_ids(cfg)
        cache_hashes = {side: manifest[side]["hash"] for side in ("acoustic", "text")}
        # The cache must match what inference will compute: this code's text front end
        # (phoneme inventory) and the acoustic config the vocoder is built with.
        from synthesis.features.acoustic import AcousticConfig
        from synthesis.text.frontend import TEXT_CONFIG_HASH

        expected = {"acoustic": AcousticConfig().hash(), "text": TEXT_CONFIG_HASH}
        train_items = load_items(cfg.train.cache, split.train, cfg.model.feature_kind, expected)
        val_items = load_items(cfg.train.cache, split.validation, cfg.model.feature_kind, expected)
    else:
        train_items, val_items = items
    if cfg.model.alignment == "forced" and any("durations" not in it.arrays for it in train_items + val_items):
        raise CacheError(f"{cfg.train.cache}: [model] alignment = 'forced' needs the cache's forced alignment, "
                         "and it has none (built before `synthesis prepare` aligned the clips: run it again)")
    model = build_model(cfg.model).to(device)
    stats = feature_stats(train_items)
    model.set_stats(**stats)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.train.lr, betas=(0.9, 0.98),
                            weight_decay=cfg.train.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_at(s, cfg.train))
    step, best_val, bad_evals, train_seconds, frames_seen, best_step = 0, float("inf"), 0, 0.0, 0, 0
    early_stop_start = int(cfg.loss.get("binarization_start", 0)) + cfg.train.eval_every
    last_path = out / "last.pt"
    if resume and last_path.exists():
        ckpt = load_checkpoint(last_path, cfg.model.system)
        if not same_architecture(ckpt["config"]["model"], cfg.model.to_dict()):
            raise ConfigError(f"{last_path}: was trained with another model config; use a new --out")
        if cache_hashes and ckpt.get("cache_hashes") and ckpt["cache_hashes"] != cache_hashes:
            raise ConfigError(f"{last_path}: trained on a cache built with another config "
                              f"({ckpt['cache_hashes']} vs {cache_hashes}); use a new --out")
        step, best_val, bad_evals, train_seconds = restore_training_state(ckpt, model, opt, sched)
        best_step = ckpt.get("best_step", 0)
        if best_step < early_stop_start:  # a "best" from before the alignment settled
            best_val, bad_evals = float("inf"), 0
        frames_seen = ckpt.get("frames_seen", 0)
    ddp_model = model
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        ddp_model = DistributedDataParallel(model, device_ids=[local_rank] if device.type == "cuda" else None)
    if is_main:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.toml").write_text(dump_toml(cfg.to_dict()), encoding="utf-8")
    metrics_fh = open(out / "metrics.jsonl", "a", encoding="utf-8") if is_main else None
    autocast = (torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" and cfg.train.bf16
                else torch.autocast("cpu", enabled=False))

    def log(record: dict) -> None:
        if metrics_fh:
            metrics_fh.write(json.dumps(record) + "\n")
            metrics_fh.flush()

    def save(path: Path, metrics: dict, full: bool) -> None:
        if not is_main:
            return
        payload = {"system": cfg.model.system, "config": cfg.to_dict(), "cache_hashes": cache_hashes,
                   "state_dict": model.state_dict(), "step": step, "best_val": best_val,
                   "bad_evals": bad_evals, "best_step": best_step, "metrics": metrics, "train_seconds": train_seconds,
                   "frames_seen": frames_seen}
        if full:
            payload.update(optimizer=opt.state_dict(), scheduler=sched.state_dict(),
                           py_rng=random.getstate(), torch_rng=torch.get_rng_state())
        save_checkpoint(path, payload)

    rng = random.Random(cfg.train.seed + 7919 * (step + 1) + rank)
    lengths = [it.n_frames for it in train_items]
    bar = tqdm(total=cfg.train.max_steps, initial=step, desc=f"train {cfg.model.system}", disable=not (progress and is_main),
               dynamic_ncols=True)
    last_save = time.perf_counter()
    stopped, val = "max_steps", {}
    t_start = time.perf_counter()
    seconds_at_start = train_seconds
    ddp_model.train()
    while step < cfg.train.max_steps and stopped == "max_steps":
        batches = frame_batches(lengths, cfg.train.max_frames, rng)
        batches = batches[rank::world]
        for idx in batches:
            t0 = time.perf_counter()
            batch = _to(collate([train_items[i].arrays for i in idx]), device)
            with autocast:
                losses = model.losses(batch, ddp_model(batch, step), step, cfg.loss)
            opt.zero_grad(set_to_none=True)
            losses["total"].backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.train.grad_clip)
            opt.step()
            sched.step()
            step += 1
            n_frames = int(batch["frame_lens"].sum()) * world
            frames_seen += n_frames
            train_seconds = seconds_at_start + (time.perf_counter() - t_start)
            if step % cfg.train.log_every == 0 or step == 1:
                rec = {"step": step, "split": "train", "lr": sched.get_last_lr()[0], "grad_norm": float(grad_norm),
                       "frames_per_s": n_frames / max(time.perf_counter() - t0, 1e-9),
                       "minutes": train_seconds / 60, **{k: float(v.detach()) for k, v in losses.items()}}
                log(rec)
                bar.set_postfix(loss=f"{rec['total']:.3f}", feat=f"{rec['feat_after']:.3f}", dur=f"{rec['duration']:.3f}")
            bar.update(1)
            if step % cfg.train.eval_every == 0:
                val = evaluate(model, val_items, cfg.loss, cfg.train.max_frames, device, step)
                score = val["feat_after"] + val["duration"]
                log({"step": step, "split": "validation", "score": score, "minutes": train_seconds / 60,
                     **val})
                # Compare only the feature and duration terms (binarisation changes the loss
                # scale mid-run), and only once the alignment has settled: before that the MAS
                # durations are near-uniform and trivially easy to predict, so an early model
                # would look best and trigger early stopping.
                if step >= early_stop_start and cfg.train.keep == "best":
                    if score < best_val:
                        best_val, bad_evals, best_step = score, 0, step
                        save(out / "best.pt", {"validation": val, "score": score}, full=False)
                    else:
                        bad_evals += 1
                    if bad_evals >= cfg.train.patience:
                        stopped = "early_stop"
            if cfg.train.max_minutes and train_seconds >= 60 * cfg.train.max_minutes:
                stopped = "time"
            if stopped != "max_steps" or step >= cfg.train.max_steps or \
                    time.perf_counter() - last_save >= 60 * cfg.train.checkpoint_minutes:
                save(last_path, {"validation": val}, full=True)
                last_save = time.perf_counter()
            if stopped != "max_steps" or step >= cfg.train.max_steps:
                break
    bar.close()
    if is_main and (cfg.train.keep == "final" or not (out / "best.pt").exists()):
        val = evaluate(model, val_items, cfg.loss, cfg.train.max_frames, device, step)
        best_val, best_step = val["feat_after"] + val["duration"], step
        save(out / "best.pt", {"validation": val, "score": best_val}, full=False)
    save(last_path, {"validation": val}, full=True)
    if metrics_fh:
        metrics_fh.close()
    if world > 1:
        import torch.distributed as dist

        dist.destroy_process_group()
    return TrainResult(out, step, best_val, stopped, train_seconds, frames_seen / max(train_seconds, 1e-9))
