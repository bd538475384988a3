"""A listening set on disk: reading the manifest and verifying every file against it."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import soundfile as sf

from synthesis.checksums import file_sha256
from synthesis.errors import ListeningSetError
from synthesis.listening_set.manifest import Manifest, parse_manifest

MANIFEST_NAME = "manifest.json"


def read_set(folder: str | Path) -> Manifest:
    """Read and schema-validate ``folder/manifest.json`` (files are not checked: see verify_set)."""
    folder = Path(folder)
    path = folder / MANIFEST_NAME
    if not folder.is_dir():
        raise ListeningSetError(f"{folder}: listening-set folder does not exist")
    if not path.is_file():
        raise ListeningSetError(f"{path}: missing, {folder} is not a listening set")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ListeningSetError(f"{path}: not valid JSON ({exc})") from exc
    return parse_manifest(data, where=str(path))


def verify_set(folder: str | Path, manifest: Manifest | None = None) -> list[str]:
    """Every problem of a set: schema, missing/altered/extra files, rate, channels, length.

    Returns one line per problem, each naming the file (empty list: the set is valid).
    """
    folder = Path(folder)
    try:
        manifest = manifest or read_set(folder)
    except ListeningSetError as exc:
        return [str(exc)]
    problems: list[str] = []
    listed: set[str] = set()
    for item in manifest.items:
        for cid, stim in item.stimuli.items():
            listed.add(stim.file)
            path = folder / stim.file
            where = f"{path} (item {item.id}, stimulus {cid})"
            if not path.is_file():
                problems.append(f"{where}: file is missing")
                continue
            digest = file_sha256(path)
            if digest != stim.sha256:
                problems.append(f"{where}: checksum mismatch, the file was altered after the set was built")
                continue
            try:
                info = sf.info(str(path))
            except Exception as exc:
                problems.append(f"{where}: unreadable audio ({str(exc).splitlines()[0]})")
                continue
            if info.samplerate != manifest.sample_rate:
                problems.append(f"{where}: sample rate {info.samplerate} Hz, manifest says {manifest.sample_rate} Hz")
            if info.channels != 1:
                problems.append(f"{where}: {info.channels} channels, expected mono")
            if info.frames != stim.n_samples:
                problems.append(f"{where}: {info.frames} samples, manifest says {stim.n_samples}")
            if abs(stim.duration_s - stim.n_samples / manifest.sample_rate) > 1e-3:
                problems.append(f"{where}: duration {stim.duration_s} s does not match {stim.n_samples} samples")
    extra = sorted(p.name for p in folder.iterdir() if p.name != MANIFEST_NAME and p.name not in listed)
    for name in extra:
        problems.append(f"{folder / name}: file is not listed in the manifest")
    return problems


def encode_wav(wave: np.ndarray, sample_rate: int) -> bytes:
    """16-bit PCM WAV bytes (deterministic: same samples, same bytes)."""
    buf = io.BytesIO()
    sf.write(buf, np.asarray(wave, dtype=np.float32), sample_rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()
