"""Kathaka stage 2: train a text-only sampler against a frozen stage-1 model.

Stage 1 (backbone + variational reference encoder) is trained by the one loop,
``synthesis.training.loop.train``. Stage 2 freezes all of it and fits one sampler
(``bert``, ``graph`` or ``both``, ``synthesis.models.prosody.samplers``) that predicts, from
the text alone, the distribution of stage 1's utterance latent.

**Loss.** For each training utterance, the frozen reference encoder gives the posterior
``q = N(mu_q, diag sigma_q^2)`` of its recording; the sampler predicts
``p = N(mu_p, diag sigma_p^2)`` from its text. The loss is ``KL(q || p)`` summed over latent
dimensions, averaged over utterances. Minimising it over ``p`` is maximising the expected
log-likelihood under ``p`` of latents drawn from ``q`` (the posterior's entropy is fixed), so
``mu_p`` is pulled to ``mu_q`` weighted by the predicted precision and ``sigma_p^2`` to
``sigma_q^2`` plus the spread the text cannot explain: sampling from ``p`` then covers the
posterior instead of collapsing onto its mean. (``KL(p || q)`` would do the reverse and
under-disperse.) The prior's loss ``KL(q || N(0, I))`` on the same utterances is logged as the
number a useful sampler must beat.

The posteriors are computed once (the encoder is frozen and runs in eval mode, so ``q`` is
deterministic), so a stage-2 step costs only the sampler. The run folder holds the same
files as stage 1 (``config.toml``, ``metrics.jsonl``, ``last.pt`` resumable, ``best.pt``), and
``best.pt`` is a complete Kathaka checkpoint (stage-1 weights + sampler, inference ``mean``)
that ``synthesis.inference.Synthesizer`` loads directly.
"""

from __future__ import annotations

import random
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch

from synthesis.errors import ConfigError
from synthesis.features.cache import CacheError
from synthesis.training.checkpoint import (
    CheckpointError,
    file_hash,
    load_checkpoint,
    restore_training_state,
    save_checkpoint,
)
from synthesis.training.config import dump_toml, read_toml
from synthesis.training.loop import TrainResult, lr_at
from synthesis.training.runlog import MetricsLog

SYSTEM = "kathaka"
PARSE_KEYS = ("word_head", "word_dep", "graph_edges")


@dataclass
class Stage2Settings:
    stage1: str = ""                  # stage-1 checkpoint (a run's best.pt or an exported model.pt)
    sampler: str = "both"             # bert | graph | both
    cache: str = ""                   # default: the cache stage 1 was trained on
    split: str = ""                   # default: the committed split of the cache's corpus
    seed: int = 1234
    batch_size: int = 32              # utterances per step
    lr: float = 1e-3
    warmup_steps: int = 100
    weight_decay: float = 1e-2
    grad_clip: float = 1.0
    max_steps: int = 3000
    max_minutes: float = 0.0          # 0: no time limit
    eval_every: int = 50
    log_every: int = 10
    patience: int = 10                # validation passes without improvement before stopping
    threads: int = 0                  # torch intra-op threads on CPU (0: torch default)
    calibrate: bool = True            # after training: per-symbol duration offsets (docs/kathaka.md)


@dataclass
class Stage2Config:
    stage2: Stage2Settings = field(default_factory=Stage2Settings)
    sampler: dict = field(default_factory=lambda: {"hidden": 128, "gat_layers": 2, "heads": 4, "dropout": 0.3})

    def to_dict(self) -> dict:
        return {"stage2": asdict(self.stage2), "sampler": dict(self.sampler)}


SAMPLER_KEYS = {"hidden", "gat_layers", "heads", "dropout"}


