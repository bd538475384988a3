"""Export a run's checkpoint as a small inference file (float16 weights) with its config and metrics."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from synthesis.corpus import Split
from synthesis.errors import SynthesisError
from synthesis.features.cache import write_json_atomic
from synthesis.training.checkpoint import load_checkpoint, save_checkpoint
from synthesis.training.config import dump_toml


def export_checkpoint(run: str | Path, out: str | Path, which: str = "best") -> dict:
    run, out = Path(run), Path(out)
    ckpt = load_checkpoint(run / f"{which}.pt")
    # float16 halves the file; buffers such as normalisation statistics keep float32.
    keep32 = ("_mean", "_std", "var_stats", "duration_bias", "target_gv")
    state = {k: (v.half() if v.is_floating_point() and not k.endswith(keep32) else v)
             for k, v in ckpt["state_dict"].items()}
    payload = {k: ckpt[k] for k in ("system", "config", "cache_hashes", "step", "metrics", "train_seconds", "stage",
                                    "stage1", "seen_clips")
               if k in ckpt}
    if "seen_clips" not in payload:
        seen = seen_clips(ckpt)
        if seen is not None:
            payload["seen_clips"] = seen
    payload["state_dict"] = state
    return write_inference_files(run, out, payload, {"system": ckpt["system"]})


def training_split(ckpt: dict) -> tuple[Split, Path]:
    """The split a checkpoint's config resolves to on this machine, and its file: the config's
    ``[train] split``, else the committed split of the corpus its cache was built from."""
    from synthesis.corpus import default_split_path
    from synthesis.training.loop import cache_split

    train = ckpt["config"]["train"]
    split, manifest = cache_split(train["cache"], train.get("split") or None)
    return split, Path(train.get("split") or default_split_path(manifest["corpus"]["root"]))


def seen_clips(ckpt: dict) -> list[str] | None:
    """The clips a run learnt from or was tuned on: the train and validation subsets of the split
    its config resolves to now, plus those of its frozen stage 1 (when that file is here).

    Stored in the exported file (``seen_clips``), so that ``synthesis evaluate``'s held-out check
    still knows them after the corpus's default split changes or away from the cache. None when
    the split cannot be resolved on this machine (the check then falls back to the config).
    """
    def resolve(checkpoint: dict) -> set[str]:
        split, _ = training_split(checkpoint)
        return set(split.train) | set(split.validation)

    try:
        seen = resolve(ckpt)
    except (SynthesisError, KeyError, TypeError, OSError):
        return None
    stage1 = (ckpt.get("stage1") or {}).get("path")
    if stage1 and Path(stage1).is_file():
        try:
            stage1_ckpt = load_checkpoint(stage1)
            recorded = stage1_ckpt.get("seen_clips")
            seen |= set(recorded) if recorded else resolve(stage1_ckpt)
        except (SynthesisError, KeyError, TypeError, OSError):
            pass
    return sorted(seen)


def write_inference_files(run: Path, out: Path, payload: dict, metrics: dict) -> dict:
    """``out/model.pt`` (the payload), ``config.toml`` and ``metrics.json`` (``metrics`` plus step,
    training time, validation metrics and the tail of the run's log)."""
    path = out / "model.pt"
    save_checkpoint(path, payload)
    (out / "config.toml").write_text(dump_toml(payload["config"]), encoding="utf-8")
    metrics = {**metrics, "step": payload["step"], "train_minutes": payload.get("train_seconds", 0) / 60,
               "validation": payload.get("metrics", {}), "run": str(run)}
    if "stage1" in payload:  # a stage-2 file: which frozen stage 1 it was trained on
        metrics["stage1"] = payload["stage1"]
    log = run / "metrics.jsonl"
    if log.exists():
        metrics["log_tail"] = [json.loads(line) for line in log.read_text().splitlines()[-3:]]
    write_json_atomic(out / "metrics.json", metrics)
    return {"checkpoint": str(path), "megabytes": path.stat().st_size / 1e6, "step": payload["step"]}


def record_target_gv(checkpoint: str | Path, cache: str | Path, split_file: str | Path | None = None) -> np.ndarray:
    """Write the training split's global variance into a checkpoint trained before it was recorded.

    Newer trainings record ``target_gv`` themselves (``feature_stats``); this gives an older
    file the same statistic, from the clips of the split it was trained on, so that inference
    applies the spectral enhancement (synthesis.features.enhance). Everything else in the
    file stays as it is; the write is atomic. Returns the GV [D].
    """
    from synthesis.features.acoustic import AcousticConfig
    from synthesis.features.enhance import utterance_variance
    from synthesis.text.frontend import TEXT_CONFIG_HASH
    from synthesis.training.checkpoint import CheckpointError
    from synthesis.training.data import load_items
    from synthesis.training.loop import cache_split

    checkpoint = Path(checkpoint)
    ckpt = load_checkpoint(checkpoint)
    try:
        kind = ckpt["config"]["model"].get("feature_kind", "world")
        out_dim = int(ckpt["config"]["model"].get("out_dim", 64))
    except (KeyError, TypeError, AttributeError):
        raise CheckpointError(f"{checkpoint}: no model config inside") from None
    split, _ = cache_split(cache, split_file)
    items = load_items(cache, split.train, kind, {"acoustic": AcousticConfig().hash(), "text": TEXT_CONFIG_HASH})
    gv = utterance_variance([it.arrays["target"] for it in items])
    if gv.shape != (out_dim,):
        raise CheckpointError(f"{checkpoint}: model predicts {out_dim} dims, the cache's {kind} targets have {gv.shape[0]}")
    save_checkpoint(checkpoint, {**ckpt, "state_dict": {**ckpt["state_dict"],
                                                        "target_gv": torch.as_tensor(gv, dtype=torch.float32)}})
    return gv
