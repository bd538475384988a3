"""On-disk layout of the feature cache written by ``synthesis prepare``.

::

    CACHE/manifest.json          format version, library versions, config + hash per side,
                                 corpus fingerprint, and one entry per finished clip
    CACHE/acoustic/<clip>.npz    log_mel, world, f0, voiced, energy (see features.acoustic)
    CACHE/text/<clip>.npz        phoneme ids, word index per phoneme, word features, MiniLM
                                 vectors, parse graph (see synthesis.text.frontend)

Each clip file carries the hash of the config it was made with, so a re-run skips exactly
the clips that are done with the current config, and a reader refuses files made with
another one. Files are written to a temporary name and renamed: a stopped run never leaves
a half-written clip.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np

from synthesis.errors import SynthesisError

CACHE_FORMAT_VERSION = 1
SIDES = ("acoustic", "text")


class CacheError(SynthesisError):
    """A feature cache is missing, incomplete, or was built with another config."""


def clip_path(root: Path, side: str, clip_id: str) -> Path:
    return Path(root) / side / f"{clip_id}.npz"


def write_clip(root: Path, side: str, clip_id: str, arrays: dict, config_hash: str) -> Path:
    """Atomically write one clip's arrays (plus its config hash) as ``side/<clip>.npz``."""
    path = clip_path(root, side, clip_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{clip_id}.", suffix=".npz.tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, config_hash=np.array(config_hash), **arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def clip_hash(path: Path) -> str | None:
    """The config hash stored in a clip file, or None when it is missing or unreadable."""
    try:
        with np.load(path) as data:
            return str(data["config_hash"])
    except Exception:
        return None


def read_clip(root: Path, side: str, clip_id: str, expected_hash: str | None = None) -> dict[str, np.ndarray]:
    """Arrays of one clip; refuses a file made with another config (``expected_hash``)."""
    path = clip_path(root, side, clip_id)
    try:
        with np.load(path) as data:
            arrays = {k: data[k] for k in data.files}
    except FileNotFoundError:
        raise CacheError(f"{path}: missing from the cache (run `synthesis prepare` again)") from None
    except Exception as exc:
        raise CacheError(f"{path}: unreadable cache file ({exc})") from exc
    got = str(arrays.pop("config_hash", ""))
    if expected_hash is not None and got != expected_hash:
        raise CacheError(f"{path}: built with {side} config {got}, expected {expected_hash} "
                         "(re-run `synthesis prepare` into a new folder)")
    return arrays


def write_json_atomic(path: Path, obj: dict) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(obj, fh, indent=1, sort_keys=True)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_manifest(root: Path) -> dict:
    """The manifest of a finished cache.

    Raises:
        CacheError: no manifest, malformed, or another cache format version.
    """
    path = Path(root) / "manifest.json"
    if not path.is_file():
        raise CacheError(f"{path}: no feature cache here (run `synthesis prepare --out {root}`)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CacheError(f"{path}: unreadable manifest ({exc})") from exc
    version = manifest.get("format_version")
    if version != CACHE_FORMAT_VERSION:
        raise CacheError(f"{path}: cache format version {version}, this code reads {CACHE_FORMAT_VERSION}")
    return manifest


def check_manifest_config(manifest: dict, side: str, expected_hash: str, root: Path) -> None:
    """Raise if the cache's ``side`` was built with another config than ``expected_hash``."""
    got = manifest.get(side, {}).get("hash")
    if got != expected_hash:
        raise CacheError(f"{Path(root) / 'manifest.json'}: {side} features built with config {got}, "
                         f"but this run needs {expected_hash} (prepare a new cache with this config)")