def stage2_config_from_dict(d: dict, where: str = "config") -> Stage2Config:
    unknown = set(d) - {"stage2", "sampler"}
    if unknown:
        raise ConfigError(f"{where}: unknown sections {', '.join(sorted(unknown))} (stage2, sampler)")
    known = {f.name for f in fields(Stage2Settings)}
    bad = set(d.get("stage2", {})) - known
    if bad:
        raise ConfigError(f"{where}: [stage2] unknown keys {', '.join(sorted(bad))}")
    bad = set(d.get("sampler", {})) - SAMPLER_KEYS
    if bad:
        raise ConfigError(f"{where}: [sampler] unknown keys {', '.join(sorted(bad))} "
                          f"(known: {', '.join(sorted(SAMPLER_KEYS))})")
    settings = Stage2Settings(**d.get("stage2", {}))
    if not isinstance(settings.calibrate, bool):
        raise ConfigError(f"{where}: [stage2] calibrate must be true or false, got {settings.calibrate!r}")
    from synthesis.models.prosody.samplers import SAMPLER_KINDS

    if settings.sampler not in SAMPLER_KINDS:
        raise ConfigError(f"{where}: [stage2] sampler must be one of {', '.join(SAMPLER_KINDS)}, "
                          f"got {settings.sampler!r}")
    if settings.batch_size < 1 or settings.max_steps < 1:
        raise ConfigError(f"{where}: [stage2] batch_size and max_steps must be at least 1")
    return Stage2Config(settings, {**Stage2Config().sampler, **d.get("sampler", {})})


def load_stage2_config(path: str | Path) -> Stage2Config:
    return stage2_config_from_dict(read_toml(path), str(path))


# --- stage 1 and data ---------------------------------------------------------------------------

def load_stage1(path: str | Path) -> dict:
    """The stage-1 checkpoint, refusing anything that is not a Kathaka stage-1 model.

    Raises:
        CheckpointError: missing, unreadable, another system, or already a stage-2 model.
    """
    ckpt = load_checkpoint(path, SYSTEM)
    model = ckpt.get("config", {}).get("model", {})
    if model.get("prosody") != "kathaka":
        raise CheckpointError(f"{path}: not a Kathaka model (prosody module {model.get('prosody')!r})")
    if model.get("prosody_args", {}).get("sampler"):
        raise CheckpointError(f"{path}: already a stage-2 model (sampler "
                              f"{model['prosody_args']['sampler']!r}); pass the stage-1 checkpoint")
    return ckpt


