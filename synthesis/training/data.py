"""Clips from the feature cache as tensors, frame-budget batches, and collation.

A clip item holds the phoneme side (ids, stress, word index), the word side (MiniLM vectors,
syntax ids, for prosody modules) and the acoustic side (reference log-mel, the target
features the decoder predicts, log-F0 and energy tracks).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from synthesis.features.cache import CacheError, check_manifest_config, read_clip, read_manifest

WORD_KEYS = ("word_pos", "word_dep", "word_head", "word_depth", "word_open_class", "word_chunk_bio",
             "word_chunk_id", "word_punct_after", "word_to_next_punct", "word_from_prev_punct",
             "word_sentence", "word_is_punct")
WORLD_LF0_DIM = 60  # column of log-F0 in the WORLD layout with 60 mel-cepstral coefficients


@dataclass
class ClipItem:
    id: str
    arrays: dict[str, np.ndarray]

    @property
    def n_frames(self) -> int:
        return int(self.arrays["mel"].shape[0])


def text_item_arrays(text_arrays: dict) -> dict[str, np.ndarray]:
    """The model inputs of an analysed text (cache file or ``TextAnalysis.to_arrays()``)."""
    out = {"phoneme_ids": text_arrays["phoneme_ids"].astype(np.int64),
           "stress": text_arrays["stress"].astype(np.int64),
           "word_index": text_arrays["word_index"].astype(np.int64),
           "word_vectors": text_arrays["word_vectors"].astype(np.float32)}
    for k in WORD_KEYS:
        out[k] = text_arrays[k].astype(np.int64)
    return out


def load_items(cache: str | Path, clip_ids: list[str] | tuple[str, ...], feature_kind: str,
               expected_hashes: dict[str, str] | None = None) -> list[ClipItem]:
    """Read clips from a cache (refusing one built with other configs than ``expected_hashes``);
    clips the cache lists as unaligned (pocketsphinx failed on them) are left out."""
    cache = Path(cache)
    manifest = read_manifest(cache)
    expected_hashes = expected_hashes or {}
    for side, h in expected_hashes.items():
        check_manifest_config(manifest, side, h, cache)
    hashes = {side: manifest[side]["hash"] for side in ("acoustic", "text")}
    # forced-alignment durations, where the cache has them (caches from before have none)
    alignment_hash = (manifest.get("alignment") or {}).get("hash")
    missing = [c for c in clip_ids if c not in manifest["clips"]]
    if missing:
        raise CacheError(f"{cache}: {len(missing)} clips of the split are not in the cache (first {missing[0]})")
    # clips pocketsphinx could not align (`synthesis prepare` warned and listed them) are left out
    unaligned = set(manifest.get("unaligned") or {}) if alignment_hash else set()
    clip_ids = [c for c in clip_ids if c not in unaligned]
    items = []
    for cid in clip_ids:
        a = read_clip(cache, "acoustic", cid, hashes["acoustic"])
        t = read_clip(cache, "text", cid, hashes["text"])
        arrays = text_item_arrays(t)
        mel = a["log_mel"].astype(np.float32)
        arrays["mel"] = mel
        if feature_kind == "world":
            arrays["target"] = a["world"].astype(np.float32)
            arrays["lf0"] = a["world"][:, WORLD_LF0_DIM].astype(np.float32)
        elif feature_kind == "log_mel":
            arrays["target"] = mel
            f0 = a["f0"].astype(np.float32)
            arrays["lf0"] = _interp_log_f0(f0)
        else:
            raise ValueError(f"unknown feature kind {feature_kind!r}")
        arrays["energy"] = a["energy"].astype(np.float32)
        if alignment_hash:
            arrays["durations"] = read_clip(cache, "alignment", cid, alignment_hash)["durations"].astype(np.int64)
        if len(arrays["phoneme_ids"]) > len(mel):
            raise CacheError(f"{cache}: clip {cid} has more phonemes ({len(arrays['phoneme_ids'])}) than frames")
        items.append(ClipItem(cid, arrays))
    return items


def _interp_log_f0(f0: np.ndarray) -> np.ndarray:
    voiced = f0 > 0
    if not voiced.any():
        return np.zeros_like(f0)
    idx = np.arange(len(f0))
    return np.interp(idx, idx[voiced], np.log(f0[voiced])).astype(np.float32)


def feature_stats(items: list[ClipItem]) -> dict[str, np.ndarray]:
    """Per-dimension mean/std of target and mel, frame-level log-F0/energy stats, and the
    targets' global variance (mean per-clip variance; see synthesis.features.enhance)."""
    from synthesis.features.enhance import utterance_variance

    target = np.concatenate([it.arrays["target"] for it in items])
    mel = np.concatenate([it.arrays["mel"] for it in items])
    lf0 = np.concatenate([it.arrays["lf0"] for it in items])
    energy = np.concatenate([it.arrays["energy"] for it in items])
    return {"target_mean": target.mean(0), "target_std": target.std(0), "mel_mean": mel.mean(0),
            "mel_std": mel.std(0), "var_stats": (float(lf0.mean()), float(lf0.std()),
                                                 float(energy.mean()), float(energy.std())),
            "target_gv": utterance_variance([it.arrays["target"] for it in items])}


def frame_batches(lengths: list[int], max_frames: int, rng: random.Random | None, max_items: int = 64) -> list[list[int]]:
    """Index batches of similar length, each at most ``max_frames`` padded frames.

    Sorted by length so padding is small; with ``rng`` the order within equal-ish lengths and
    the order of batches are shuffled every call (every epoch).
    """
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], rng.random() if rng else 0))
    batches, cur, cur_max = [], [], 0
    for i in order:
        new_max = max(cur_max, lengths[i])
        if cur and (new_max * (len(cur) + 1) > max_frames or len(cur) >= max_items):
            batches.append(cur)
            cur, new_max = [], lengths[i]
        cur.append(i)
        cur_max = new_max
    if cur:
        batches.append(cur)
    if rng:
        rng.shuffle(batches)
    return batches


def _pad(arrays: list[np.ndarray], value=0) -> torch.Tensor:
    n = max(len(a) for a in arrays)
    shape = (len(arrays), n) + arrays[0].shape[1:]
    out = np.full(shape, value, dtype=arrays[0].dtype)
    for i, a in enumerate(arrays):
        out[i, : len(a)] = a
    return torch.from_numpy(out)


def collate(items: list[dict[str, np.ndarray]]) -> dict[str, torch.Tensor]:
    """Pad a list of item arrays into a batch. Lengths: ``phone_lens``, ``word_lens``, ``frame_lens``."""
    batch = {"phone_lens": torch.tensor([len(it["phoneme_ids"]) for it in items]),
             "word_lens": torch.tensor([len(it["word_pos"]) for it in items])}
    for key in items[0]:
        pad = -1 if key in ("word_index", "word_chunk_id", "word_punct_after") else 0
        batch[key] = _pad([it[key] for it in items], pad)
    if "mel" in items[0]:
        batch["frame_lens"] = torch.tensor([len(it["mel"]) for it in items])
    return batch
