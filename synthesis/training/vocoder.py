"""Training the Vocos-style vocoder (``synthesis train-vocoder``) and exporting it.

Data: random segments of the training-split recordings with their log-mel computed by the
project's own ``features.log_mel`` on the whole clip, so the generator learns the frame
alignment the acoustic models predict. Losses: L1 on the log-mel of the output,
multi-resolution STFT (spectral convergence + log magnitude), and from ``adv_start`` on an
adversarial loss (hinge or least squares) with feature matching against a multi-period
(HiFi-GAN) and a multi-resolution spectrogram (UnivNet) discriminator, both kept small.

Run folder, as ``synthesis train``: ``config.toml`` (the exact config), ``last.pt``
(resumable: optimisers, RNG), ``best.pt`` (lowest validation mel L1; once the discriminators
have joined, among adversarially trained checkpoints only),
``metrics.jsonl``. ``export_vocoder`` writes the generator alone in float16.
"""

from __future__ import annotations

import json
import math
import random
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from synthesis.audio.features import DEFAULT_FEATURES, FeatureConfig, log_mel
from synthesis.errors import ConfigError
from synthesis.training.checkpoint import load_checkpoint, restore_training_state, save_checkpoint
from synthesis.training.config import dump_toml, read_toml
from synthesis.vocoders.networks import LogMel, VocosConfig, VocosGenerator, param_count
from synthesis.vocoders.neural import VOCOS_SYSTEM

RESOLUTIONS = [[512, 128, 512], [1024, 256, 1024], [2048, 512, 2048]]


# ---------------------------------------------------------------------------------------------
# Configuration


@dataclass
class DiscriminatorConfig:
    periods: list = field(default_factory=lambda: [2, 3, 5, 7, 11])
    mpd_channels: list = field(default_factory=lambda: [16, 64, 128, 128])
    resolutions: list = field(default_factory=lambda: [list(r) for r in RESOLUTIONS])
    mrd_channels: int = 16


@dataclass
class VocoderTrainSettings:
    corpus: str = ""                  # default: the bundled corpus (or PROSODY_CORPUS)
    split: str = ""                   # default: the committed split of that corpus
    seed: int = 1234
    segment_frames: int = 32          # frames per training segment (x hop samples)
    batch_size: int = 8
    lr: float = 5e-4                  # generator
    d_lr: float = 5e-4                # discriminators
    betas: list = field(default_factory=lambda: [0.8, 0.9])
    weight_decay: float = 0.01
    warmup_steps: int = 200
    min_lr_ratio: float = 0.1         # cosine decay to lr * this at lr_decay_steps
    lr_decay_steps: int = 0           # length of the cosine decay (0: max_steps)
    grad_clip: float = 100.0
    max_steps: int = 20_000
    max_minutes: float = 0.0          # stop after this much training time (0: no limit)
    adv_start: int = 0                # step at which the discriminators join
    eval_every: int = 250
    log_every: int = 10
    checkpoint_minutes: float = 5.0   # save last.pt at least this often
    train_clips: int = 0              # only the first N training clips (0: all; for tests)
    val_clips: int = 0                # only the first N validation clips (0: all)
    threads: int = 0                  # torch intra-op threads on CPU (0: torch default)
    bf16: bool = True                 # autocast to bfloat16 on a GPU


@dataclass
class VocoderLoss:
    mel: float = 45.0
    stft: float = 1.0
    adv: float = 1.0
    fm: float = 2.0
    adv_kind: str = "hinge"           # "hinge" (Vocos) or "lsgan" (HiFi-GAN)
    stft_resolutions: list = field(default_factory=lambda: [list(r) for r in RESOLUTIONS])


SECTIONS = {"generator": VocosConfig, "discriminator": DiscriminatorConfig, "train": VocoderTrainSettings,
            "loss": VocoderLoss}


