"""CAMP stage 2: train the text-only predictor (and its duration model) on a frozen stage 1.

Stage 1 (the backbone + ``CampProsody``, trained by ``synthesis.training.loop``) is frozen.
Its outputs on every training clip do not change any more, so they are computed once
(``precompute``): the phoneme encoder output ``[P, C]``, each token's prosody vector
``[N, k]`` from the recording (the target), each token's frame count, and each phoneme's
duration from the aligner's monotonic alignment search. A training step is then token- and
phoneme-level only (no frames), which is what makes stage 2 minutes rather than hours on CPU.

Loss (``step_losses``): ``vector`` * mean squared error between predicted and target vectors,
both standardised per dimension with the mean and standard deviation of the targets over the
training tokens (stored in the predictor as ``vector_mean``/``vector_std``, so the dimensions
count equally whatever scale stage 1 gave them), over tokens that have frames; plus
``duration`` * mean squared error of log(1 + frames) per phoneme, as the backbone's duration
loss. Validation score: the sum of both unweighted terms.

The run folder is like the loop's: ``config.toml``, ``metrics.jsonl``, ``best.pt``,
``last.pt`` (resumable). A stage-2 checkpoint holds the whole model (stage 1 + predictor),
``system = "camp"`` and the stage-2 model config, so ``Synthesizer.from_checkpoint`` loads it
like any other; ``stage1`` records which stage-1 file (and its hash) it was trained on.
"""

from __future__ import annotations

import copy
import json
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch

