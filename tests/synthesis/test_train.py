"""The training loop: a tiny overfit run, resume, early stop, checkpoint errors."""

import json

import numpy as np
import pytest
import torch

from synthesis.models.backbone import ModelConfig
from synthesis.training.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from synthesis.training.config import TrainConfig, TrainSettings, load_config
from synthesis.training.data import ClipItem
from synthesis.training.loop import train
from tests.synthesis.test_models import TINY, fake_item


def learnable_items(n, seed=0, with_durations=False):
    """Clips whose frames are a fixed function of the phoneme (3-6 frames each): learnable.
    ``with_durations``: the true frames per phoneme as the cache's forced alignment."""
    rng = np.random.default_rng(seed)
    table = rng.normal(size=(64, 64)).astype(np.float32)
    mel_table = rng.normal(size=(64, 80)).astype(np.float32)
    items = []
    for i in range(n):
        base = fake_item(rng, int(rng.integers(6, 10)), 10)
        dur = rng.integers(3, 7, len(base["phoneme_ids"]))
        frames = np.repeat(base["phoneme_ids"], dur)
        base["target"] = table[frames].copy()
        base["target"][:, 61] = (frames % 2).astype(np.float32)
        base["mel"] = mel_table[frames] + 0.1 * rng.normal(size=(len(frames), 80)).astype(np.float32)
        base["lf0"] = np.full(len(frames), 5.3, np.float32)
        base["energy"] = np.full(len(frames), -30.0, np.float32)
        if with_durations:
            base["durations"] = dur.astype(np.int64)
        items.append(ClipItem(f"fake-{i}", base))
    return items


def tiny_config(steps, system="baseline", **train_kw):
    return TrainConfig(model=ModelConfig(system=system, pitch_energy=system == "fs2", enc_dropout=0.0,
                                         predictor_dropout=0.0, **TINY),
                       train=TrainSettings(max_steps=steps, lr=5e-3, warmup_steps=2, eval_every=10, log_every=1,
                                           max_frames=400, threads=1, **train_kw),
                       loss={**TrainConfig().loss, "binarization_start": 20})


@pytest.mark.parametrize("system", ["baseline", "fs2"])
def test_tiny_overfit_loss_falls(tmp_path, system):
    torch.manual_seed(0)
    items = learnable_items(6)
    result = train(tiny_config(40, system), tmp_path / "run", progress=False, items=(items, items[:2]))
    log = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    train_log = [r for r in log if r["split"] == "train"]
    first, last = train_log[0], train_log[-1]
    assert last["feat_after"] < 0.7 * first["feat_after"]
    assert last["duration"] < first["duration"]
    assert result.step == 40 and (tmp_path / "run" / "best.pt").exists()
    assert (tmp_path / "run" / "config.toml").exists()


def test_resume_continues_and_config_is_reloadable(tmp_path):
    items = learnable_items(4)
    train(tiny_config(6), tmp_path / "run", progress=False, items=(items, items[:1]))
    result = train(tiny_config(9), tmp_path / "run", progress=False, items=(items, items[:1]))
    assert result.step == 9
    assert load_checkpoint(tmp_path / "run" / "last.pt")["step"] == 9
    cfg = load_config(tmp_path / "run" / "config.toml")
    assert cfg.model == tiny_config(9).model
    other = tiny_config(12)
    other.model.d_model = 48
    with pytest.raises(Exception, match="another model config"):
        train(other, tmp_path / "run", progress=False, items=(items, items[:1]))


def test_early_stopping(tmp_path):
    items = learnable_items(4)
    cfg = tiny_config(500, patience=1)
    cfg.train.eval_every = 1
    cfg.train.lr = 0.5  # diverges: validation cannot keep improving
    result = train(cfg, tmp_path / "run", progress=False, items=(items, items[:1]))
    assert result.stopped == "early_stop" and result.step < 500