@dataclass
class VocoderConfig:
    generator: VocosConfig = field(default_factory=VocosConfig)
    discriminator: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)
    train: VocoderTrainSettings = field(default_factory=VocoderTrainSettings)
    loss: VocoderLoss = field(default_factory=VocoderLoss)

    def to_dict(self) -> dict:
        return {name: asdict(getattr(self, name)) for name in SECTIONS}

    @classmethod
    def from_dict(cls, d: dict, where: str = "config") -> VocoderConfig:
        unknown = set(d) - set(SECTIONS)
        if unknown:
            raise ConfigError(f"{where}: unknown sections {', '.join(sorted(unknown))} "
                              f"({', '.join(SECTIONS)})")
        parts = {}
        for name, kind in SECTIONS.items():
            values = d.get(name, {})
            if not isinstance(values, dict):
                raise ConfigError(f"{where}: [{name}] must be a table")
            defaults = kind()
            known = {f.name for f in fields(kind)}
            bad = set(values) - known
            if bad:
                raise ConfigError(f"{where}: [{name}] unknown keys {', '.join(sorted(bad))}")
            for key, value in values.items():
                _check_type(where, name, key, value, getattr(defaults, key))
            parts[name] = kind(**{k: (float(v) if isinstance(getattr(defaults, k), float) else v)
                                  for k, v in values.items()})
        cfg = cls(**parts)
        cfg.validate(where)
        return cfg

    def validate(self, where: str) -> None:
        g, d, t, loss = self.generator, self.discriminator, self.train, self.loss
        positive = {"generator": ("dim", "intermediate", "layers", "kernel"),
                    "train": ("segment_frames", "batch_size", "lr", "d_lr", "max_steps", "eval_every",
                              "log_every", "checkpoint_minutes"),
                    "discriminator": ("mrd_channels",)}
        for section, keys in positive.items():
            for key in keys:
                if getattr(getattr(self, section), key) <= 0:
                    raise ConfigError(f"{where}: [{section}] {key} must be positive, got "
                                      f"{getattr(getattr(self, section), key)!r}")
        if g.kernel % 2 == 0:
            raise ConfigError(f"{where}: [generator] kernel must be odd, got {g.kernel}")
        if loss.adv_kind not in ("hinge", "lsgan"):
            raise ConfigError(f"{where}: [loss] adv_kind must be \"hinge\" or \"lsgan\", got {loss.adv_kind!r}")
        for section, key, value in (("discriminator", "resolutions", d.resolutions),
                                    ("loss", "stft_resolutions", loss.stft_resolutions)):
            if not value or not all(isinstance(r, list) and len(r) == 3 and all(isinstance(x, int) and x > 0 for x in r)
                                    for r in value):
                raise ConfigError(f"{where}: [{section}] {key} must be a list of [n_fft, hop, window] "
                                  f"triples of positive integers")
        if not d.periods or not all(isinstance(p, int) and p > 1 for p in d.periods):
            raise ConfigError(f"{where}: [discriminator] periods must be integers above 1, got {d.periods!r}")
        if not d.mpd_channels or not all(isinstance(c, int) and c > 0 for c in d.mpd_channels):
            raise ConfigError(f"{where}: [discriminator] mpd_channels must be positive integers")
        if len(t.betas) != 2 or not all(isinstance(b, (int, float)) and 0 <= b < 1 for b in t.betas):
            raise ConfigError(f"{where}: [train] betas must be two numbers in [0, 1), got {t.betas!r}")
        longest = max(r[0] for r in d.resolutions + loss.stft_resolutions)
        if t.segment_frames * DEFAULT_FEATURES.hop_length <= longest // 2:
            raise ConfigError(f"{where}: [train] segment_frames {t.segment_frames} is too short for an "
                              f"STFT of {longest} points")


def _check_type(where: str, section: str, key: str, value, default) -> None:
    if isinstance(default, bool):
        ok, what = isinstance(value, bool), "true or false"
    elif isinstance(default, int):
        ok, what = isinstance(value, int) and not isinstance(value, bool), "an integer"
    elif isinstance(default, float):
        ok, what = isinstance(value, (int, float)) and not isinstance(value, bool), "a number"
    elif isinstance(default, str):
        ok, what = isinstance(value, str), "a string"
    else:
        ok, what = isinstance(value, list), "a list"
    if not ok:
        raise ConfigError(f"{where}: [{section}] {key} must be {what}, got {value!r}")


def load_vocoder_config(path: str | Path) -> VocoderConfig:
    return VocoderConfig.from_dict(read_toml(path), str(path))


# ---------------------------------------------------------------------------------------------
# Data