from synthesis.errors import ConfigError
from synthesis.features.cache import CacheError, write_json_atomic
from synthesis.models.prosody.camp_predictor import ABLATIONS, has_syntax
from synthesis.training.checkpoint import (
    CheckpointError,
    file_hash,
    load_checkpoint,
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

PRECOMPUTED = ("camp_encoder_out", "camp_target", "camp_frame_counts", "camp_durations")
PREDICTOR_KEYS = ("hidden", "conv_layers", "conv_kernel", "lstm_hidden", "dropout")
#: the most predictors ``[stage2] ensemble`` trains (each ~0.6 M parameters, ~2 minutes on CPU)
MAX_ENSEMBLE = 16


@dataclass
class Stage2Config:
    """``[stage2]`` stage1 path, ablation; ``[predictor]`` architecture; ``[train]``; ``[loss]``."""

    stage1: str = "runs/camp_stage1/best.pt"
    ablation: str = "both"
    restore_variance: bool = True      # fit CampPredictor.vector_gain on the training tokens
    calibrate: bool = True             # per-symbol duration offsets, as the baseline's duration pass
    ensemble: int = 1                  # predictors trained from seeds seed, seed + 1, ...; averaged
    predictor: dict = field(default_factory=dict)
    train: TrainSettings = field(default_factory=TrainSettings)
    loss: dict = field(default_factory=lambda: {"vector": 1.0, "duration": 1.0})

    @property
    def inputs(self) -> tuple[str, ...]:
        return ABLATIONS[self.ablation]

    def to_dict(self) -> dict:
        return {"stage2": {"stage1": self.stage1, "ablation": self.ablation, "restore_variance": self.restore_variance,
                           "calibrate": self.calibrate, "ensemble": self.ensemble},
                "predictor": dict(self.predictor),
                "train": asdict(self.train), "loss": dict(self.loss)}

    @classmethod
    def from_dict(cls, d: dict, where: str = "config") -> Stage2Config:
        unknown = set(d) - {"stage2", "predictor", "train", "loss"}
        if unknown:
            raise ConfigError(f"{where}: unknown sections {', '.join(sorted(unknown))} (stage2, predictor, train, loss)")
        s2 = dict(d.get("stage2", {}))
        bad = set(s2) - {"stage1", "ablation", "restore_variance", "calibrate", "ensemble"}
        if bad:
            raise ConfigError(f"{where}: [stage2] unknown keys {', '.join(sorted(bad))} "
                              "(stage1, ablation, restore_variance, calibrate, ensemble)")
        ensemble = s2.get("ensemble", 1)
        if not isinstance(ensemble, int) or isinstance(ensemble, bool) or not 1 <= ensemble <= MAX_ENSEMBLE:
            raise ConfigError(f"{where}: [stage2] ensemble must be an integer from 1 to {MAX_ENSEMBLE}, got {ensemble!r}")
        for key in ("restore_variance", "calibrate"):
            if not isinstance(s2.get(key, True), bool):
                raise ConfigError(f"{where}: [stage2] {key} must be true or false, got {s2[key]!r}")
        ablation = s2.get("ablation", "both")
        if ablation not in ABLATIONS:
            raise ConfigError(f"{where}: [stage2] ablation must be one of {', '.join(ABLATIONS)}, got {ablation!r}")
        pred = dict(d.get("predictor", {}))
        bad = set(pred) - set(PREDICTOR_KEYS)
        if bad:
            raise ConfigError(f"{where}: [predictor] unknown keys {', '.join(sorted(bad))} ({', '.join(PREDICTOR_KEYS)})")
        train_keys = {f.name for f in fields(TrainSettings)}
        bad = set(d.get("train", {})) - train_keys
        if bad:
            raise ConfigError(f"{where}: [train] unknown keys {', '.join(sorted(bad))}")
        loss = {**cls().loss, **d.get("loss", {})}
        bad = set(loss) - {"vector", "duration"}
        if bad:
            raise ConfigError(f"{where}: [loss] unknown keys {', '.join(sorted(bad))} (vector, duration)")
        return cls(str(s2.get("stage1", cls.stage1)), ablation, s2.get("restore_variance", True),
                   s2.get("calibrate", True), ensemble, pred, TrainSettings(**d.get("train", {})), loss)


def load_stage2_config(path: str | Path) -> Stage2Config:
    return Stage2Config.from_dict(read_toml(path), str(path))


# --- stage 1 -> stage-2 model ---------------------------------------------------------------------

def load_stage1(path: str | Path) -> dict:
    """Read a CAMP stage-1 checkpoint; one-line ``CheckpointError`` for anything else."""
    path = Path(path)
    ckpt = load_checkpoint(path)
    model_cfg = ckpt.get("config", {}).get("model", {})
    if ckpt.get("system") != "camp" or model_cfg.get("prosody") != "camp":
        raise CheckpointError(f"{path}: a checkpoint of system {ckpt.get('system')!r}, "
                              "not a CAMP stage-1 checkpoint (train one with --system camp --stage 1)")
    if (model_cfg.get("prosody_args") or {}).get("predictor") is not None:
        raise CheckpointError(f"{path}: already a CAMP stage-2 checkpoint; stage 2 starts from the stage-1 one")
    return ckpt


def stage1_from_stage2(path: str | Path, out: str | Path) -> dict:
    """Write the frozen stage 1 inside a CAMP stage-2 checkpoint ``path`` (a run's or an exported
    one) as a stage-1 checkpoint ``out``: the predictor is dropped, everything else is stage 1's
    as trained (stage 2 never changes it; an export holds it at float16). New stage-2 variants
    can then be trained on a committed model without retraining stage 1.

    Raises:
        CheckpointError: ``path`` is not a CAMP stage-2 checkpoint.
    """
    path = Path(path)
    ckpt = load_checkpoint(path, "camp")
    model = copy.deepcopy(ckpt["config"]["model"])
    if (model.get("prosody_args") or {}).get("predictor") is None:
        raise CheckpointError(f"{path}: a CAMP stage-1 checkpoint already (no stage-2 predictor in it)")
    model["prosody_args"].pop("predictor")
    model["prosody_args"].pop("inference", None)
    prefix = "prosody.predictor."
    payload = {k: v for k, v in ckpt.items() if k not in ("stage", "stage1", "variant", "state_dict", "config")}
    payload["config"] = {"model": model}
    payload["state_dict"] = {k: v for k, v in ckpt["state_dict"].items() if not k.startswith(prefix)}
    payload["extracted_from"] = {"path": str(path), "hash": file_hash(path), "stage1": ckpt.get("stage1")}
    save_checkpoint(out, payload)
    return payload["extracted_from"]


def stage2_model_config(stage1_model: dict, cfg: Stage2Config) -> dict:
    """The stage-1 model config with the predictor switched on (the stage-2 checkpoint's)."""
    model = copy.deepcopy(stage1_model)
    pred = {**cfg.predictor, "inputs": list(cfg.inputs),
            # the duration model has the backbone's duration predictor shape: it starts from it
            "duration_hidden": model.get("predictor_hidden", 192), "duration_kernel": model.get("predictor_kernel", 3),
            "duration_dropout": model.get("predictor_dropout", 0.5), "n_symbols": model.get("n_symbols", 64)}
    if cfg.ensemble > 1:
        pred["members"] = cfg.ensemble
    model["prosody_args"] = {**model.get("prosody_args", {}), "predictor": pred}
    return model


def build_stage2_model(stage1: dict, cfg: Stage2Config, path: str | Path = "stage1"):
    """The backbone with stage-1 weights and a fresh predictor (duration model from stage 1's)."""
    from synthesis.models.backbone import ModelConfig, build_model

    mcfg = ModelConfig.from_dict(stage2_model_config(stage1["config"]["model"], cfg))
    model = build_model(mcfg)
    state = {k: v.float() if v.is_floating_point() else v for k, v in stage1["state_dict"].items()}
    result = model.load_state_dict(state, strict=False)
    foreign = [k for k in result.missing_keys if not k.startswith("prosody.predictor.")] + list(result.unexpected_keys)
    if foreign:
        raise CheckpointError(f"{path}: weights do not fit the CAMP model (e.g. {foreign[0]})")
    pred_net = model.prosody.predictor
    for member in getattr(pred_net, "members", [pred_net]):
        member.duration.load_state_dict(model.duration.state_dict())
    for name, p in model.named_parameters():
        p.requires_grad_(name.startswith("prosody.predictor."))
    return model


# --- data ---------------------------------------------------------------------------------------

def load_stage2_items(cache: str | Path, ids, feature_kind: str, expected_hashes: dict | None) -> list[ClipItem]:
    """Clips with text and log-mel; one-line ``CacheError`` for a cache without syntax features."""
    try:
        items = load_items(cache, ids, feature_kind, expected_hashes or None)
    except KeyError as exc:
        raise CacheError(f"{cache}: text features lack {exc} (a cache without syntax features; "
                         "re-run `synthesis prepare` into a new folder)") from None
    check_syntax(items, cache)
    return items


def check_syntax(items: list[ClipItem], where) -> None:
    for it in items:
        if not has_syntax(it.arrays):
            raise CacheError(f"{where}: clip {it.id} has no syntax features (text analysed without the parser); "
                             "CAMP stage 2 needs them: re-run `synthesis prepare` into a new folder")


@torch.no_grad()
def precompute(model, items: list[ClipItem], max_frames: int, device) -> list[ClipItem]:
    """Frozen stage-1 outputs per clip (see the module docstring); acoustic arrays are dropped."""
    out: list[ClipItem | None] = [None] * len(items)
    for idx, batch, enc, mel_n, frame_mask, hard in aligned_batches(model, items, max_frames, device):
        vectors, counts = model.prosody.reference_vectors(mel_n, frame_mask, hard, batch["word_index"],
                                                          batch["word_pos"].shape[1])
        durations = hard.sum(1)
        for j, i in enumerate(idx):
            a = items[i].arrays
            p, n = len(a["phoneme_ids"]), len(a["word_pos"])
            keep = {k: v for k, v in a.items() if k not in ("mel", "target", "lf0", "energy")}
            keep.update(camp_encoder_out=enc[j, :p].cpu().numpy(), camp_target=vectors[j, :n].cpu().numpy(),
                        camp_frame_counts=counts[j, :n].cpu().numpy(), camp_durations=durations[j, :p].cpu().numpy())
            out[i] = ClipItem(items[i].id, keep)
    return out


def vector_stats(items: list[ClipItem]) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation ``[k]`` of the target vectors over tokens with frames."""
    vecs = np.concatenate([it.arrays["camp_target"][it.arrays["camp_frame_counts"] > 0] for it in items])
    return vecs.mean(0), np.maximum(vecs.std(0), 1e-4)


# --- losses ---------------------------------------------------------------------------------------

def step_losses(model, batch: dict, weights: dict) -> dict[str, torch.Tensor]:
    """Weighted stage-2 losses on a collated batch of precomputed clips (``total`` to minimise)."""
    from synthesis.models.backbone import lengths_to_mask

    pred_net, stage1 = model.prosody.predictor, model.prosody
    phone_mask = lengths_to_mask(batch["phone_lens"], batch["phoneme_ids"].shape[1])
    pred = pred_net(batch, batch["camp_encoder_out"], phone_mask, stage1)
    target_n = (batch["camp_target"] - pred_net.vector_mean) / pred_net.vector_std
    wmask = (pred["word_mask"] & (batch["camp_frame_counts"] > 0)).float()
    k = target_n.shape[-1]
    vec = (((pred["vectors_norm"] - target_n) ** 2) * wmask[..., None]).sum() / (wmask.sum() * k).clamp(min=1.0)
    pm = phone_mask.float()
    dur = (((pred["log_durations"] - torch.log1p(batch["camp_durations"].float())) ** 2) * pm).sum() / pm.sum()
    losses = {"vector": weights.get("vector", 1.0) * vec, "duration": weights.get("duration", 1.0) * dur}
    losses["total"] = losses["vector"] + losses["duration"]
    losses["vector_mse"], losses["duration_mse"] = vec.detach(), dur.detach()
    return losses


def evaluate_stage2(model, items: list[ClipItem], weights: dict, max_items: int, device) -> dict[str, float]:
    model.eval()
    sums, n = {}, 0
    with torch.no_grad():
        for s in range(0, len(items), max_items):
            chunk = items[s:s + max_items]
            losses = step_losses(model, _to(collate([it.arrays for it in chunk]), device), weights)
            for k, v in losses.items():
                sums[k] = sums.get(k, 0.0) + float(v) * len(chunk)
            n += len(chunk)
    model.prosody.predictor.train()
    return {k: v / n for k, v in sums.items()}


@torch.no_grad()
def training_split_predictions(model, items: list[ClipItem], max_items: int, device) -> dict:
    """The predictor's raw outputs over ``items`` (dropout off): ``vectors`` ``[n, k]``
    standardised, for the tokens with frames, and per phoneme the symbol ``ids``, the recorded
    ``frames`` and the predicted ``log_durations`` without any offset."""
    from synthesis.models.backbone import lengths_to_mask

    pred_net, out = model.prosody.predictor, {"vectors": [], "ids": [], "frames": [], "log_durations": []}
    was_training = pred_net.training
    pred_net.eval()
    for s in range(0, len(items), max_items):
        batch = _to(collate([it.arrays for it in items[s:s + max_items]]), device)
        phone_mask = lengths_to_mask(batch["phone_lens"], batch["phoneme_ids"].shape[1])
        pred = pred_net(batch, batch["camp_encoder_out"], phone_mask, model.prosody)
        keep = pred["word_mask"] & (batch["camp_frame_counts"] > 0)
        out["vectors"].append(pred["vectors_norm"][keep].float().cpu())
        out["ids"].append(batch["phoneme_ids"][phone_mask].cpu())
        out["frames"].append(batch["camp_durations"][phone_mask].float().cpu())
        out["log_durations"].append(pred["log_durations"][phone_mask].float().cpu())
    pred_net.train(was_training)
    return {k: torch.cat(v) for k, v in out.items()}


def finish_best(best_path: Path, model, cfg: Stage2Config, train_items: list[ClipItem],
                val_items: list[ClipItem], device) -> dict:
    """Fit what stage 2 sets after training on the best weights and write it into ``best_path``:
    the vector gain (``[stage2] restore_variance``) and the duration calibration (``calibrate``)."""
    from synthesis.models.prosody.camp_predictor import prediction_gain
    from synthesis.training.duration_stage import (
        MIN_CALIBRATION_TOKENS,
        calibration_offsets,
        duration_ratios,
    )

    best = load_checkpoint(best_path)
    model.load_state_dict(best["state_dict"])
    pred_net = model.prosody.predictor
    done: dict = {}
    train = training_split_predictions(model, train_items, 64, device)
    if cfg.restore_variance:
        gain = prediction_gain(train["vectors"].numpy())
        pred_net.vector_gain.copy_(torch.from_numpy(gain))
        done["vector_gain"] = gain.tolist()
    if cfg.calibrate:
        bias = calibration_offsets(train["ids"], train["frames"], train["log_durations"],
                                   pred_net.duration_bias.numel(), MIN_CALIBRATION_TOKENS)
        val = training_split_predictions(model, val_items, 64, device)
        val = (val["ids"], val["frames"], val["log_durations"])
        done["calibration"] = {"validation_before": duration_ratios(*val, torch.zeros_like(bias)),
                               "validation_after": duration_ratios(*val, bias),
                               "calibrated_symbols": int((bias != 0).sum())}
        pred_net.duration_bias.copy_(bias.to(pred_net.duration_bias))
    best["state_dict"] = model.state_dict()
    best["metrics"] = {**best.get("metrics", {}), **done}
    save_checkpoint(best_path, best)
    return done


# --- the stage-2 loop -----------------------------------------------------------------------------

def stage2_header(cfg: Stage2Config, model_dict: dict, stage1: dict) -> dict:
    """What every stage-2 checkpoint records: system, variant, config and the frozen stage 1. The
    config's [model] is the stage-2 model, so Synthesizer rebuilds it as is."""
    return {"system": "camp", "stage": 2, "variant": cfg.ablation,
            "config": {"model": model_dict, **{k: v for k, v in cfg.to_dict().items() if k != "predictor"}},
            "cache_hashes": stage1.get("cache_hashes", {}),
            "stage1": {"path": str(cfg.stage1), "hash": file_hash(cfg.stage1), "step": stage1.get("step")}}


def train_stage2(cfg: Stage2Config, out: str | Path, *, progress: bool = True, resume: bool = True,
                 items: tuple | None = None) -> TrainResult:
    """Train the predictor of ``cfg`` on the frozen stage 1 ``cfg.stage1`` into ``out``.

    Args:
        items: (train_items, validation_items) with acoustic arrays, instead of the cache (tests).

    Raises:
        CheckpointError: the stage-1 file is missing, corrupt, or not a CAMP stage-1 checkpoint.
        CacheError: the cache lacks syntax features or was built with other configs than stage 1.
    """
    out = Path(out)
    if cfg.ensemble > 1:
        return train_ensemble(cfg, out, progress=progress, resume=resume, items=items)
    stage1 = load_stage1(cfg.stage1)
    device = seeded_device(cfg.train)
    model = build_stage2_model(stage1, cfg, cfg.stage1).to(device)
    feature_kind = model.cfg.feature_kind
    if items is None:
        split, _ = _split_ids(cfg)
        hashes = stage1.get("cache_hashes") or {}
        train_items = load_stage2_items(cfg.train.cache, split.train, feature_kind, hashes)
        val_items = load_stage2_items(cfg.train.cache, split.validation, feature_kind, hashes)
    else:
        train_items, val_items = items
        check_syntax(list(train_items) + list(val_items), "items")
    t_pre = time.perf_counter()
    frames_budget = int(stage1["config"].get("train", {}).get("max_frames", 6000))
    train_items = precompute(model, train_items, frames_budget, device)
    val_items = precompute(model, val_items, frames_budget, device)
    mean, std = vector_stats(train_items)
    pred_net = model.prosody.predictor
    pred_net.vector_mean.copy_(torch.from_numpy(mean))
    pred_net.vector_std.copy_(torch.from_numpy(std))
    pred_net.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.train.lr, betas=(0.9, 0.98), weight_decay=cfg.train.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_at(s, cfg.train))
    model_dict = model.cfg.to_dict()
    header = stage2_header(cfg, model_dict, stage1)
    last_path = out / "last.pt"
    state = resume_state(last_path, "camp", model_dict, header["stage1"]["hash"], model, opt, sched) if resume \
        else LoopState()
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.toml").write_text(dump_toml(cfg.to_dict()), encoding="utf-8")
    log = MetricsLog(out / "metrics.jsonl")

    def save(path: Path, metrics: dict, full: bool) -> None:
        save_stage_checkpoint(path, header, model, state, metrics, full, opt, sched)

    def validate() -> tuple[float, dict]:
        val = evaluate_stage2(model, val_items, cfg.loss, 64, device)
        return val["vector_mse"] + val["duration_mse"], val

    log({"step": state.step, "split": "setup", "precompute_s": time.perf_counter() - t_pre,
         "train_clips": len(train_items), "validation_clips": len(val_items),
         "vector_mean": mean.tolist(), "vector_std": std.tolist(), "inputs": list(cfg.inputs)})
    stopped, val = train_on_frozen(
        settings=cfg.train, state=state, out=out, train_items=train_items, params=params, opt=opt, sched=sched,
        device=device, step_losses=lambda batch: step_losses(model, batch, cfg.loss), validate=validate,
        save=save, log=log, desc=f"train camp stage 2 ({cfg.ablation})",
        postfix=lambda t: {"vec": f"{t['vector_mse']:.3f}", "dur": f"{t['duration_mse']:.3f}"}, progress=progress)
    if not (out / "best.pt").exists():
        state.best_val, val = validate()
        save(out / "best.pt", {"validation": val, "score": state.best_val}, False)
    save(last_path, {"validation": val}, True)
    if cfg.restore_variance or cfg.calibrate:
        log({"step": state.step, "split": "calibration",
             **finish_best(out / "best.pt", model, cfg, train_items, val_items, device)})
    log.close()
    n_tokens = sum(len(it.arrays["word_pos"]) for it in train_items)
    return TrainResult(out, state.step, state.best_val, stopped, state.train_seconds,
                       n_tokens * state.step / max(len(train_items), 1) / max(state.train_seconds, 1e-9))


