"""The training loop of the stages that run on a frozen stage 1 over precomputed clips (CAMP
stage 2, the duration pass): batches by a padded-phoneme budget, clipping, logging, validation
with early stopping, a time limit and periodic resumable checkpoints. The caller owns the
model, the losses and what goes into a checkpoint."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from synthesis.errors import ConfigError
from synthesis.training.checkpoint import load_checkpoint, restore_training_state, save_checkpoint
from synthesis.training.config import TrainSettings
from synthesis.training.data import ClipItem, collate, frame_batches
from synthesis.training.loop import _to


@dataclass
class LoopState:
    """Where a run stands; the caller's ``save`` writes it into checkpoints."""

    step: int = 0
    best_val: float = float("inf")
    bad_evals: int = 0
    train_seconds: float = 0.0


@torch.no_grad()
def aligned_batches(model, items: list[ClipItem], max_frames: int, device):
    """The frozen model over ``items`` (dropout off), batched by padded frames. Yields
    ``(indices, batch, encoder_out [B, P, C], normalised mel [B, T, M], frame_mask [B, T],
    hard alignment [B, T, P])``: what the stages on a frozen stage 1 precompute from."""
    from synthesis.models.backbone import lengths_to_mask

    model.eval()
    for idx in frame_batches([it.n_frames for it in items], max_frames, None):
        batch = _to(collate([items[i].arrays for i in idx]), device)
        enc, emb, phone_mask = model.encode(batch)
        frame_mask = lengths_to_mask(batch["frame_lens"], batch["mel"].shape[1])
        mel_n = (batch["mel"] - model.mel_mean) / model.mel_std
        _, hard = model.align(emb, mel_n, phone_mask, frame_mask, batch["phone_lens"], batch["frame_lens"],
                              batch.get("durations"))
        yield idx, batch, enc, mel_n, frame_mask, hard


def seeded_device(settings: TrainSettings) -> torch.device:
    """The device to train on, with the thread count and every RNG set from ``settings``."""
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type == "cpu" and settings.threads:
        torch.set_num_threads(settings.threads)
    random.seed(settings.seed)
    np.random.seed(settings.seed)
    torch.manual_seed(settings.seed)
    return device


def resume_state(last_path: Path, system: str, model_config: dict, stage1_hash: str, model, opt, sched) -> LoopState:
    """The state of ``last_path`` loaded into model, optimiser and schedule (a fresh state when
    there is none); refuses a run made with another model config or another stage-1 file."""
    if not last_path.exists():
        return LoopState()
    ckpt = load_checkpoint(last_path, system)
    from synthesis.models.backbone import same_architecture

    if not same_architecture(ckpt["config"]["model"], model_config) or ckpt.get("stage1", {}).get("hash") != stage1_hash:
        raise ConfigError(f"{last_path}: was trained with another config or stage 1; use a new --out")
    return LoopState(*restore_training_state(ckpt, model, opt, sched))


def save_stage_checkpoint(path: Path, header: dict, model, state: LoopState, metrics: dict, full: bool,
                          opt, sched) -> None:
    """``header`` (system, stage, config, provenance) + the weights + where the run stands; the
    full (``last.pt``) one adds optimiser, schedule and RNG state for resuming."""
    payload = {**header, "state_dict": model.state_dict(), "step": state.step, "best_val": state.best_val,
               "bad_evals": state.bad_evals, "metrics": metrics, "train_seconds": state.train_seconds}
    if full:
        payload.update(optimizer=opt.state_dict(), scheduler=sched.state_dict(), py_rng=random.getstate(),
                       torch_rng=torch.get_rng_state())
    save_checkpoint(path, payload)


def train_on_frozen(*, settings: TrainSettings, state: LoopState, out: Path, train_items: list[ClipItem],
                    params: list[torch.nn.Parameter], opt, sched, device,
                    step_losses: Callable[[dict], dict[str, torch.Tensor]],
                    validate: Callable[[], tuple[float, dict]],
                    save: Callable[[Path, dict, bool], None], log: Callable[[dict], None],
                    desc: str, postfix: Callable[[dict], dict], progress: bool = True) -> tuple[str, dict]:
    """Train until ``settings.max_steps``, early stopping or ``max_minutes``; update ``state``.

    Args:
        step_losses: collated batch -> loss terms, ``total`` to back-propagate.
        validate: -> (score, metrics) on the validation split, lower score is better.
        save: (path, metrics, full) writes ``best.pt`` (full=False) or the resumable ``last.pt``.
        postfix: the logged loss terms -> what the progress bar shows.

    Returns:
        ``(stopped, last validation metrics)``, stopped being ``max_steps``, ``early_stop`` or ``time``.
    """
    from tqdm import tqdm

    s = settings
    rng = random.Random(s.seed + 7919 * (state.step + 1))
    # No frames in these stages: ``max_frames`` is the budget of padded phonemes per batch.
    lengths = [len(it.arrays["phoneme_ids"]) for it in train_items]
    bar = tqdm(total=s.max_steps, initial=state.step, desc=desc, disable=not progress, dynamic_ncols=True)
    stopped, val, last_save = "max_steps", {}, time.perf_counter()
    t_start, seconds_at_start = time.perf_counter(), state.train_seconds
    while state.step < s.max_steps and stopped == "max_steps":
        for idx in frame_batches(lengths, s.max_frames, rng):
            losses = step_losses(_to(collate([train_items[i].arrays for i in idx]), device))
            opt.zero_grad(set_to_none=True)
            losses["total"].backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(params, s.grad_clip)
            opt.step()
            sched.step()
            state.step += 1
            state.train_seconds = seconds_at_start + (time.perf_counter() - t_start)
            if state.step % s.log_every == 0 or state.step == 1:
                terms = {k: float(v.detach()) for k, v in losses.items()}
                log({"step": state.step, "split": "train", "lr": sched.get_last_lr()[0], "grad_norm": float(grad_norm),
                     "minutes": state.train_seconds / 60, **terms})
                bar.set_postfix(postfix(terms))
            bar.update(1)
            if state.step % s.eval_every == 0:
                score, val = validate()
                log({"step": state.step, "split": "validation", "score": score, "minutes": state.train_seconds / 60,
                     **val})
                if score < state.best_val:
                    state.best_val, state.bad_evals = score, 0
                    save(out / "best.pt", {"validation": val, "score": score}, False)
                else:
                    state.bad_evals += 1
                if state.bad_evals >= s.patience:
                    stopped = "early_stop"
            if s.max_minutes and state.train_seconds >= 60 * s.max_minutes:
                stopped = "time"
            done = stopped != "max_steps" or state.step >= s.max_steps
            if done or time.perf_counter() - last_save >= 60 * s.checkpoint_minutes:
                save(out / "last.pt", {"validation": val}, True)
                last_save = time.perf_counter()
            if done:
                break
    bar.close()
    return stopped, val