@dataclass
class VocoderClip:
    id: str
    wave: np.ndarray     # [T * hop] int16 (exact for 16-bit recordings, half the memory)
    mel: np.ndarray      # [T, n_mels] float16, the project's log_mel of the whole clip

    @property
    def n_frames(self) -> int:
        return self.mel.shape[0]

    def float_wave(self) -> np.ndarray:
        return self.wave.astype(np.float32) / 32768.0


def load_clips(paths: list[tuple[str, Path]], features: FeatureConfig, progress: bool = False,
               desc: str = "clips") -> list[VocoderClip]:
    """Read recordings and compute their log-mel once (the slow part of start-up)."""
    from tqdm import tqdm

    from synthesis.audio.io import load_audio

    clips = []
    for cid, path in tqdm(paths, desc=desc, disable=not progress, dynamic_ncols=True, leave=False):
        wave = load_audio(path, features.sample_rate)
        if len(wave) < features.n_fft:
            continue
        mel = log_mel(wave, features)
        wave = wave[: mel.shape[0] * features.hop_length]
        pcm = np.clip(np.round(wave * 32768.0), -32768, 32767).astype(np.int16)
        clips.append(VocoderClip(cid, pcm, mel.astype(np.float16)))
    return clips


def sample_batch(clips: list[VocoderClip], segment: int, batch_size: int, rng: np.random.Generator,
                 hop: int) -> tuple[np.ndarray, np.ndarray]:
    """Random aligned segments: mel ``[B, n_mels, segment]`` and wave ``[B, segment * hop]``.

    Clips are drawn in proportion to their number of segment positions, so every frame of
    the training set is about equally likely to be seen.
    """
    weights = np.array([c.n_frames - segment + 1 for c in clips], dtype=np.float64)
    picks = rng.choice(len(clips), size=batch_size, p=weights / weights.sum())
    mels, waves = [], []
    for i in picks:
        clip = clips[i]
        start = int(rng.integers(0, clip.n_frames - segment + 1))
        mels.append(clip.mel[start: start + segment].T.astype(np.float32))
        waves.append(clip.wave[start * hop: (start + segment) * hop].astype(np.float32) / 32768.0)
    return np.stack(mels), np.stack(waves)


def _corpus_clips(cfg: VocoderConfig) -> tuple[list, list, dict]:
    from synthesis.corpus import default_corpus_path, default_split_path, load_corpus, load_split

    root = Path(cfg.train.corpus) if cfg.train.corpus else default_corpus_path()
    split_path = Path(cfg.train.split) if cfg.train.split else default_split_path(root)
    corpus = load_corpus(root)
    split = load_split(split_path, corpus)
    by_id = corpus.by_id()
    train_ids = list(split.train[: cfg.train.train_clips] if cfg.train.train_clips else split.train)
    val_ids = list(split.validation[: cfg.train.val_clips] if cfg.train.val_clips else split.validation)
    info = {"corpus": str(root), "split_file": str(split_path), "train_clips": len(train_ids),
            "validation_clips": len(val_ids)}
    return ([(i, by_id[i].wav_path) for i in train_ids], [(i, by_id[i].wav_path) for i in val_ids], info)


# ---------------------------------------------------------------------------------------------
# Discriminators


def _wn(module: nn.Module) -> nn.Module:
    return nn.utils.parametrizations.weight_norm(module)


class PeriodDiscriminator(nn.Module):
    """HiFi-GAN's sub-discriminator: the waveform folded into ``period`` columns, 2-D convs
    along time only."""

    def __init__(self, period: int, channels: list[int]):
        super().__init__()
        self.period = period
        layers, c_in = [], 1
        for c in channels:
            layers.append(_wn(nn.Conv2d(c_in, c, (5, 1), (3, 1), padding=(2, 0))))
            c_in = c
        layers.append(_wn(nn.Conv2d(c_in, c_in, (5, 1), 1, padding=(2, 0))))
        self.convs = nn.ModuleList(layers)
        self.post = _wn(nn.Conv2d(c_in, 1, (3, 1), 1, padding=(1, 0)))

    def forward(self, x: torch.Tensor):
        b, n = x.shape
        if n % self.period:
            x = F.pad(x.unsqueeze(1), (0, self.period - n % self.period), mode="reflect").squeeze(1)
        x = x.view(b, 1, -1, self.period)
        return _conv_stack(x, self.convs, self.post)


