"""`synthesis prepare` on two short real clips: cache layout, dtypes, skip on re-run,
refusal of a cache built with another config, and training data read back from it."""

import json
import re

import numpy as np
import pytest

from synthesis.cli import main
from synthesis.features.acoustic import AcousticConfig
from synthesis.features.cache import CacheError, read_clip
from tests.synthesis.conftest import PREPARED_IDS

IDS = PREPARED_IDS  # the shared `prepared` fixture (conftest.py)


def test_cache_layout_and_dtypes(prepared):
    root, out = prepared
    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest["clips"]) == set(IDS)
    assert manifest["acoustic"]["hash"] == AcousticConfig().hash()
    assert manifest["versions"]["gruut"] and manifest["versions"]["torch"]
    a = read_clip(out, "acoustic", IDS[0], manifest["acoustic"]["hash"])
    t = read_clip(out, "text", IDS[0], manifest["text"]["hash"])
    T = a["log_mel"].shape[0]
    assert a["log_mel"].dtype == np.float16 and a["log_mel"].shape == (T, 80)
    assert a["world"].shape == (T, 64) and a["f0"].shape == (T,) and a["voiced"].dtype == bool
    assert np.all(a["f0"][a["voiced"]] > 60) and np.all(a["f0"][~a["voiced"]] == 0)
    assert manifest["clips"][IDS[0]]["n_frames"] == T
    assert t["phoneme_ids"].shape == t["word_index"].shape
    assert t["word_vectors"].shape == (len(t["words"]), 384)
    assert " ".join(t["words"].tolist()).startswith("in being comparatively modern")


def test_rerun_skips_and_other_config_is_refused(prepared, capsys):
    root, out = prepared
    assert main(["prepare", "--corpus", str(root), "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "(2 already done, 0 computed)" in printed
    # the pitch-level check reads the cached F0: both clips are LJ001 (~200 Hz), no warning
    level = re.search(r"median F0 per chapter: LJ001 (\d+) Hz \(2\)", printed)
    assert level and 150 < int(level.group(1)) < 280
    assert "warning" not in printed
    original = (out / "manifest.json").read_text()
    manifest = json.loads(original)
    manifest["acoustic"]["hash"] = "0123456789abcdef"
    (out / "manifest.json").write_text(json.dumps(manifest))
    try:
        _check_refusals(root, out, capsys)
    finally:
        (out / "manifest.json").write_text(original)


def _check_refusals(root, out, capsys):
    assert main(["prepare", "--corpus", str(root), "--out", str(out), "--quiet"]) == 2
    assert "choose another --out" in capsys.readouterr().err
    from synthesis.training.data import load_items

    with pytest.raises(CacheError, match="built with config 0123456789abcdef"):
        load_items(out, IDS, "world", expected_hashes={"acoustic": AcousticConfig().hash()})
    with pytest.raises(CacheError, match="expected"):
        read_clip(out, "acoustic", IDS[0], "ffffffffffffffff")


def test_training_items_from_the_cache(prepared):
    from synthesis.training.data import load_items

    _, out = prepared
    items = load_items(out, IDS, "world")
    assert items[0].arrays["target"].shape[1] == 64 and items[0].arrays["lf0"].shape == (items[0].n_frames,)
    mel_items = load_items(out, IDS, "log_mel")
    assert mel_items[0].arrays["target"].shape[1] == 80
    with pytest.raises(CacheError, match="not in the cache"):
        load_items(out, ["LJ999-0001"], "world")


def test_record_target_gv_stamps_an_old_checkpoint(prepared, tmp_path):
    """A checkpoint trained before the GV was recorded gets it from its training split."""
    import torch

    from synthesis.models.backbone import ModelConfig, build_model
    from synthesis.training.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
    from synthesis.training.config import TrainConfig
    from synthesis.training.export import record_target_gv
    from tests.synthesis.test_models import TINY

    root, cache = prepared
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"format_version": 1, "corpus": "mini", "fingerprint": "x", "seed": 0,
                                 "train": IDS, "validation": [], "test": []}))
    cfg = TrainConfig(model=ModelConfig(**TINY))
    state = {k: v for k, v in build_model(cfg.model).state_dict().items() if k != "target_gv"}
    path = tmp_path / "old.pt"
    save_checkpoint(path, {"system": "baseline", "config": cfg.to_dict(), "state_dict": state, "step": 7})
    gv = record_target_gv(path, cache, split)
    ck = load_checkpoint(path)
    world = [read_clip(cache, "acoustic", i, AcousticConfig().hash())["world"].astype(np.float64) for i in IDS]
    np.testing.assert_allclose(ck["state_dict"]["target_gv"].numpy(), np.mean([w.var(0) for w in world], 0),
                               rtol=1e-5)
    assert gv.shape == (64,) and ck["step"] == 7
    assert torch.equal(ck["state_dict"]["embed.weight"], state["embed.weight"])
    mel_cfg = TrainConfig(model=ModelConfig(**{**TINY, "feature_kind": "log_mel", "out_dim": 64}))
    save_checkpoint(tmp_path / "odd.pt", {"system": "baseline", "config": mel_cfg.to_dict(), "state_dict": state})
    before = (tmp_path / "odd.pt").read_bytes()
    with pytest.raises(CheckpointError, match="80"):
        record_target_gv(tmp_path / "odd.pt", cache, split)
    assert (tmp_path / "odd.pt").read_bytes() == before