def train_ensemble(cfg: Stage2Config, out: Path, *, progress: bool = True, resume: bool = True,
                   items: tuple | None = None) -> TrainResult:
    """``[stage2] ensemble`` = K: K predictors, member m trained as a single one with seed
    ``seed + m`` into ``out/member-m`` (each resumable, early-stopped on its own), then combined
    into ``out/best.pt``, where the gain and the duration calibration are fitted on the
    averaged prediction."""
    stage1 = load_stage1(cfg.stage1)
    if items is None:  # read once for every member and the combination
        split, _ = _split_ids(cfg)
        hashes = stage1.get("cache_hashes") or {}
        feature_kind = stage1["config"]["model"].get("feature_kind", "world")
        items = (load_stage2_items(cfg.train.cache, split.train, feature_kind, hashes),
                 load_stage2_items(cfg.train.cache, split.validation, feature_kind, hashes))
    members = []
    for m in range(cfg.ensemble):
        member_cfg = copy.deepcopy(cfg)
        member_cfg.ensemble, member_cfg.restore_variance, member_cfg.calibrate = 1, False, False
        member_cfg.train.seed = cfg.train.seed + m
        member_out = out / f"member-{m}"
        marker = member_out / "finished.json"
        if resume and marker.is_file():  # a finished member is not trained on (resuming it would move on)
            done = json.loads(marker.read_text(encoding="utf-8"))
            members.append(TrainResult(member_out, done["step"], done["best_val"], done["stopped"], done["seconds"],
                                       done["frames_per_second"]))
            continue
        result = train_stage2(member_cfg, member_out, progress=progress, resume=resume, items=items)
        write_json_atomic(marker, {"step": result.step, "best_val": result.best_val, "stopped": result.stopped,
                                   "seconds": result.seconds, "frames_per_second": result.frames_per_second})
        members.append(result)
    device = seeded_device(cfg.train)
    model = build_stage2_model(stage1, cfg, cfg.stage1).to(device)
    ensemble = model.prosody.predictor
    prefix = "prosody.predictor."
    for m, result in enumerate(members):
        state = load_checkpoint(result.out / "best.pt", "camp")["state_dict"]
        own = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        ensemble.members[m].load_state_dict(own)
    for key in ("vector_mean", "vector_std"):  # the same training tokens for every member
        getattr(ensemble, key).copy_(getattr(ensemble.members[0], key))
    model.eval()
    train_items, val_items = items
    frames_budget = int(stage1["config"].get("train", {}).get("max_frames", 6000))
    train_items = precompute(model, train_items, frames_budget, device)
    val_items = precompute(model, val_items, frames_budget, device)
    val = evaluate_stage2(model, val_items, cfg.loss, 64, device)
    score = val["vector_mse"] + val["duration_mse"]
    header = {**stage2_header(cfg, model.cfg.to_dict(), stage1),
              "step": sum(r.step for r in members), "train_seconds": sum(r.seconds for r in members),
              "state_dict": model.state_dict(),
              "metrics": {"validation": val, "score": score,
                          "members": [{"run": str(r.out), "step": r.step, "best_validation": r.best_val}
                                      for r in members]}}
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.toml").write_text(dump_toml(cfg.to_dict()), encoding="utf-8")
    save_checkpoint(out / "best.pt", header)
    fitted = {}
    if cfg.restore_variance or cfg.calibrate:
        fitted = finish_best(out / "best.pt", model, cfg, train_items, val_items, device)
    log = MetricsLog(out / "metrics.jsonl")
    log({"step": header["step"], "split": "ensemble", "validation": val, "score": score,
         "members": header["metrics"]["members"], **fitted})
    log.close()
    seconds = sum(r.seconds for r in members)
    return TrainResult(out, header["step"], score, "ensemble", seconds,
                       sum(r.frames_per_second * r.seconds for r in members) / max(seconds, 1e-9))


