"""The duration pass (`synthesis train --system baseline --stage 2`): only the duration
predictor changes, its validation loss falls below stage 1's, and bad stage-1 files fail cleanly."""

from __future__ import annotations

import json

import pytest
import torch

from synthesis.cli import main
from synthesis.models.backbone import ModelConfig
from synthesis.training.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from synthesis.training.config import TrainConfig, TrainSettings, dump_toml
from synthesis.training.data import collate
from synthesis.training.duration_stage import (
    DurationConfig,
    load_duration_config,
    load_trained_model,
    train_durations,
)
from synthesis.training.loop import train
from tests.synthesis.test_camp_training import TINY, synthetic_items


def _settings(steps: int, **kw) -> TrainSettings:
    return TrainSettings(max_steps=steps, lr=5e-3, warmup_steps=2, eval_every=10, log_every=1, threads=1, **kw)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A tiny baseline stopped early (durations barely trained) and its duration pass."""
    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("durations")
    items = synthetic_items(8)
    cfg = TrainConfig(model=ModelConfig(system="baseline", **TINY), train=_settings(30, max_frames=600),
                      loss={**TrainConfig().loss, "binarization_start": 1000})
    train(cfg, root / "stage1", progress=False, items=(items, items[:3]))
    torch.manual_seed(0)
    dcfg = DurationConfig(stage1=str(root / "stage1" / "best.pt"), train=_settings(80, max_frames=200, patience=100))
    with pytest.MonkeyPatch.context() as mp:  # 8 tiny clips: few tokens per symbol
        mp.setattr("synthesis.training.duration_stage.MIN_CALIBRATION_TOKENS", 3)
        result = train_durations(dcfg, "baseline", root / "stage2", progress=False, items=(items, items[:3]))
    return root, items, result


def _log(run) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_duration_loss_falls_below_stage1_and_only_durations_change(runs):
    root, items, result = runs
    log = _log(root / "stage2")
    start = log[0]["stage1_validation_duration_mse"]
    assert log[0]["split"] == "setup" and result.best_val < 0.7 * start
    s1 = load_checkpoint(root / "stage1" / "best.pt")["state_dict"]
    s2 = load_checkpoint(root / "stage2" / "best.pt", "baseline")
    assert s2["stage"] == 2 and s2["stage1"]["hash"]
    changed = {k for k, v in s1.items() if not torch.equal(v, s2["state_dict"][k])}
    assert changed and all(k.startswith("duration.") or k == "duration_bias" for k in changed)
    # The checkpoint loads like any baseline checkpoint and synthesises from text.
    _, model = load_trained_model(root / "stage2" / "best.pt", "baseline")
    model.eval()
    batch = collate([it.arrays for it in items[:2]])
    out = model.infer({k: v for k, v in batch.items() if k not in ("mel", "target", "lf0", "energy", "frame_lens")})
    assert out["features"].shape[0] == 2 and bool((out["durations"] >= 0).all())


def test_resume_continues_and_a_changed_stage1_is_refused(runs, tmp_path):
    root, items, _ = runs
    dcfg = DurationConfig(stage1=str(root / "stage1" / "best.pt"), train=_settings(12, max_frames=200))
    train_durations(dcfg, "baseline", tmp_path / "r", progress=False, items=(items, items[:3]))
    dcfg.train.max_steps = 20
    assert train_durations(dcfg, "baseline", tmp_path / "r", progress=False, items=(items, items[:3])).step == 20
    dcfg.stage1 = str(root / "stage2" / "best.pt")
    with pytest.raises(Exception, match="another config or stage 1"):
        train_durations(dcfg, "baseline", tmp_path / "r", progress=False, items=(items, items[:3]))


def test_wrong_missing_or_broken_stage1_is_a_one_line_error(runs, tmp_path, capsys):
    root, _, _ = runs
    ck = load_checkpoint(root / "stage1" / "best.pt")
    camp = tmp_path / "camp.pt"
    save_checkpoint(camp, {**ck, "system": "camp"})
    broken = tmp_path / "broken.pt"
    broken.write_bytes((root / "stage1" / "best.pt").read_bytes()[:400])
    for path, message in {tmp_path / "missing.pt": "does not exist", camp: "not 'baseline'",
                          broken: "truncated or corrupt"}.items():
        cfg = tmp_path / "d.toml"
        cfg.write_text(dump_toml(DurationConfig(stage1=str(path), train=_settings(2)).to_dict()), encoding="utf-8")
        code = main(["train", "--system", "baseline", "--stage", "2", "--config", str(cfg), "--out",
                     str(tmp_path / "o"), "--quiet"])
        err = capsys.readouterr().err
        assert code == 2 and message in err and err.count("\n") == 1, err
        assert not (tmp_path / "o").exists()


def test_bad_duration_config_lines(tmp_path):
    from synthesis.errors import ConfigError

    p = tmp_path / "c.toml"
    for text, message in [('[stage2]\nsampler = "bert"\n', "unknown keys sampler"), ("[predictor]\n", "unknown sections"),
                          ("[loss]\nvector = 1.0\n", "unknown keys vector"), ("[train]\nspeed = 2\n", "unknown keys speed")]:
        p.write_text(text, encoding="utf-8")
        with pytest.raises(ConfigError, match=message):
            load_duration_config(p)
    assert load_duration_config("configs/baseline_durations.toml").stage1.endswith("best.pt")


def test_calibration_matches_summed_durations_per_symbol():
    from synthesis.training.duration_stage import calibration_offsets, duration_ratios

    # Symbol 5: a "comma" that is 0 or 30 frames; a log-MSE fit predicts about the median in log
    # space, far below the mean. Symbol 6 is too rare to calibrate.
    ids = torch.tensor([5] * 40 + [6] * 3)
    frames = torch.tensor([0.0, 30.0] * 20 + [4.0] * 3)
    log_pred = torch.full((43,), float(torch.log1p(frames[:40]).mean()))
    bias = calibration_offsets(ids, frames, log_pred, n_symbols=8)
    assert bias[6] == 0 and bias[[0, 1, 2, 3, 4, 7]].abs().sum() == 0
    assert torch.isclose(torch.exp(log_pred[:40] + bias[5]).sum(), (1 + frames[:40]).sum())
    assert duration_ratios(ids, frames, log_pred, torch.zeros(8))["total_ratio"] < 0.5
    assert abs(duration_ratios(ids[:40], frames[:40], log_pred[:40], bias)["total_ratio"] - 1) < 0.05


def test_pass_stores_the_calibration_and_old_files_load_without_it(runs):
    from synthesis.models.backbone import build_model

    root, _, _ = runs
    ck = load_checkpoint(root / "stage2" / "best.pt", "baseline")
    assert ck["metrics"]["calibration"]["calibrated"] and ck["state_dict"]["duration_bias"].abs().sum() > 0
    assert any(r["split"] == "calibration" for r in _log(root / "stage2"))
    old = {k: v for k, v in load_checkpoint(root / "stage1" / "best.pt")["state_dict"].items() if k != "duration_bias"}
    model = build_model(ModelConfig.from_dict(ck["config"]["model"]))
    model.load_state_dict(old)                                   # a file from before the offsets existed
    assert model.duration_bias.abs().sum() == 0


def test_pipeline_entry_reads_the_system_from_stage1(runs, tmp_path):
    """``train_stage2`` (what ``synthesis pipeline`` calls) trains the pass of the stage-1 file's
    own system, and refuses a system without one."""
    from synthesis.training.duration_stage import train_stage2

    root, _, _ = runs
    other = tmp_path / "kathaka.pt"
    save_checkpoint(other, {**load_checkpoint(root / "stage1" / "best.pt"), "system": "kathaka"})
    with pytest.raises(CheckpointError, match="the duration pass is for baseline and fs2"):
        train_stage2(DurationConfig(stage1=str(other), train=_settings(2, max_frames=200)), tmp_path / "x",
                     progress=False)
    assert not (tmp_path / "x").exists()
