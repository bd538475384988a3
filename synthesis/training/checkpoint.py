"""Checkpoint files: model weights + the exact training config + metrics, versioned.

A checkpoint is a ``torch.save`` dict with ``format`` ("prosody-tts-checkpoint"),
``format_version``, ``system``, ``config`` (TrainConfig dict: architecture and training
settings), ``cache_hashes``, ``state_dict`` (float16 in exported files), ``step``, ``metrics``
and, in training checkpoints only, optimiser/scheduler/RNG state for resuming.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import torch

from synthesis.errors import SynthesisError

CHECKPOINT_FORMAT = "prosody-tts-checkpoint"
CHECKPOINT_FORMAT_VERSION = 1


class CheckpointError(SynthesisError):
    """A checkpoint file is missing, truncated, of another format/version or another system."""


def save_checkpoint(path: str | Path, payload: dict) -> None:
    """Write atomically (temp file + rename): a stop mid-write never leaves a broken file.

    The file is stamped with the current format and version, whatever ``payload`` holds under
    those keys (a checkpoint read, changed and written back keeps them)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {**payload, "format": CHECKPOINT_FORMAT, "format_version": CHECKPOINT_FORMAT_VERSION}
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_checkpoint(path: str | Path, system: str | None = None) -> dict:
    """Read and check a checkpoint.

    Args:
        system: if given, refuse a checkpoint of another system.

    Raises:
        CheckpointError: missing, truncated/corrupt, not ours, other format version or system.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file does not exist")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        reason = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise CheckpointError(f"{path}: not a readable checkpoint (truncated or corrupt: {reason})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path}: not a {CHECKPOINT_FORMAT} file")
    version = ckpt.get("format_version")
    if version != CHECKPOINT_FORMAT_VERSION:
        raise CheckpointError(f"{path}: checkpoint format version {version}, this code reads "
                              f"{CHECKPOINT_FORMAT_VERSION}")
    if system is not None and ckpt.get("system") != system:
        raise CheckpointError(f"{path}: a checkpoint of system {ckpt.get('system')!r}, expected {system!r}")
    return ckpt


def rebuild_model(ckpt: dict, path: str | Path):
    """The model of a loaded checkpoint, with its weights in float32 (exports hold float16).

    Raises:
        CheckpointError: the stored config or weights do not make a model (one line naming ``path``).
    """
    from synthesis.models.backbone import ModelConfig, build_model

    try:
        model = build_model(ModelConfig.from_dict(ckpt["config"]["model"]))
        model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in ckpt["state_dict"].items()})
    except (KeyError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{path}: cannot rebuild the model ({str(exc).splitlines()[0][:160]})") from None
    return model


def file_hash(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def restore_training_state(ckpt: dict, model, optimizer, scheduler) -> tuple[int, float, int, float]:
    """Load a full (``last.pt``) checkpoint into a run being resumed, RNG states included.

    Returns ``(step, best_val, bad_evals, train_seconds)``.
    """
    import random

    model.load_state_dict(ckpt["state_dict"])
    optimizer.load_state_dict(ckpt["optimizer"])
    scheduler.load_state_dict(ckpt["scheduler"])
    random.setstate(ckpt["py_rng"])
    torch.set_rng_state(ckpt["torch_rng"])
    return ckpt["step"], ckpt["best_val"], ckpt["bad_evals"], ckpt.get("train_seconds", 0.0)