def train_from_args(args) -> TrainResult:
    """``synthesis train --system camp --stage 2``: the config file plus command-line overrides."""
    cfg = load_stage2_config(args.config)
    apply_train_overrides(cfg.train, args)
    if getattr(args, "stage1", None):
        cfg.stage1 = args.stage1
    return train_stage2(cfg, args.out, progress=not args.quiet, resume=not args.restart)


def set_checkpoint_inference(path: str | Path, mode: str | None, temperature: float | None = None) -> dict:
    """Rewrite a CAMP checkpoint so it synthesises in ``mode`` (``predicted`` or ``oracle``) by
    default: `synthesis evaluate` and listening sets take checkpoint files, not modes.

    Raises:
        CheckpointError: not a CAMP checkpoint, or a mode it cannot run (``predicted`` needs stage 2).
    """
    from synthesis.models.prosody.camp import CampProsody

    path = Path(path)
    ckpt = load_checkpoint(path, "camp")
    args = dict(ckpt["config"]["model"].get("prosody_args", {}))
    probe = CampProsody.__new__(CampProsody)  # validation only: no weights built
    probe.predictor = args.get("predictor")
    try:
        probe.set_inference(mode or ("predicted" if probe.predictor is not None else "oracle"), temperature)
    except ValueError as exc:
        raise CheckpointError(f"{path}: {exc}") from None
    args["inference"] = probe.inference
    ckpt["config"] = {**ckpt["config"], "model": {**ckpt["config"]["model"], "prosody_args": args}}
    save_checkpoint(path, ckpt)
    return args