def test_keep_final_trains_the_whole_budget_and_keeps_the_last_weights(tmp_path):
    from synthesis.errors import ConfigError

    items = learnable_items(4)
    cfg = tiny_config(60, patience=1, keep="final")
    cfg.train.eval_every = 1
    cfg.train.lr = 0.5  # diverges: with keep = "best" this stops early (test above)
    result = train(cfg, tmp_path / "run", progress=False, items=(items, items[:1]))
    assert result.stopped == "max_steps" and result.step == 60
    best, last = load_checkpoint(tmp_path / "run" / "best.pt"), load_checkpoint(tmp_path / "run" / "last.pt")
    assert best["step"] == 60
    assert all(torch.equal(best["state_dict"][k], last["state_dict"][k]) for k in best["state_dict"])
    path = tmp_path / "c.toml"
    path.write_text('[train]\nkeep = "latest"\n')
    with pytest.raises(ConfigError, match="keep must be"):
        load_config(path)


def test_checkpoint_errors(tmp_path):
    path = tmp_path / "ckpt.pt"
    save_checkpoint(path, {"system": "baseline", "config": {}, "state_dict": {}})
    assert load_checkpoint(path, "baseline")["system"] == "baseline"
    with pytest.raises(CheckpointError, match="system 'baseline', expected 'fs2'"):
        load_checkpoint(path, "fs2")
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(path.read_bytes()[:40])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_checkpoint(truncated)
    other = tmp_path / "v99.pt"
    torch.save({"format": "prosody-tts-checkpoint", "format_version": 99}, other)
    with pytest.raises(CheckpointError, match="format version 99"):
        load_checkpoint(other)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")


def test_bad_config_files(tmp_path):
    from synthesis.errors import ConfigError

    bad = tmp_path / "bad.toml"
    bad.write_text("[model\nx=1")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)
    bad.write_text("[model]\nwidth = 3\n")
    with pytest.raises(ConfigError, match="unknown model config keys: width"):
        load_config(bad)
    bad.write_text('[model]\nfeature_kind = "wav"\n')
    with pytest.raises(ConfigError, match="feature_kind"):
        load_config(bad)


@pytest.mark.parametrize(("key", "value"), [
    ("cepstral_weighting", '"yes"'), ("cepstral_weighting", "-1"), ("cepstral_weighting", "3.5"),
    ("cepstral_weighting", "true"), ("delta", '"yes"'), ("delta", "-1"), ("delta", "11"), ("delta", "false"),
    ("f0", '"high"'), ("f0", "-2"), ("f0", "101"), ("f0", "true")])
def test_bad_loss_weights_are_refused(tmp_path, key, value):
    from synthesis.errors import ConfigError

    bad = tmp_path / "bad.toml"
    bad.write_text(f"[loss]\n{key} = {value}\n")
    with pytest.raises(ConfigError, match=key):
        load_config(bad)


def test_seed_on_the_command_line_overrides_every_config_kind(tmp_path):
    """`synthesis train --seed N`: [train] seed of stage 1, CAMP stage 2 and the duration pass,
    [stage2] seed of Kathaka's stage 2; absent, the config's seed stays."""
    from synthesis.cli import build_parser
    from synthesis.training.config import apply_train_overrides

    args = build_parser().parse_args(["train", "--system", "camp", "--stage", "2", "--config", "c.toml",
                                      "--out", str(tmp_path), "--seed", "7"])
    settings = TrainSettings(seed=1234)
    apply_train_overrides(settings, args)
    assert settings.seed == 7
    apply_train_overrides(settings, build_parser().parse_args(["train", "--system", "baseline", "--config", "c.toml",
                                                               "--out", str(tmp_path)]))
    assert settings.seed == 7

    from synthesis.training import kathaka_stage2

    seen = {}
    cfg = tmp_path / "k.toml"
    cfg.write_text('[stage2]\nstage1 = "s1.pt"\nseed = 1234\n')
    args = build_parser().parse_args(["train", "--system", "kathaka", "--stage", "2", "--config", str(cfg),
                                      "--out", str(tmp_path / "k"), "--seed", "99"])
    original = kathaka_stage2.train_stage2
    try:
        kathaka_stage2.train_stage2 = lambda c, out, **kw: seen.setdefault("seed", c.stage2.seed)
        kathaka_stage2.train_from_args(args)
    finally:
        kathaka_stage2.train_stage2 = original
    assert seen["seed"] == 99
