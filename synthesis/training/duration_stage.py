"""Duration pass (``synthesis train --system baseline|fs2 --stage 2``): retrain a trained
model's duration predictor on its own frozen, converged alignments.

Why: in stage 1 the duration predictor learns from alignments that are still moving (the
aligner trains alongside it), and early stopping picks the checkpoint for the acoustic loss,
not for durations. The baseline checkpoint came out with pauses at punctuation at 0.68 of the
recordings'. CAMP's stage 2, which trains its duration model on the frozen stage-1 alignments,
brought them to 0.97. This pass gives the baseline (and fs2) the same treatment without
touching anything else: the encoder, aligner, decoder and postnet stay as trained.

As in CAMP stage 2 the frozen outputs are computed once per clip (``precompute``): the encoder
output ``[P, C]`` and each phoneme's duration from monotonic alignment search. A step is then
phoneme-level only, so the pass takes minutes on CPU.

Loss: mean squared error of log(1 + frames) per phoneme, as in stage 1. The predictor starts
from the stage-1 weights; validation is the same loss on the validation split (early stopping).

Calibration (``[stage2] calibrate``, on by default): a squared error on log durations predicts
about the median duration, not the mean. For a token whose duration varies a lot, a comma that
is sometimes no pause and sometimes a long one, the median is far below the mean, so the
synthesised pauses come out short (and below the 100 ms that counts as a pause at all). After
training, each symbol gets a log-duration offset ``log(sum(1 + d) / sum(exp(prediction)))``
over its training tokens (symbols with fewer than ``MIN_CALIBRATION_TOKENS`` get 0), stored
as the model's ``duration_bias`` and added at inference: the summed duration of each symbol
over the training split then matches the recordings'.
The run folder is like the loop's (``config.toml``, ``metrics.jsonl``, ``best.pt``,
``last.pt``, resumable); checkpoints keep the stage-1 system and model config, so
``export-checkpoint``, ``Synthesizer`` and listening sets take them as they take stage 1's, and
record ``stage = 2`` and the stage-1 file (path, hash) under ``stage1``.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import torch

from synthesis.errors import ConfigError
from synthesis.training.checkpoint import (
    CheckpointError,
    file_hash,
    load_checkpoint,
    rebuild_model,
    save_checkpoint,
)
from synthesis.training.config import TrainSettings, apply_train_overrides, dump_toml, read_toml
from synthesis.training.data import ClipItem, collate, load_items
from synthesis.training.frozen_loop import (
    LoopState,
    aligned_batches,
    resume_state,
    save_stage_checkpoint,
    seeded_device,
    train_on_frozen,
)
from synthesis.training.loop import TrainResult, _split_ids, _to, lr_at
from synthesis.training.runlog import MetricsLog

#: systems whose stage 2 is this duration pass
DURATION_SYSTEMS = ("baseline", "fs2")
#: symbols seen fewer times in the training split keep a zero calibration offset
MIN_CALIBRATION_TOKENS = 20


@dataclass
class DurationConfig:
    """``[stage2]`` stage1 (the trained model), ``[train]`` and ``[loss]`` (``duration`` weight)."""

    stage1: str = "runs/baseline_world/best.pt"
    calibrate: bool = True
    train: TrainSettings = field(default_factory=TrainSettings)
    loss: dict = field(default_factory=lambda: {"duration": 1.0})

    def to_dict(self) -> dict:
        return {"stage2": {"stage1": self.stage1, "calibrate": self.calibrate}, "train": asdict(self.train),
                "loss": dict(self.loss)}

    @classmethod
    def from_dict(cls, d: dict, where: str = "config") -> DurationConfig:
        unknown = set(d) - {"stage2", "train", "loss"}
        if unknown:
            raise ConfigError(f"{where}: unknown sections {', '.join(sorted(unknown))} (stage2, train, loss)")
        s2 = dict(d.get("stage2", {}))
        bad = set(s2) - {"stage1", "calibrate"}
        if bad:
            raise ConfigError(f"{where}: [stage2] unknown keys {', '.join(sorted(bad))} (stage1, calibrate)")
        if not isinstance(s2.get("calibrate", True), bool):
            raise ConfigError(f"{where}: [stage2] calibrate must be true or false, got {s2['calibrate']!r}")
        train_keys = {f.name for f in fields(TrainSettings)}
        bad = set(d.get("train", {})) - train_keys
        if bad:
            raise ConfigError(f"{where}: [train] unknown keys {', '.join(sorted(bad))}")
        loss = {**cls().loss, **d.get("loss", {})}
        bad = set(loss) - {"duration"}
        if bad:
            raise ConfigError(f"{where}: [loss] unknown keys {', '.join(sorted(bad))} (duration)")
        return cls(str(s2.get("stage1", cls.stage1)), s2.get("calibrate", True), TrainSettings(**d.get("train", {})),
                   loss)


def load_duration_config(path: str | Path) -> DurationConfig:
    return DurationConfig.from_dict(read_toml(path), str(path))


#: the name the pipeline reads a stage-2 config by (as for CAMP and Kathaka)
load_stage2_config = load_duration_config


def load_trained_model(path: str | Path, system: str):
    """The checkpoint ``path`` of ``system`` (a run's ``best.pt`` or an export) and its model,
    with only the duration predictor trainable.

    Raises:
        CheckpointError: missing, corrupt, or a checkpoint of another system.
    """
    from synthesis.models.backbone import ModelConfig, build_model

    path = Path(path)
    ckpt = load_checkpoint(path)
    if ckpt.get("system") != system:
        raise CheckpointError(f"{path}: a checkpoint of system {ckpt.get('system')!r}, not {system!r} "
                              f"(the duration pass retrains the durations of a {system} model)")
    try:
        model = build_model(ModelConfig.from_dict(ckpt["config"]["model"]))
        model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in ckpt["state_dict"].items()})
    except (KeyError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{path}: weights do not fit its model config ({str(exc).splitlines()[0][:100]})") from None
    for name, p in model.named_parameters():
        p.requires_grad_(name.startswith("duration."))
    return ckpt, model


@torch.no_grad()
def precompute(model, items: list[ClipItem], max_frames: int, device) -> list[ClipItem]:
    """Per clip: the frozen encoder output (``dur_encoder_out``) and the aligner's phoneme
    durations (``dur_target``); the acoustic arrays are dropped."""
    out: list[ClipItem | None] = [None] * len(items)
    for idx, _, enc, _, _, hard in aligned_batches(model, items, max_frames, device):
        durations = hard.sum(1)
        for j, i in enumerate(idx):
            a = items[i].arrays
            p = len(a["phoneme_ids"])
            keep = {k: a[k] for k in ("phoneme_ids", "stress", "word_index", "word_pos")}
            keep.update(dur_encoder_out=enc[j, :p].cpu().numpy(), dur_target=durations[j, :p].cpu().numpy())
            out[i] = ClipItem(items[i].id, keep)
    return out


def duration_loss(model, batch: dict) -> torch.Tensor:
    """MSE of log(1 + frames) over the phonemes of a collated batch of precomputed clips."""
    from synthesis.models.backbone import lengths_to_mask

    phone_mask = lengths_to_mask(batch["phone_lens"], batch["phoneme_ids"].shape[1])
    pred = model.duration(batch["dur_encoder_out"], phone_mask)
    pm = phone_mask.float()
    return (((pred - torch.log1p(batch["dur_target"].float())) ** 2) * pm).sum() / pm.sum()


@torch.no_grad()
def predicted_log_durations(model, items: list[ClipItem], device, max_items: int = 64):
    """(symbol ids, recorded frames, predicted log(1 + frames) without any offset), concatenated
    over the phonemes of ``items``, dropout off."""
    from synthesis.models.backbone import lengths_to_mask

    model.eval()
    ids, frames, preds = [], [], []
    for s in range(0, len(items), max_items):
        batch = _to(collate([it.arrays for it in items[s:s + max_items]]), device)
        mask = lengths_to_mask(batch["phone_lens"], batch["phoneme_ids"].shape[1])
        pred = model.duration(batch["dur_encoder_out"], mask)
        ids.append(batch["phoneme_ids"][mask])
        frames.append(batch["dur_target"][mask].float())
        preds.append(pred[mask])
    return torch.cat(ids), torch.cat(frames), torch.cat(preds)


def calibration_offsets(ids: torch.Tensor, frames: torch.Tensor, log_pred: torch.Tensor, n_symbols: int,
                        min_tokens: int = MIN_CALIBRATION_TOKENS) -> torch.Tensor:
    """Per-symbol log offset that makes the summed (1 + frames) of each symbol's predictions
    equal the recorded sum (see the module docstring); 0 for rare symbols."""
    count = torch.zeros(n_symbols).index_add_(0, ids, torch.ones_like(frames))
    recorded = torch.zeros(n_symbols).index_add_(0, ids, 1.0 + frames)
    predicted = torch.zeros(n_symbols).index_add_(0, ids, torch.exp(log_pred))
    offsets = torch.log(recorded.clamp(min=1e-6) / predicted.clamp(min=1e-6))
    return torch.where(count >= min_tokens, offsets, torch.zeros_like(offsets))


def duration_ratios(ids: torch.Tensor, frames: torch.Tensor, log_pred: torch.Tensor, bias: torch.Tensor) -> dict:
    """Predicted / recorded total frames, over all phonemes and over punctuation tokens, as the
    model would synthesise them (rounded, at least one frame)."""
    from synthesis.text.phonemes import PUNCT_IDS

    synth = torch.clamp(torch.round(torch.expm1(log_pred + bias[ids])), min=1)
    punct = torch.isin(ids, torch.tensor(sorted(PUNCT_IDS), dtype=ids.dtype))
    return {"total_ratio": float(synth.sum() / frames.sum().clamp(min=1)),
            "punctuation_ratio": float(synth[punct].sum() / frames[punct].sum().clamp(min=1))}


def evaluate_durations(model, items: list[ClipItem], device, max_items: int = 64) -> float:
    model.eval()
    total, n = 0.0, 0
    with torch.no_grad():
        for s in range(0, len(items), max_items):
            chunk = items[s:s + max_items]
            total += float(duration_loss(model, _to(collate([it.arrays for it in chunk]), device))) * len(chunk)
            n += len(chunk)
    return total / max(n, 1)


def train_durations(cfg: DurationConfig, system: str, out: str | Path, *, progress: bool = True,
                    resume: bool = True, items: tuple | None = None) -> TrainResult:
    """Retrain the duration predictor of the ``system`` checkpoint ``cfg.stage1`` into ``out``.

    Args:
        items: (train_items, validation_items) with acoustic arrays, instead of the cache (tests).

    Raises:
        CheckpointError: the stage-1 file is missing, corrupt, or of another system.
        CacheError: the cache was built with other configs than the stage-1 model.
    """
    out = Path(out)
    stage1, model = load_trained_model(cfg.stage1, system)
    device = seeded_device(cfg.train)
    model = model.to(device)
    if items is None:
        split, _ = _split_ids(cfg)
        hashes = stage1.get("cache_hashes") or None
        train_items = load_items(cfg.train.cache, split.train, model.cfg.feature_kind, hashes)
        val_items = load_items(cfg.train.cache, split.validation, model.cfg.feature_kind, hashes)
    else:
        train_items, val_items = items
    t_pre = time.perf_counter()
    frames_budget = int(stage1["config"].get("train", {}).get("max_frames", 6000))
    train_items = precompute(model, train_items, frames_budget, device)
    val_items = precompute(model, val_items, frames_budget, device)
    model.duration.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.train.lr, betas=(0.9, 0.98), weight_decay=cfg.train.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_at(s, cfg.train))
    model_dict = model.cfg.to_dict()
    stage1_info = {"path": str(cfg.stage1), "hash": file_hash(cfg.stage1), "step": stage1.get("step")}
    last_path = out / "last.pt"
    state = resume_state(last_path, system, model_dict, stage1_info["hash"], model, opt, sched) if resume else LoopState()
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.toml").write_text(dump_toml(cfg.to_dict()), encoding="utf-8")
    start_val = evaluate_durations(model, val_items, device)
    model.duration.train()
    log = MetricsLog(out / "metrics.jsonl")

    header = {"system": system, "stage": 2,
              "config": {"model": model_dict, "train": asdict(cfg.train), "loss": dict(cfg.loss),
                         "stage2": {"stage1": cfg.stage1, "calibrate": cfg.calibrate}},
              "cache_hashes": stage1.get("cache_hashes", {}), "stage1": stage1_info}

    def save(path: Path, metrics: dict, full: bool) -> None:
        save_stage_checkpoint(path, header, model, state, metrics, full, opt, sched)

    def validate() -> tuple[float, dict]:
        score = evaluate_durations(model, val_items, device)
        model.duration.train()
        return score, {"duration_mse": score, "stage1_duration_mse": start_val}

    log({"step": state.step, "split": "setup", "precompute_s": time.perf_counter() - t_pre,
         "train_clips": len(train_items), "validation_clips": len(val_items), "stage1_validation_duration_mse": start_val})
    def weighted(mse: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"total": cfg.loss.get("duration", 1.0) * mse, "duration_mse": mse.detach()}

    stopped, val = train_on_frozen(
        settings=cfg.train, state=state, out=out, train_items=train_items, params=params, opt=opt, sched=sched,
        device=device, step_losses=lambda batch: weighted(duration_loss(model, batch)),
        validate=validate, save=save, log=log, desc=f"train {system} durations",
        postfix=lambda terms: {"dur": f"{terms['duration_mse']:.3f}"}, progress=progress)
    if not (out / "best.pt").exists():
        state.best_val, val = validate()
        save(out / "best.pt", {"validation": val, "score": state.best_val}, False)
    save(last_path, {"validation": val}, True)
    # Calibrate the best weights (deterministic, so a resumed run does the same) and report what
    # the pass changed on the validation split.
    best = load_checkpoint(out / "best.pt", system)
    model.load_state_dict(best["state_dict"])
    before = duration_ratios(*predicted_log_durations(model, val_items, device), torch.zeros_like(model.duration_bias))
    bias = torch.zeros_like(model.duration_bias)
    if cfg.calibrate:
        bias = calibration_offsets(*predicted_log_durations(model, train_items, device), model.cfg.n_symbols,
                                   MIN_CALIBRATION_TOKENS).to(bias)
    model.duration_bias.copy_(bias)
    after = duration_ratios(*predicted_log_durations(model, val_items, device), bias)
    calibration = {"validation_before": before, "validation_after": after, "calibrated": cfg.calibrate,
                   "calibrated_symbols": int((bias != 0).sum())}
    log({"step": state.step, "split": "calibration", **calibration})
    log.close()
    final_step, state.step = state.step, best["step"]
    save(out / "best.pt", {**best.get("metrics", {}), "calibration": calibration}, False)
    n_phones = sum(len(it.arrays["phoneme_ids"]) for it in train_items)
    return TrainResult(out, final_step, state.best_val, stopped, state.train_seconds,
                       n_phones * final_step / max(len(train_items), 1) / max(state.train_seconds, 1e-9))


def train_stage2(cfg: DurationConfig, out: str | Path, *, progress: bool = True, resume: bool = True) -> TrainResult:
    """The stage-2 entry the pipeline calls for every system (as CAMP's and Kathaka's): the
    duration pass of whichever of baseline and fs2 ``cfg.stage1`` is."""
    system = load_checkpoint(cfg.stage1).get("system")
    if system not in DURATION_SYSTEMS:
        raise CheckpointError(f"{cfg.stage1}: a checkpoint of system {system!r}; the duration pass is for "
                              f"{' and '.join(DURATION_SYSTEMS)}")
    return train_durations(cfg, system, out, progress=progress, resume=resume)


def train_from_args(args) -> TrainResult:
    """``synthesis train --system baseline|fs2 --stage 2``: the config file plus overrides."""
    cfg = load_duration_config(args.config)
    apply_train_overrides(cfg.train, args)
    if getattr(args, "stage1", None):
        cfg.stage1 = args.stage1
    return train_durations(cfg, args.system, args.out, progress=not args.quiet, resume=not args.restart)


# --- calibrating a trained model's text-only durations (Kathaka) ---------------------------------

@torch.no_grad()
def text_only_log_durations(model, items: list[ClipItem], max_frames: int, device):
    """(symbol ids, frames of the recording's alignment (the cache's forced one for a forced
    model, else the model's own aligner), log(1 + frames) the model
    predicts from the text alone, without any offset), over the phonemes of ``items``.

    For a model with a prosody module the prediction reads the module's text-only conditioning
    (Kathaka: its sampler in the checkpoint's inference mode), as synthesis does."""
    from synthesis.models.backbone import lengths_to_mask
    from synthesis.models.prosody.base import ProsodyContext

    ids, frames, preds = [], [], []
    for _, batch, enc, _, _, hard in aligned_batches(model, items, max_frames, device):
        phone_mask = lengths_to_mask(batch["phone_lens"], batch["phoneme_ids"].shape[1])
        x = enc
        if model.prosody is not None:
            text = {k: v for k, v in batch.items() if k not in ("mel", "target", "lf0", "energy", "frame_lens")}
            pros = model.prosody(ProsodyContext(enc, phone_mask, batch["word_index"], text))
            x = enc + pros.conditioning
        pred = model.duration(x, phone_mask)
        ids.append(batch["phoneme_ids"][phone_mask].cpu())
        frames.append(hard.sum(1)[phone_mask].float().cpu())
        preds.append(pred[phone_mask].float().cpu())
    return torch.cat(ids), torch.cat(frames), torch.cat(preds)


def calibrate_checkpoint(path: str | Path, cache: str | Path | None, split_file: str | Path | None = None, *,
                         items: tuple | None = None) -> dict:
    """Fit the per-symbol duration offsets (``duration_bias``, see the module docstring) of a
    trained model whose text-only durations come from the backbone's duration model, on the
    training split of ``cache``, and write them into ``path`` (atomically; earlier offsets are
    replaced, so running it twice gives the same file). The duration pass does this for the
    baseline and fs2, CAMP's stage 2 for its own duration model; this is for the rest (Kathaka,
    whose sampler's conditioning the duration model reads).

    Returns the validation duration ratios before and after. ``items``: (train_items,
    validation_items) with acoustic arrays, instead of the cache (tests).

    Raises:
        CheckpointError: unreadable, or a CAMP stage-2 model (its durations are calibrated in stage 2).
        CacheError: the cache was built with other configs than the model.
    """
    from synthesis.training.loop import cache_split

    path = Path(path)
    ckpt = load_checkpoint(path)
    mcfg = ckpt["config"]["model"]
    if ((mcfg.get("prosody_args") or {}).get("predictor")) is not None:
        raise CheckpointError(f"{path}: a CAMP stage-2 model; its jointly trained duration model is calibrated "
                              "by stage 2 itself ([stage2] calibrate)")
    model = rebuild_model(ckpt, path).eval()
    if items is None:
        split, _ = cache_split(cache, split_file)
        hashes = ckpt.get("cache_hashes") or None
        items = (load_items(cache, split.train, model.cfg.feature_kind, hashes),
                 load_items(cache, split.validation, model.cfg.feature_kind, hashes))
    device = torch.device("cpu")
    budget = int(ckpt["config"].get("train", {}).get("max_frames", 6000))
    train = text_only_log_durations(model, items[0], budget, device)
    val = text_only_log_durations(model, items[1], budget, device)
    bias = calibration_offsets(*train, model.cfg.n_symbols, MIN_CALIBRATION_TOKENS)
    result = {"validation_before": duration_ratios(*val, torch.zeros_like(bias)),  # uncalibrated
              "validation_after": duration_ratios(*val, bias), "calibrated_symbols": int((bias != 0).sum())}
    state = dict(ckpt["state_dict"])
    state["duration_bias"] = bias.to(state["duration_bias"].dtype)
    save_checkpoint(path, {**ckpt, "state_dict": state,
                           "metrics": {**ckpt.get("metrics", {}), "duration_calibration": result}})
    sidecar = path.parent / "metrics.json"  # an exported checkpoint's summary (export_checkpoint)
    if path.name == "model.pt" and sidecar.is_file():
        from synthesis.features.cache import write_json_atomic

        write_json_atomic(sidecar, {**json.loads(sidecar.read_text(encoding="utf-8")), "duration_calibration": result})
    return result
