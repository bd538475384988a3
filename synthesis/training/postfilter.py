"""Train the adversarial mel-cepstral post-filter of a frozen WORLD acoustic model, and attach it.

``synthesis train-postfilter --checkpoint CKPT --config configs/postfilter_cpu.toml --out RUN
[--attach]``:

1. The acoustic model (any system, WORLD features) predicts every training and validation clip
   with its own aligner on the recording (teacher forcing), once: the predictions are frame
   aligned with the recordings' features, which a post-filter needs as its targets.
2. The generator (``synthesis.models.postfilter``) learns on random crops of those pairs:
   least-squares GAN loss against a patch discriminator, feature matching on the
   discriminator's activations, and an L1 anchor to the recording that keeps the content.
3. Validation (every ``eval_every`` steps, logged): L1 to the recordings and the dynamics
   ratio, the mean absolute frame-to-frame change of the filtered prediction over the
   recordings' (the raw prediction: ~0.1; recordings: 1).
4. ``RUN/postfilter.pt`` holds the generator after the last step (a GAN has no validation loss
   to early-stop on; the step count is the config's). ``--attach`` writes it into CKPT
   (atomically), where ``Synthesizer`` (synthesize, evaluate, build-set) applies it before the
   spectral enhancement.

Runs are resumable (``RUN/last.pt`` with both networks, both optimisers and the sampling RNG)
and reproducible (seeded; the config is saved as ``RUN/config.toml``).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from synthesis.errors import ConfigError
from synthesis.models.postfilter import (
    CepstralPostFilter,
    PatchDiscriminator,
    PostFilterConfig,
    weights_digest,
)
from synthesis.training.checkpoint import (
    CheckpointError,
    load_checkpoint,
    rebuild_model,
    save_checkpoint,
)
from synthesis.training.config import dump_toml, read_toml
from synthesis.training.runlog import MetricsLog

#: the key of an acoustic checkpoint that holds its post-filter
POSTFILTER_KEY = "postfilter"


@dataclass
class PostFilterTrain:
    cache: str = "cache/ljspeech-mini"
    split: str = ""               # default: the committed split of the cache's corpus
    seed: int = 1234
    steps: int = 1000
    batch: int = 16
    crop_frames: int = 128        # ~1.5 s: several phonemes per crop
    lr: float = 2e-4
    eval_every: int = 100
    checkpoint_minutes: float = 4.0
    threads: int = 1


@dataclass
class PostFilterTrainConfig:
    model: PostFilterConfig = field(default_factory=PostFilterConfig)
    train: PostFilterTrain = field(default_factory=PostFilterTrain)
    loss: dict = field(default_factory=lambda: {"adversarial": 1.0, "feature_matching": 2.0,
                                                 "reconstruction": 5.0})

    def to_dict(self) -> dict:
        return {"postfilter": self.model.to_dict(), "train": asdict(self.train), "loss": dict(self.loss)}

    @classmethod
    def from_dict(cls, d: dict, where: str = "config") -> PostFilterTrainConfig:
        unknown = set(d) - {"postfilter", "train", "loss"}
        if unknown:
            raise ConfigError(f"{where}: unknown sections {', '.join(sorted(unknown))} (postfilter, train, loss)")
        model = PostFilterConfig.from_dict(dict(d.get("postfilter", {})), f"{where}: [postfilter]")
        known = {f.name: f for f in fields(PostFilterTrain)}
        train_raw = dict(d.get("train", {}))
        bad = set(train_raw) - set(known)
        if bad:
            raise ConfigError(f"{where}: [train] unknown keys {', '.join(sorted(bad))}")
        defaults = PostFilterTrain()
        for key, value in train_raw.items():
            want = type(getattr(defaults, key))
            ok = isinstance(value, int | float) and not isinstance(value, bool) if want is float else (
                isinstance(value, want) and not (want is int and isinstance(value, bool)))
            if not ok:
                raise ConfigError(f"{where}: [train] {key} must be {want.__name__}, got {value!r}")
        train = PostFilterTrain(**train_raw)
        for key in ("steps", "batch", "crop_frames", "eval_every"):
            if getattr(train, key) < 1:
                raise ConfigError(f"{where}: [train] {key} must be at least 1, got {getattr(train, key)}")
        if not train.lr > 0:
            raise ConfigError(f"{where}: [train] lr must be positive, got {train.lr}")
        loss = {**cls().loss, **d.get("loss", {})}
        bad = set(loss) - set(cls().loss)
        if bad:
            raise ConfigError(f"{where}: [loss] unknown keys {', '.join(sorted(bad))} "
                              f"({', '.join(cls().loss)})")
        for key, value in loss.items():
            if not isinstance(value, int | float) or isinstance(value, bool) or not (0 <= value <= 100):
                raise ConfigError(f"{where}: [loss] {key} must be a number in [0, 100], got {value!r}")
        if loss["adversarial"] == 0:
            raise ConfigError(f"{where}: [loss] adversarial must be positive (it is what the post-filter learns from)")
        return cls(model, train, {k: float(v) for k, v in loss.items()})


def load_postfilter_config(path: str | Path) -> PostFilterTrainConfig:
    return PostFilterTrainConfig.from_dict(read_toml(path), str(path))


# ---------------------------------------------------------------------------------------------
# Data: teacher-forced predictions of the frozen acoustic model


def load_acoustic_model(path: str | Path):
    """The acoustic checkpoint and its model (frozen, eval mode). Refuses non-WORLD models."""
    path = Path(path)
    ckpt = load_checkpoint(path)
    model = rebuild_model(ckpt, path)
    if model.cfg.feature_kind != "world":
        raise CheckpointError(f"{path}: the post-filter filters WORLD mel-cepstra; this model predicts "
                              f"{model.cfg.feature_kind}")
    for p in model.parameters():
        p.requires_grad_(False)
    return ckpt, model.eval()


@torch.no_grad()
def teacher_forced_pairs(model, items, cfg: PostFilterConfig) -> list[tuple[np.ndarray, np.ndarray]]:
    """(prediction, recording) per clip: normalised columns ``first_dim:end_dim`` [T, D], frame aligned
    (the recording's alignment decides the durations: the cache's forced one for a forced model,
    else the model's own aligner)."""
    from synthesis.training.data import collate

    if cfg.end_dim > model.cfg.out_dim:
        raise ConfigError(f"[postfilter] end_dim {cfg.end_dim} is beyond the model's {model.cfg.out_dim} features")
    cols = slice(cfg.first_dim, cfg.end_dim)
    mean = model.target_mean.numpy()[cols]
    std = model.target_std.numpy()[cols]
    pairs = []
    for it in items:
        batch = collate([it.arrays])
        pred = model(batch)["after"][0].numpy()[:, cols]
        rec = (batch["target"][0].numpy()[:, cols] - mean) / std
        pairs.append((pred.astype(np.float32), rec.astype(np.float32)))
    return pairs


def dynamics_ratio(filtered: list[np.ndarray], recorded: list[np.ndarray]) -> float:
    """Mean |frame-to-frame change| of ``filtered`` over that of ``recorded`` (1: as lively)."""
    num = np.mean([np.abs(np.diff(f, axis=0)).mean() for f in filtered if len(f) > 1])
    den = np.mean([np.abs(np.diff(r, axis=0)).mean() for r in recorded if len(r) > 1])
    return float(num / max(den, 1e-12))


def random_crops(pairs, n: int, crop: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` random aligned crops of ``crop`` frames (clips shorter than that are skipped)."""
    usable = [p for p in pairs if len(p[0]) > crop]
    if not usable:
        raise ConfigError(f"[train] crop_frames {crop}: no training clip is that long")
    xs, ys = [], []
    for _ in range(n):
        pred, rec = usable[int(torch.randint(len(usable), (1,), generator=gen))]
        s = int(torch.randint(len(pred) - crop, (1,), generator=gen))
        xs.append(pred[s:s + crop])
        ys.append(rec[s:s + crop])
    return torch.from_numpy(np.stack(xs)), torch.from_numpy(np.stack(ys))


# ---------------------------------------------------------------------------------------------
# Training


@dataclass
class PostFilterResult:
    out: Path
    step: int
    seconds: float
    validation: dict


def _validate(gen: CepstralPostFilter, pairs) -> dict:
    gen.eval()
    with torch.no_grad():
        filtered = [gen(torch.from_numpy(p)[None])[0].numpy() for p, _ in pairs]
    gen.train()
    recorded = [r for _, r in pairs]
    return {"l1": float(np.mean([np.abs(f - r).mean() for f, r in zip(filtered, recorded)])),
            "dynamics_ratio": dynamics_ratio(filtered, recorded)}


#: [train] settings a resumed run may change (more steps, other logging or threads)
RESUMABLE_CHANGES = ("steps", "eval_every", "checkpoint_minutes", "threads", "cache")


def _what_decides(config: dict) -> dict:
    """The part of a run's config that must match for a resume (model, loss, sampling, lr)."""
    train = {k: v for k, v in config.get("train", {}).items() if k not in RESUMABLE_CHANGES}
    return {"postfilter": config.get("postfilter"), "loss": config.get("loss"), "train": train}


def train_postfilter(cfg: PostFilterTrainConfig, checkpoint: str | Path, out: str | Path, *,
                     progress: bool = True, resume: bool = True, items: tuple | None = None) -> PostFilterResult:
    """Train the post-filter of the acoustic model ``checkpoint`` into the run folder ``out``.

    Args:
        items: (train_items, validation_items) instead of the cache (tests).

    Raises:
        CheckpointError: the acoustic checkpoint is missing, corrupt or not a WORLD model; a
            run in ``out`` was made for another model or config.
        CacheError: the cache was built with other configs than the acoustic model.
    """
    from tqdm import tqdm

    from synthesis.training.data import load_items
    from synthesis.training.loop import cache_split

    out = Path(out)
    checkpoint = Path(checkpoint)
    ckpt, model = load_acoustic_model(checkpoint)
    digest = weights_digest(ckpt["state_dict"])
    tcfg = cfg.train
    if tcfg.threads:
        torch.set_num_threads(tcfg.threads)
    torch.manual_seed(tcfg.seed)
    if items is None:
        split, _ = cache_split(tcfg.cache, tcfg.split)
        hashes = ckpt.get("cache_hashes") or None
        train_items = load_items(tcfg.cache, split.train, "world", hashes)
        val_items = load_items(tcfg.cache, split.validation, "world", hashes)
    else:
        train_items, val_items = items
    t_pre = time.perf_counter()
    train_pairs = teacher_forced_pairs(model, train_items, cfg.model)
    val_pairs = teacher_forced_pairs(model, val_items, cfg.model)
    gen, disc = CepstralPostFilter(cfg.model), PatchDiscriminator()
    opt_g = torch.optim.AdamW(gen.parameters(), tcfg.lr, betas=(0.5, 0.9))
    opt_d = torch.optim.AdamW(disc.parameters(), tcfg.lr, betas=(0.5, 0.9))
    rng = torch.Generator().manual_seed(tcfg.seed)
    step, seconds = 0, 0.0
    last_path = out / "last.pt"
    header = {"kind": "postfilter", "config": cfg.to_dict(), "acoustic": {"path": str(checkpoint), "weights": digest}}
    if resume and last_path.is_file():
        last = load_checkpoint(last_path)
        if last.get("kind") != "postfilter" or last.get("acoustic", {}).get("weights") != digest \
                or _what_decides(last.get("config", {})) != _what_decides(cfg.to_dict()):
            raise CheckpointError(f"{last_path}: a post-filter run for another acoustic model or config; "
                                  "use a new --out or --restart")
        gen.load_state_dict(last["generator"])
        disc.load_state_dict(last["discriminator"])
        opt_g.load_state_dict(last["opt_g"])
        opt_d.load_state_dict(last["opt_d"])
        rng.set_state(last["rng"])
        step, seconds = int(last["step"]), float(last["train_seconds"])
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.toml").write_text(dump_toml(cfg.to_dict()), encoding="utf-8")
    log = MetricsLog(out / "metrics.jsonl")

    def save_last() -> None:
        save_checkpoint(last_path, {**header, "step": step, "train_seconds": seconds,
                                    "generator": gen.state_dict(), "discriminator": disc.state_dict(),
                                    "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(), "rng": rng.get_state()})

    if step == 0:
        raw = dynamics_ratio([p for p, _ in val_pairs], [r for _, r in val_pairs])
        log({"step": 0, "split": "setup", "precompute_s": time.perf_counter() - t_pre, "train_clips": len(train_pairs),
             "validation_clips": len(val_pairs), "validation": _validate(gen, val_pairs),
             "raw_dynamics_ratio": raw})
    w = cfg.loss
    gen.train()
    disc.train()
    last_save = time.perf_counter()
    bar = tqdm(total=tcfg.steps, initial=step, desc="train post-filter", disable=not progress, dynamic_ncols=True)
    val = {}
    try:
        while step < tcfg.steps:
            t0 = time.perf_counter()
            x, y = random_crops(train_pairs, tcfg.batch, tcfg.crop_frames, rng)
            fake = gen(x)
            # discriminator: least-squares GAN, recordings -> 1, filtered predictions -> 0
            score_real, _ = disc(y)
            score_fake, _ = disc(fake.detach())
            loss_d = ((score_real - 1) ** 2).mean() + (score_fake ** 2).mean()
            opt_d.zero_grad()
            loss_d.backward()
            opt_d.step()
            # generator: fool the discriminator, match its activations, stay near the recording
            score_fake, feats_fake = disc(fake)
            with torch.no_grad():
                _, feats_real = disc(y)
            adv = ((score_fake - 1) ** 2).mean()
            fm = sum(F.l1_loss(a, b) for a, b in zip(feats_fake, feats_real)) / len(feats_fake)
            rec = F.l1_loss(fake, y)
            loss_g = w["adversarial"] * adv + w["feature_matching"] * fm + w["reconstruction"] * rec
            opt_g.zero_grad()
            loss_g.backward()
            torch.nn.utils.clip_grad_norm_(gen.parameters(), 5.0)
            opt_g.step()
            step += 1
            seconds += time.perf_counter() - t0
            bar.update(1)
            bar.set_postfix(d=f"{loss_d.item():.3f}", adv=f"{adv.item():.3f}", l1=f"{rec.item():.3f}")
            if step % tcfg.eval_every == 0 or step == tcfg.steps:
                val = _validate(gen, val_pairs)
                log({"step": step, "split": "train", "d": loss_d.item(), "adversarial": adv.item(),
                     "feature_matching": fm.item(), "l1": rec.item(), "seconds": seconds})
                log({"step": step, "split": "validation", **val})
            if time.perf_counter() - last_save > 60 * tcfg.checkpoint_minutes:
                save_last()
                last_save = time.perf_counter()
    finally:
        bar.close()
        if step:
            save_last()
        log.close()
    val = val or _validate(gen, val_pairs)
    save_checkpoint(out / "postfilter.pt", {**header, "step": step, "train_seconds": seconds, "validation": val,
                                            "state_dict": {k: v.half() for k, v in gen.state_dict().items()}})
    return PostFilterResult(out, step, seconds, val)


def attach_postfilter(checkpoint: str | Path, postfilter: str | Path) -> dict:
    """Write the trained post-filter ``postfilter`` (a run's ``postfilter.pt``) into the acoustic
    checkpoint it was trained on (atomic; one it already holds is replaced).

    Raises:
        CheckpointError: either file is unreadable, or the post-filter was trained on other weights.
    """
    checkpoint, postfilter = Path(checkpoint), Path(postfilter)
    pf = load_checkpoint(postfilter)
    if pf.get("kind") != "postfilter" or "state_dict" not in pf:
        raise CheckpointError(f"{postfilter}: not a trained post-filter (a run's postfilter.pt)")
    ckpt = load_checkpoint(checkpoint)
    if weights_digest(ckpt["state_dict"]) != pf["acoustic"]["weights"]:
        raise CheckpointError(f"{postfilter}: trained on another acoustic model ({pf['acoustic']['path']}), "
                              f"not on the weights in {checkpoint}")
    entry = {"config": pf["config"]["postfilter"], "state_dict": pf["state_dict"], "weights": pf["acoustic"]["weights"],
             "step": pf["step"], "validation": pf.get("validation", {}), "loss": pf["config"]["loss"]}
    save_checkpoint(checkpoint, {**ckpt, POSTFILTER_KEY: entry})
    return entry


def train_from_args(args) -> PostFilterResult:
    """``synthesis train-postfilter``: the config file plus command-line overrides."""
    cfg = load_postfilter_config(args.config)
    if args.cache:
        cfg.train.cache = args.cache
    if args.steps:
        cfg.train.steps = args.steps
    result = train_postfilter(cfg, args.checkpoint, args.out, progress=not args.quiet, resume=not args.restart)
    if args.attach:
        attach_postfilter(args.checkpoint, Path(args.out) / "postfilter.pt")
    return result
