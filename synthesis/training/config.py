"""Training configuration: a TOML file with ``[model]`` (architecture, ``ModelConfig``),
``[train]`` (experiment settings) and ``[loss]`` (loss weights)."""

from __future__ import annotations

import hashlib
import json
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from synthesis.errors import ConfigError
from synthesis.models.backbone import ModelConfig


@dataclass
class TrainSettings:
    cache: str = "cache/ljspeech-mini"
    split: str = ""                   # default: the committed split of the cache's corpus
    seed: int = 1234
    max_frames: int = 6000            # padded frames per batch
    lr: float = 1e-3
    warmup_steps: int = 300
    weight_decay: float = 1e-2
    grad_clip: float = 1.0
    max_steps: int = 100_000
    max_minutes: float = 0.0          # stop after this much training time (0: no limit)
    eval_every: int = 100             # steps between validation passes
    log_every: int = 10
    checkpoint_minutes: float = 4.0   # save last.pt at least this often
    patience: int = 8                 # validation passes without improvement before stopping
    # which weights best.pt holds (stage 1): "best" = lowest validation score, with early
    # stopping; "final" = the weights after max_steps, no early stopping (a fixed budget)
    keep: str = "best"
    threads: int = 0                  # torch intra-op threads on CPU (0: torch default)
    bf16: bool = True                 # autocast to bfloat16 on a GPU


@dataclass
class TrainConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainSettings = field(default_factory=TrainSettings)
    loss: dict = field(default_factory=lambda: {"duration": 1.0, "ctc": 1.0, "binarization": 1.0,
                                                "binarization_start": 600, "pitch": 1.0, "energy": 1.0})

    def to_dict(self) -> dict:
        return {"model": self.model.to_dict(), "train": asdict(self.train), "loss": dict(self.loss)}

    def hash(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:16]

    @classmethod
    def from_dict(cls, d: dict, where: str = "config") -> TrainConfig:
        unknown = set(d) - {"model", "train", "loss"}
        if unknown:
            raise ConfigError(f"{where}: unknown sections {', '.join(sorted(unknown))} (model, train, loss)")
        try:
            model = ModelConfig.from_dict(d.get("model", {}))
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{where}: [model] {exc}") from None
        train_keys = {f.name for f in fields(TrainSettings)}
        bad = set(d.get("train", {})) - train_keys
        if bad:
            raise ConfigError(f"{where}: [train] unknown keys {', '.join(sorted(bad))}")
        train = TrainSettings(**d.get("train", {}))
        if train.keep not in ("best", "final"):
            raise ConfigError(f"{where}: [train] keep must be 'best' or 'final', got {train.keep!r}")
        loss = {**cls().loss, **d.get("loss", {})}
        # [loss] options with a bounded range (key: default, upper bound; all start at 0)
        for key, default, upper in (("cepstral_weighting", 0.0, 2), ("delta", 0.0, 10), ("f0", 1.0, 100)):
            value = loss.get(key, default)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= upper:
                raise ConfigError(f"{where}: [loss] {key} must be a number in [0, {upper}], got {value!r}")
        if model.feature_kind not in ("world", "log_mel"):
            raise ConfigError(f"{where}: [model] feature_kind must be 'world' or 'log_mel', got {model.feature_kind!r}")
        if model.alignment not in ("learned", "forced"):
            raise ConfigError(f"{where}: [model] alignment must be 'learned' or 'forced', got {model.alignment!r}")
        return cls(model, train, loss)


def apply_train_overrides(train: TrainSettings, args) -> None:
    """``--cache``, ``--max-minutes``, ``--max-steps`` and ``--seed`` of `synthesis train` over ``[train]``."""
    if getattr(args, "cache", None):
        train.cache = args.cache
    if getattr(args, "seed", None) is not None:
        train.seed = args.seed
    if getattr(args, "max_minutes", None) is not None:
        train.max_minutes = args.max_minutes
    if getattr(args, "max_steps", None) is not None:
        train.max_steps = args.max_steps


def read_toml(path: str | Path) -> dict:
    """A training config file as a dict; a missing file or bad TOML is a one-line ConfigError."""
    path = Path(path)
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None


def load_config(path: str | Path) -> TrainConfig:
    return TrainConfig.from_dict(read_toml(path), str(path))


def dump_toml(d: dict) -> str:
    """A TrainConfig dict as TOML (flat sections of scalars, lists and one-level dicts)."""
    lines = []
    for section, values in d.items():
        lines.append(f"[{section}]")
        for k, v in values.items():
            if v is None:
                continue
            lines.append(f"{k} = {_toml_value(v)}")
        lines.append("")
    return "\n".join(lines)


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")