def _conv_stack(x: torch.Tensor, convs: nn.ModuleList, post: nn.Module):
    """Leaky-ReLU conv stack of a sub-discriminator: (flattened score, every layer's output)."""
    fmaps = []
    for conv in convs:
        x = F.leaky_relu(conv(x), 0.1)
        fmaps.append(x)
    x = post(x)
    fmaps.append(x)
    return x.flatten(1), fmaps


class ResolutionDiscriminator(nn.Module):
    """UnivNet-style sub-discriminator on one STFT magnitude; the strides thin the frequency axis."""

    def __init__(self, n_fft: int, hop: int, win: int, ch: int):
        super().__init__()
        self.n_fft, self.hop, self.win = n_fft, hop, win
        self.register_buffer("window", torch.hann_window(win), persistent=False)
        # Unlike UnivNet the first conv is strided too: full-resolution 2-D convs dominated
        # the cost of a training step on CPU.
        self.convs = nn.ModuleList([_wn(nn.Conv2d(1, ch, (3, 9), stride=(1, 2), padding=(1, 4)))]
                                   + [_wn(nn.Conv2d(ch, ch, (3, 9), stride=(1, 2), padding=(1, 4))) for _ in range(3)]
                                   + [_wn(nn.Conv2d(ch, ch, (3, 3), padding=(1, 1)))])
        self.post = _wn(nn.Conv2d(ch, 1, (3, 3), padding=(1, 1)))

    def forward(self, x: torch.Tensor):
        with torch.autocast(device_type=x.device.type, enabled=False):
            spec = torch.stft(x.float(), self.n_fft, self.hop, self.win, self.window, center=True,
                              return_complex=True)
            mag = torch.sqrt(spec.real ** 2 + spec.imag ** 2 + 1e-9)
        x = mag.transpose(1, 2).unsqueeze(1)  # [B, 1, frames, bins]
        return _conv_stack(x, self.convs, self.post)


class Discriminators(nn.Module):
    def __init__(self, cfg: DiscriminatorConfig):
        super().__init__()
        self.mpd = nn.ModuleList(PeriodDiscriminator(p, cfg.mpd_channels) for p in cfg.periods)
        self.mrd = nn.ModuleList(ResolutionDiscriminator(*r, cfg.mrd_channels) for r in cfg.resolutions)

    def forward(self, x: torch.Tensor) -> dict[str, list]:
        return {"mpd": [d(x) for d in self.mpd], "mrd": [d(x) for d in self.mrd]}


# ---------------------------------------------------------------------------------------------
# Losses


def _magnitude(x: torch.Tensor, n_fft: int, hop: int, win: int) -> torch.Tensor:
    window = torch.hann_window(win, device=x.device)
    spec = torch.stft(x.float(), n_fft, hop, win, window, center=True, return_complex=True)
    return torch.sqrt(torch.clamp(spec.real ** 2 + spec.imag ** 2, min=1e-7))


def mr_stft_loss(y_hat: torch.Tensor, y: torch.Tensor, resolutions) -> torch.Tensor:
    """Multi-resolution STFT loss (Yamamoto et al. 2020): spectral convergence + log-magnitude L1."""
    total = y_hat.new_zeros((), dtype=torch.float32)
    for n_fft, hop, win in resolutions:
        s, s_hat = _magnitude(y, n_fft, hop, win), _magnitude(y_hat, n_fft, hop, win)
        sc = torch.linalg.vector_norm(s - s_hat) / torch.linalg.vector_norm(s)
        total = total + sc + F.l1_loss(torch.log(s_hat), torch.log(s))
    return total / len(resolutions)


def discriminator_loss(real: dict, fake: dict, kind: str) -> torch.Tensor:
    """Mean over sub-discriminators, summed over the two families."""
    total = 0.0
    for family, outs in real.items():
        parts = []
        for (r, _), (f, _) in zip(outs, fake[family]):
            r, f = r.float(), f.float()
            if kind == "hinge":
                parts.append(F.relu(1 - r).mean() + F.relu(1 + f).mean())
            else:
                parts.append(((1 - r) ** 2).mean() + (f ** 2).mean())
        total = total + sum(parts) / len(parts)
    return total