def build_stage2_model(stage1: dict, sampler: str, sampler_args: dict, where: str = "stage 1"):
    """Stage-1 weights + a fresh sampler; everything but the sampler frozen."""
    from synthesis.models.backbone import ModelConfig, build_model

    mcfg = ModelConfig.from_dict(stage1["config"]["model"])
    mcfg.prosody_args = {**mcfg.prosody_args, "sampler": sampler, "sampler_args": dict(sampler_args),
                         "inference": "mean"}
    model = build_model(mcfg)
    state = {k: v.float() if v.is_floating_point() else v for k, v in stage1["state_dict"].items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    stray = [k for k in missing if not k.startswith("prosody.sampler.")]
    if stray or unexpected:
        raise CheckpointError(f"{where}: weights do not fit the Kathaka model "
                              f"(missing {stray[:2]}, unexpected {list(unexpected)[:2]})")
    for name, p in model.named_parameters():
        p.requires_grad_(name.startswith("prosody.sampler."))
    return model, mcfg


def check_parse_graphs(cache: Path, clip_ids) -> None:
    """Refuse a cache whose text features lack the dependency parse (one-line CacheError)."""
    from synthesis.features.cache import read_clip

    arrays = read_clip(cache, "text", clip_ids[0])
    missing = [k for k in PARSE_KEYS if k not in arrays]
    if missing:
        raise CacheError(f"{cache}: text features cached without parse graphs (no {', '.join(missing)} in "
                         f"text/{clip_ids[0]}.npz); re-run `synthesis prepare` with syntax on")


def check_items_have_graphs(items, where: str) -> None:
    """A cache prepared with syntax switched off has heads pointing to themselves: no edges."""
    from synthesis.text.graph import n_edges

    multi = [it for it in items if len(it.arrays["word_head"]) > 1]
    if multi and all(n_edges(it.arrays["word_head"]) == 0 for it in multi):
        raise CacheError(f"{where}: text features cached without parse graphs (no dependency edge in any "
                         f"of {len(multi)} multi-word clips); re-run `synthesis prepare` with syntax on")


@torch.no_grad()
def posteriors(model, items, max_frames: int = 20_000) -> tuple[np.ndarray, np.ndarray]:
    """Frozen stage-1 posterior (mu, logvar) [n, L] of each item's recording."""
    from synthesis.models.backbone import lengths_to_mask
    from synthesis.training.data import collate, frame_batches

    model.eval()
    L = model.prosody.latent_dim
    mu, logvar = np.zeros((len(items), L), np.float32), np.zeros((len(items), L), np.float32)
    for idx in frame_batches([it.n_frames for it in items], max_frames, None):
        batch = collate([{"phoneme_ids": items[i].arrays["phoneme_ids"], "word_pos": items[i].arrays["word_pos"],
                          "mel": items[i].arrays["mel"]} for i in idx])
        mask = lengths_to_mask(batch["frame_lens"], batch["mel"].shape[1])
        mel = (batch["mel"] - model.mel_mean) / model.mel_std
        m, lv = model.prosody.posterior(mel, mask)
        mu[idx], logvar[idx] = m.numpy(), lv.numpy()
    return mu, logvar


def latent_summary(mu: np.ndarray, logvar: np.ndarray) -> dict:
    """Posterior statistics over a whole split: KL to the prior per dimension, active dimensions."""
    from synthesis.models.prosody.kathaka import ACTIVE_DIM_THRESHOLD

    kl = 0.5 * (mu ** 2 + np.exp(logvar) - 1.0 - logvar)
    return {"kl_per_dim": [round(float(v), 4) for v in kl.mean(0)],
            "kl_total": float(kl.sum(1).mean()),
            "active_dims": int((mu.var(0) > ACTIVE_DIM_THRESHOLD).sum()),
            "mean_var_per_dim": [round(float(v), 4) for v in mu.var(0)]}


def _text_arrays(item, mu, logvar) -> dict:
    a = item.arrays
    return {"phoneme_ids": a["phoneme_ids"], "word_pos": a["word_pos"], "word_vectors": a["word_vectors"],
            "word_dep": a["word_dep"], "word_head": a["word_head"], "mu": mu, "logvar": logvar}


def stage2_loss(sampler, batch: dict) -> dict[str, torch.Tensor]:
    """KL(posterior || predicted), the prior's KL for comparison, and the mean's squared error."""
    from synthesis.models.prosody.kathaka import gaussian_kl, kl_per_dim

    mu_p, logvar_p = sampler(batch)
    kl = gaussian_kl(batch["mu"], batch["logvar"], mu_p, logvar_p).sum(1).mean()
    prior = kl_per_dim(batch["mu"], batch["logvar"]).sum(1).mean()
    mse = (mu_p - batch["mu"]).pow(2).sum(1).mean()
    return {"kl": kl, "prior_kl": prior.detach(), "mu_sq_err": mse.detach(), "total": kl}


# --- the run --------------------------------------------------------------------------------------

def train_stage2(cfg: Stage2Config, out: str | Path, *, progress: bool = True, resume: bool = True,
                 items: tuple | None = None) -> TrainResult:
    """Train ``cfg.stage2.sampler`` on the frozen ``cfg.stage2.stage1`` model into ``out``.

    Args:
        items: (train_items, validation_items) instead of reading the cache (tests).

    Raises:
        CheckpointError: the stage-1 checkpoint is missing or not a Kathaka stage-1 model.
        CacheError: the cache is missing, was built with other configs, or has no parse graphs.
    """
    from tqdm import tqdm

    from synthesis.models.backbone import same_architecture
    from synthesis.training.data import collate, load_items
    from synthesis.training.loop import _split_ids

    s = cfg.stage2
    out = Path(out)
    if not s.stage1:
        raise ConfigError("kathaka stage 2 needs the stage-1 checkpoint ([stage2] stage1 or --stage1)")
    stage1 = load_stage1(s.stage1)
    if s.threads:
        torch.set_num_threads(s.threads)
    random.seed(s.seed)
    np.random.seed(s.seed)
    torch.manual_seed(s.seed)
    model, mcfg = build_stage2_model(stage1, s.sampler, cfg.sampler, str(s.stage1))
    if items is None:
        from synthesis.training.config import TrainConfig

        tcfg = TrainConfig.from_dict(stage1["config"], f"{s.stage1} (config)")
        tcfg.train.cache = s.cache or tcfg.train.cache
        tcfg.train.split = s.split or tcfg.train.split
        split, _ = _split_ids(tcfg)
        cache = Path(tcfg.train.cache)
        check_parse_graphs(cache, split.train)
        expected = stage1.get("cache_hashes") or None
        train_items = load_items(cache, split.train, mcfg.feature_kind, expected)
        val_items = load_items(cache, split.validation, mcfg.feature_kind, expected)
        where = str(cache)
    else:
        train_items, val_items = items
        where = "items"
    check_items_have_graphs(train_items, where)

    t0 = time.perf_counter()
    tr_mu, tr_lv = posteriors(model, train_items)
    va_mu, va_lv = posteriors(model, val_items)
    summary = {"train": latent_summary(tr_mu, tr_lv), "validation": latent_summary(va_mu, va_lv),
               "seconds": time.perf_counter() - t0}
    train_arrays = [_text_arrays(it, tr_mu[i], tr_lv[i]) for i, it in enumerate(train_items)]
    val_arrays = [_text_arrays(it, va_mu[i], va_lv[i]) for i, it in enumerate(val_items)]

    sampler = model.prosody.sampler
    opt = torch.optim.AdamW(sampler.parameters(), lr=s.lr, weight_decay=s.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: lr_at(k, s))
    step, best_val, bad_evals, train_seconds = 0, float("inf"), 0, 0.0
    last_path = out / "last.pt"
    provenance = {"stage1": str(s.stage1), "stage1_hash": file_hash(s.stage1), "stage1_step": stage1.get("step"),
                  **cfg.to_dict()}
    if resume and last_path.exists():
        ckpt = load_checkpoint(last_path, SYSTEM)
        if ckpt.get("stage2", {}).get("stage1_hash") != provenance["stage1_hash"] or \
                not same_architecture(ckpt["config"]["model"], mcfg.to_dict()):
            raise ConfigError(f"{last_path}: was trained from another stage-1 model or sampler; use a new --out")
        step, best_val, bad_evals, train_seconds = restore_training_state(ckpt, model, opt, sched)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.toml").write_text(dump_toml(cfg.to_dict()), encoding="utf-8")
    config = {**stage1["config"], "model": mcfg.to_dict()}
    log = MetricsLog(out / "metrics.jsonl")

    def save(path: Path, metrics: dict, full: bool) -> None:
        payload = {"system": SYSTEM, "config": config, "cache_hashes": stage1.get("cache_hashes", {}),
                   "state_dict": model.state_dict(), "step": step, "best_val": best_val, "bad_evals": bad_evals,
                   "metrics": metrics, "train_seconds": train_seconds, "stage": 2, "stage2": provenance}
        if full:
            payload.update(optimizer=opt.state_dict(), scheduler=sched.state_dict(),
                           py_rng=random.getstate(), torch_rng=torch.get_rng_state())
        save_checkpoint(path, payload)

    def validate() -> dict[str, float]:
        sampler.eval()
        sums, n = {}, 0
        with torch.no_grad():
            for k in range(0, len(val_arrays), s.batch_size):
                chunk = val_arrays[k:k + s.batch_size]
                for name, v in stage2_loss(sampler, collate(chunk)).items():
                    sums[name] = sums.get(name, 0.0) + float(v) * len(chunk)
                n += len(chunk)
        sampler.train()
        return {k: v / max(n, 1) for k, v in sums.items()}

    if step == 0:
        log({"step": 0, "split": "posterior", **summary})
    rng = random.Random(s.seed + 7919 * (step + 1))
    bar = tqdm(total=s.max_steps, initial=step, desc=f"kathaka stage 2 ({s.sampler})", disable=not progress,
               dynamic_ncols=True)
    stopped, val, t_start, seconds_at_start = "max_steps", {}, time.perf_counter(), train_seconds
    model.eval()          # frozen stage 1: no dropout anywhere but in the sampler
    sampler.train()
    while stopped == "max_steps" and step < s.max_steps:
        order = list(range(len(train_arrays)))
        rng.shuffle(order)
        for k in range(0, len(order), s.batch_size):
            batch = collate([train_arrays[i] for i in order[k:k + s.batch_size]])
            losses = stage2_loss(sampler, batch)
            opt.zero_grad(set_to_none=True)
            losses["total"].backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(sampler.parameters(), s.grad_clip)
            opt.step()
            sched.step()
            step += 1
            train_seconds = seconds_at_start + (time.perf_counter() - t_start)
            if step % s.log_every == 0 or step == 1:
                log({"step": step, "split": "train", "lr": sched.get_last_lr()[0], "grad_norm": float(grad_norm),
                     "minutes": train_seconds / 60, **{n: float(v.detach()) for n, v in losses.items()}})
                bar.set_postfix(kl=f"{float(losses['kl'].detach()):.3f}", prior=f"{float(losses['prior_kl'].detach()):.3f}")
            bar.update(1)
            if step % s.eval_every == 0:
                val = validate()
                log({"step": step, "split": "validation", "score": val["kl"], "minutes": train_seconds / 60, **val})
                if val["kl"] < best_val:
                    best_val, bad_evals = val["kl"], 0
                    save(out / "best.pt", {"validation": val, "score": val["kl"], "posterior": summary}, full=False)
                else:
                    bad_evals += 1
                if bad_evals >= s.patience:
                    stopped = "early_stop"
            if s.max_minutes and train_seconds >= 60 * s.max_minutes:
                stopped = "time"
            if stopped != "max_steps" or step >= s.max_steps:
                break
    bar.close()
    if not (out / "best.pt").exists():
        val = validate()
        best_val = val["kl"]
        save(out / "best.pt", {"validation": val, "score": best_val, "posterior": summary}, full=False)
    save(last_path, {"validation": val, "posterior": summary}, full=True)
    if s.calibrate:  # deterministic on the best weights, so a resumed run writes the same offsets
        from synthesis.training.duration_stage import calibrate_checkpoint

        log({"step": step, "split": "calibration",
             **calibrate_checkpoint(out / "best.pt", None, items=(train_items, val_items))})
    log.close()
    n_train = sum(len(a["word_pos"]) for a in train_arrays)
    return TrainResult(out, step, best_val, stopped, train_seconds, n_train * step / max(len(train_arrays), 1)
                       / max(train_seconds, 1e-9))


def train_from_args(args) -> TrainResult:
    """``synthesis train --system kathaka --stage 2 [--sampler bert|graph|both]``: config + overrides."""
    cfg = load_stage2_config(args.config)
    if getattr(args, "sampler", None):
        cfg.stage2.sampler = args.sampler
    if getattr(args, "stage1", None):
        cfg.stage2.stage1 = args.stage1
    if args.cache:
        cfg.stage2.cache = args.cache
    if args.max_minutes is not None:
        cfg.stage2.max_minutes = args.max_minutes
    if args.max_steps is not None:
        cfg.stage2.max_steps = args.max_steps
    if getattr(args, "seed", None) is not None:
        cfg.stage2.seed = args.seed
    return train_stage2(cfg, args.out, progress=not args.quiet, resume=not args.restart)


def set_checkpoint_inference(path: str | Path, mode: str | None, temperature: float | None = None,
                             check_only: bool = False) -> dict:
    """Rewrite a Kathaka checkpoint so it synthesises in ``mode`` by default (for `synthesis
    evaluate` and listening sets, which take checkpoint files): returns the new prosody args.
    ``check_only`` validates without writing (before an export, so a refusal leaves no file).

    Raises:
        CheckpointError: not a Kathaka checkpoint, or a mode it cannot run (no sampler).
    """
    from synthesis.models.prosody.kathaka import KathakaProsody

    ckpt = load_checkpoint(path, SYSTEM)
    args = dict(ckpt["config"]["model"].get("prosody_args", {}))
    probe = KathakaProsody.__new__(KathakaProsody)  # validation only: no weights built
    probe.sampler_kind = args.get("sampler")
    mode = mode or args.get("inference") or ("mean" if probe.sampler_kind else "prior")
    try:
        probe.set_inference(mode, temperature if temperature is not None else args.get("temperature", 1.0))
    except ValueError as exc:
        raise CheckpointError(f"{path}: {exc}") from None
    args.update(inference=probe.inference, temperature=probe.temperature)
    ckpt["config"] = {**ckpt["config"], "model": {**ckpt["config"]["model"], "prosody_args": args}}
    if check_only:
        return args
    save_checkpoint(path, ckpt)
    return args
