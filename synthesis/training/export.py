"""Export a run's checkpoint as a small inference file (float16 weights) with its config and metrics."""

from __future__ import annotations

import json
from pathlib import Path

from synthesis.features.cache import write_json_atomic
from synthesis.training.checkpoint import load_checkpoint, save_checkpoint
from synthesis.training.config import dump_toml


def export_checkpoint(run: str | Path, out: str | Path, which: str = "best") -> dict:
    run, out = Path(run), Path(out)
    ckpt = load_checkpoint(run / f"{which}.pt")
    # float16 halves the file; buffers such as normalisation statistics keep float32.
    keep32 = ("_mean", "_std", "var_stats", "duration_bias")
    state = {k: (v.half() if v.is_floating_point() and not k.endswith(keep32) else v)
             for k, v in ckpt["state_dict"].items()}
    payload = {k: ckpt[k] for k in ("system", "config", "cache_hashes", "step", "metrics", "train_seconds", "stage",
                                    "stage1")
               if k in ckpt}
    payload["state_dict"] = state
    return write_inference_files(run, out, payload, {"system": ckpt["system"]})


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