def generator_adv_loss(fake: dict, kind: str) -> torch.Tensor:
    total = 0.0
    for outs in fake.values():
        parts = [F.relu(1 - f.float()).mean() if kind == "hinge" else ((1 - f.float()) ** 2).mean()
                 for f, _ in outs]
        total = total + sum(parts) / len(parts)
    return total


def feature_matching_loss(real: dict, fake: dict) -> torch.Tensor:
    total = 0.0
    for family, outs in real.items():
        parts = []
        for (_, fr), (_, ff) in zip(outs, fake[family]):
            parts.append(sum(F.l1_loss(b.float(), a.float()) for a, b in zip(fr, ff)) / len(fr))
        total = total + sum(parts) / len(parts)
    return total


def lr_factor(step: int, warmup: int, total: int, min_ratio: float) -> float:
    """Linear warm-up, then cosine decay to ``min_ratio`` at ``total`` steps."""
    warm = min(1.0, (step + 1) / max(1, warmup))
    progress = min(1.0, step / max(1, total))
    return warm * (min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


class _Pair:
    """Two optimisers (or schedulers) saved and restored as one ``state_dict``."""

    def __init__(self, **parts):
        self.parts = parts

    def state_dict(self) -> dict:
        return {k: v.state_dict() for k, v in self.parts.items()}

    def load_state_dict(self, state: dict) -> None:
        for k, v in self.parts.items():
            v.load_state_dict(state[k])


# ---------------------------------------------------------------------------------------------
# Validation and the loop


def validate(generator: nn.Module, mel_fn: LogMel, clips: list[VocoderClip], resolutions, device) -> dict:
    """Whole validation clips: L1 between the output's log-mel and the input log-mel, and the
    MR-STFT loss against the recording; means weighted by clip length."""
    generator.eval()
    sums, total = {"mel": 0.0, "stft": 0.0}, 0
    with torch.no_grad():
        for clip in clips:
            mel = torch.from_numpy(clip.mel.T.astype(np.float32))[None].to(device)
            y = torch.from_numpy(clip.float_wave())[None].to(device)
            y_hat = generator(mel).float()
            sums["mel"] += float(F.l1_loss(mel_fn(y_hat), mel)) * clip.n_frames
            sums["stft"] += float(mr_stft_loss(y_hat, y, resolutions)) * clip.n_frames
            total += clip.n_frames
    generator.train()
    return {k: v / max(total, 1) for k, v in sums.items()}


@dataclass
class VocoderResult:
    out: Path
    step: int
    best_val: float
    stopped: str           # "max_steps" or "time"
    seconds: float
    seconds_per_step: float
    parameters: int


def _device(name: str | None) -> torch.device:
    if name in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda: no CUDA device is available here")
    if name not in ("cpu", "cuda"):
        raise ConfigError(f"unknown device {name!r} (cpu, cuda)")
    return torch.device(name)


def train_vocoder(cfg: VocoderConfig, out: str | Path, *, device: str | None = None, progress: bool = True,
                  resume: bool = True, features: FeatureConfig = DEFAULT_FEATURES) -> VocoderResult:
    """Train the Vocos-style generator into the run folder ``out`` (see the module docstring)."""
    from tqdm import tqdm

    out = Path(out)
    dev = _device(device)
    t = cfg.train
    if dev.type == "cpu" and t.threads:
        torch.set_num_threads(t.threads)
    random.seed(t.seed)
    np.random.seed(t.seed)
    torch.manual_seed(t.seed)

    train_paths, val_paths, data_info = _corpus_clips(cfg)
    train_clips = [c for c in load_clips(train_paths, features, progress, "loading training clips")
                   if c.n_frames >= t.segment_frames]
    if not train_clips:
        raise ConfigError(f"no training clip is at least {t.segment_frames} frames long")
    val_clips = load_clips(val_paths, features, progress, "loading validation clips")

    generator = VocosGenerator(cfg.generator, features)
    nets = nn.ModuleDict({"generator": generator, "discriminators": Discriminators(cfg.discriminator)}).to(dev)
    mel_fn = LogMel(features).to(dev)
    betas = tuple(t.betas)
    opt_g = torch.optim.AdamW(generator.parameters(), lr=t.lr, betas=betas, weight_decay=t.weight_decay)
    opt_d = torch.optim.AdamW(nets["discriminators"].parameters(), lr=t.d_lr, betas=betas,
                              weight_decay=t.weight_decay)

    # The learning rates are a function of the step alone (set before every update), so a
    # resumed run or a changed --max-steps needs no scheduler state.
    def set_lr(s: int) -> float:
        factor = lr_factor(s, t.warmup_steps, t.lr_decay_steps or t.max_steps, t.min_lr_ratio)
        for opt, base in ((opt_g, t.lr), (opt_d, t.d_lr)):
            for group in opt.param_groups:
                group["lr"] = base * factor
        return t.lr * factor

    optimizers, schedulers = _Pair(generator=opt_g, discriminators=opt_d), _Pair()
    step, best_val, best_step, train_seconds = 0, float("inf"), 0, 0.0
    last_path = out / "last.pt"
    if resume and last_path.exists():
        ckpt = load_checkpoint(last_path, VOCOS_SYSTEM)
        saved = ckpt["config"]
        if saved.get("generator") != asdict(cfg.generator) or saved.get("discriminator") != asdict(cfg.discriminator):
            raise ConfigError(f"{last_path}: was trained with another generator or discriminator config; "
                              f"use a new --out (or --restart)")
        if ckpt.get("features") != features.to_dict():
            raise ConfigError(f"{last_path}: was trained for other mel settings; use a new --out")
        step, best_val, _, train_seconds = restore_training_state(ckpt, nets, optimizers, schedulers)
        best_step = ckpt.get("best_step", 0)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.toml").write_text(dump_toml(cfg.to_dict()), encoding="utf-8")
    use_bf16 = dev.type == "cuda" and t.bf16
    autocast = torch.autocast(dev.type, dtype=torch.bfloat16, enabled=use_bf16)
    n_params = param_count(generator)

    def log(record: dict) -> None:
        with open(out / "metrics.jsonl", "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")

    def save(path: Path, metrics: dict, full: bool) -> None:
        payload = {"system": VOCOS_SYSTEM, "config": cfg.to_dict(), "features": features.to_dict(),
                   "data": data_info, "state_dict": nets.state_dict(), "step": step, "best_val": best_val,
                   "bad_evals": 0, "best_step": best_step, "metrics": metrics, "train_seconds": train_seconds,
                   "parameters": n_params}
        if full:
            payload.update(optimizer=optimizers.state_dict(), scheduler=schedulers.state_dict(),
                           py_rng=random.getstate(), torch_rng=torch.get_rng_state())
        save_checkpoint(path, payload)

    if step == 0:
        log({"step": 0, "split": "info", "generator_parameters": n_params,
             "discriminator_parameters": param_count(nets["discriminators"]), "device": dev.type,
             "threads": torch.get_num_threads(), **data_info})
    bar = tqdm(total=t.max_steps, initial=step, desc="train vocoder", disable=not progress, dynamic_ncols=True)
    hop = features.hop_length
    stopped, val = "max_steps", {}
    t_start, seconds_at_start, step_at_start = time.perf_counter(), train_seconds, step
    last_save, saved_step = time.perf_counter(), None
    nets.train()
    while step < t.max_steps:
        t0 = time.perf_counter()
        # The batch depends only on (seed, step): a resumed run draws what an unbroken one would.
        rng = np.random.default_rng([t.seed, step])
        mel_np, wave_np = sample_batch(train_clips, t.segment_frames, t.batch_size, rng, hop)
        mel, y = torch.from_numpy(mel_np).to(dev), torch.from_numpy(wave_np).to(dev)
        lr = set_lr(step)
        with autocast:
            y_hat = generator(mel)
        loss_mel = F.l1_loss(mel_fn(y_hat), mel_fn(y))
        loss_stft = mr_stft_loss(y_hat, y, cfg.loss.stft_resolutions)
        loss_g = cfg.loss.mel * loss_mel + cfg.loss.stft * loss_stft
        rec = {"mel": loss_mel.item(), "stft": loss_stft.item()}
        if step >= t.adv_start:
            with autocast:
                d_real, d_fake = nets["discriminators"](y), nets["discriminators"](y_hat.detach())
            loss_d = discriminator_loss(d_real, d_fake, cfg.loss.adv_kind)
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            rec["grad_d"] = float(nn.utils.clip_grad_norm_(nets["discriminators"].parameters(), t.grad_clip))
            opt_d.step()
            # The generator's update needs gradients through the discriminators, not for them.
            nets["discriminators"].requires_grad_(False)
            with autocast:
                g_fake = nets["discriminators"](y_hat)
                with torch.no_grad():
                    g_real = nets["discriminators"](y)
            loss_adv = generator_adv_loss(g_fake, cfg.loss.adv_kind)
            loss_fm = feature_matching_loss(g_real, g_fake)
            loss_g = loss_g + cfg.loss.adv * loss_adv + cfg.loss.fm * loss_fm
            rec.update(d=loss_d.item(), adv=loss_adv.item(), fm=loss_fm.item())
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        rec["grad_g"] = float(nn.utils.clip_grad_norm_(generator.parameters(), t.grad_clip))
        opt_g.step()
        nets["discriminators"].requires_grad_(True)
        step += 1
        train_seconds = seconds_at_start + (time.perf_counter() - t_start)
        if step % t.log_every == 0 or step == step_at_start + 1:
            log({"step": step, "split": "train", "lr": lr, "total": loss_g.item(),
                 "seconds_per_step": time.perf_counter() - t0, "minutes": train_seconds / 60, **rec})
            bar.set_postfix({k: f"{v:.3f}" for k, v in rec.items() if k in ("mel", "stft", "adv", "d")})
        bar.update(1)
        if step % t.eval_every == 0:
            val = validate(generator, mel_fn, val_clips, cfg.loss.stft_resolutions, dev) if val_clips else {}
            log({"step": step, "split": "validation", "minutes": train_seconds / 60, **val})
            score = val.get("mel", rec["mel"])
            # Adversarial training trades a little mel L1 for realism: once the discriminators
            # have joined, best.pt is chosen among adversarially trained checkpoints only.
            if step > t.adv_start and best_step <= t.adv_start:
                best_val = float("inf")
            if score < best_val:
                best_val, best_step = score, step
                save(out / "best.pt", {"validation": val}, full=False)
        if t.max_minutes and train_seconds >= 60 * t.max_minutes:
            stopped = "time"
        if stopped != "max_steps" or step >= t.max_steps or \
                time.perf_counter() - last_save >= 60 * t.checkpoint_minutes:
            save(last_path, {"validation": val}, full=True)
            last_save, saved_step = time.perf_counter(), step
        if stopped != "max_steps":
            break
    bar.close()
    if not (out / "best.pt").exists():
        val = validate(generator, mel_fn, val_clips, cfg.loss.stft_resolutions, dev) if val_clips else {}
        best_val, best_step = val.get("mel", float("nan")), step
        save(out / "best.pt", {"validation": val}, full=False)
    if saved_step != step and not (resume and last_path.exists() and step == step_at_start):
        save(last_path, {"validation": val}, full=True)
    steps_run = step - step_at_start
    return VocoderResult(out, step, best_val, stopped, train_seconds,
                         (train_seconds - seconds_at_start) / max(steps_run, 1), n_params)


def export_vocoder(run: str | Path, out: str | Path, which: str = "best") -> dict:
    """Write ``out/model.pt`` (generator only, float16), ``config.toml`` and ``metrics.json``."""
    from synthesis.training.export import write_inference_files

    run, out = Path(run), Path(out)
    ckpt = load_checkpoint(run / f"{which}.pt", VOCOS_SYSTEM)
    state = {k[len("generator."):]: (v.half() if v.is_floating_point() else v)
             for k, v in ckpt["state_dict"].items() if k.startswith("generator.")}
    payload = {k: ckpt[k] for k in ("system", "config", "features", "data", "step", "metrics", "train_seconds",
                                    "parameters") if k in ckpt}
    payload["state_dict"] = state
    return write_inference_files(run, out, payload, {"system": VOCOS_SYSTEM, "parameters": ckpt.get("parameters"),
                                                     "features": ckpt.get("features"), "data": ckpt.get("data")})
