"""The adversarial mel-cepstral post-filter: config errors, identity start, a tiny training run
(resume reproduces an uninterrupted run), attaching it to its checkpoint, synthesis through it,
and every refusal (another model's weights, log-mel models, broken files)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from synthesis.cli import main
from synthesis.errors import ConfigError
from synthesis.models.backbone import ModelConfig
from synthesis.models.postfilter import (
    CepstralPostFilter,
    PostFilterConfig,
    build_postfilter,
    weights_digest,
)
from synthesis.training.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from synthesis.training.config import TrainConfig, TrainSettings
from synthesis.training.loop import train
from synthesis.training.postfilter import (
    POSTFILTER_KEY,
    PostFilterTrain,
    PostFilterTrainConfig,
    attach_postfilter,
    dynamics_ratio,
    load_postfilter_config,
    train_postfilter,
)
from tests.synthesis.test_camp_training import TINY, synthetic_items


def _cfg(steps: int) -> PostFilterTrainConfig:
    return PostFilterTrainConfig(model=PostFilterConfig(hidden=16, dilations=(1, 2)),
                                 train=PostFilterTrain(steps=steps, batch=4, crop_frames=16, lr=2e-3, eval_every=2))


@pytest.fixture(scope="module")
def acoustic(tmp_path_factory):
    """A tiny baseline trained for a few steps on synthetic clips (WORLD layout, 64 dims)."""
    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("postfilter")
    items = synthetic_items(8)
    cfg = TrainConfig(model=ModelConfig(system="baseline", **TINY),
                      train=TrainSettings(max_steps=10, lr=5e-3, warmup_steps=2, eval_every=5, log_every=1, threads=1,
                                          max_frames=600))
    train(cfg, root / "stage1", progress=False, items=(items, items[:3]))
    return root / "stage1" / "best.pt", items


def test_generator_starts_as_the_identity_and_keeps_shapes():
    gen = CepstralPostFilter(PostFilterConfig(hidden=8, dilations=(1, 2)))
    x = torch.randn(2, 30, 59)
    assert torch.equal(gen(x), x)
    assert PostFilterConfig().n_dims == 59


@pytest.mark.parametrize("body, message", [
    ("[postfilter]\nkernel = 4\n", "kernel odd"),
    ("[postfilter]\nfirst_dim = 60\n", "first_dim < end_dim"),
    ("[postfilter]\ndilations = []\n", "dilations must be"),
    ("[postfilter]\ncolour = 1\n", "unknown keys colour"),
    ("[train]\nsteps = 0\n", "steps must be at least 1"),
    ("[train]\nsteps = 'many'\n", "steps must be int"),
    ("[train]\nbatchsize = 3\n", "unknown keys batchsize"),
    ("[loss]\nadversarial = 0\n", "adversarial must be positive"),
    ("[loss]\nreconstruction = -1\n", "in [0, 100]"),
    ("[loss]\nperceptual = 1\n", "unknown keys perceptual"),
    ("[extra]\n", "unknown sections extra"),
])
def test_bad_configs_name_the_problem(tmp_path, body, message):
    path = tmp_path / "pf.toml"
    path.write_text(body)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_postfilter_config(path)


def test_committed_config_loads():
    cfg = load_postfilter_config("configs/postfilter_cpu.toml")
    assert cfg.model == PostFilterConfig() and cfg.train.steps > 0 and cfg.loss["adversarial"] == 1.0


def test_training_sharpens_and_resume_matches_an_uninterrupted_run(acoustic, tmp_path):
    ckpt, items = acoustic
    full = train_postfilter(_cfg(8), ckpt, tmp_path / "full", progress=False, items=(items, items[:3]))
    log = [json.loads(line) for line in (tmp_path / "full" / "metrics.jsonl").read_text().splitlines()]
    setup, val = log[0], [r for r in log if r["split"] == "validation"]
    assert setup["split"] == "setup" and len(val) == 4
    # no longer the identity: the filtered prediction moves more from frame to frame
    assert val[-1]["dynamics_ratio"] > setup["validation"]["dynamics_ratio"]
    assert full.step == 8 and (tmp_path / "full" / "postfilter.pt").is_file()
    # 5 steps, stop, resume to 8: the same weights as 8 in one go
    train_postfilter(_cfg(5), ckpt, tmp_path / "resumed", progress=False, items=(items, items[:3]))
    train_postfilter(_cfg(8), ckpt, tmp_path / "resumed", progress=False, items=(items, items[:3]))
    a = load_checkpoint(tmp_path / "full" / "postfilter.pt")["state_dict"]
    b = load_checkpoint(tmp_path / "resumed" / "postfilter.pt")["state_dict"]
    assert all(torch.allclose(a[k].float(), b[k].float(), atol=1e-3) for k in a)
    # a run folder of another config is refused, not silently continued
    other = _cfg(8)
    other.loss["reconstruction"] = 1.0
    with pytest.raises(CheckpointError, match="another acoustic model or config"):
        train_postfilter(other, ckpt, tmp_path / "full", progress=False, items=(items, items[:3]))


def test_attach_then_synthesis_applies_it(acoustic, tmp_path):
    from synthesis.features.enhance import Enhancement
    from synthesis.inference import Synthesizer

    ckpt, items = acoustic
    run = tmp_path / "run"
    train_postfilter(_cfg(6), ckpt, run, progress=False, items=(items, items[:3]))
    target = tmp_path / "model.pt"
    target.write_bytes(ckpt.read_bytes())
    plain = Synthesizer.from_checkpoint(target).synthesise_with_details(["Hello there."])[0]["features"]
    entry = attach_postfilter(target, run / "postfilter.pt")
    assert load_checkpoint(target)[POSTFILTER_KEY]["step"] == entry["step"] == 6
    synth = Synthesizer.from_checkpoint(target)
    assert synth.describe()["enhancement"]["adversarial_postfilter"] is True
    filtered = synth.synthesise_with_details(["Hello there."])[0]["features"]
    # only the filtered mel-cepstra change: c0, log-F0, voicing and aperiodicity stay the model's own
    assert not np.allclose(filtered[:, 1:60], plain[:, 1:60])
    np.testing.assert_allclose(filtered[:, 60:], plain[:, 60:], rtol=1e-5, atol=1e-5)
    off = Synthesizer.from_checkpoint(target, enhancement=Enhancement(adversarial=False))
    assert off.describe()["enhancement"]["adversarial_postfilter"] is False
    np.testing.assert_allclose(off.synthesise_with_details(["Hello there."])[0]["features"], plain, atol=1e-5)


def test_refusals(acoustic, tmp_path, capsys):
    from synthesis.inference import Synthesizer

    ckpt, items = acoustic
    run = tmp_path / "run"
    train_postfilter(_cfg(2), ckpt, run, progress=False, items=(items, items[:3]))
    # a post-filter trained on other weights
    other = tmp_path / "other.pt"
    data = load_checkpoint(ckpt)
    data["state_dict"] = {k: (v + 0.01 if v.is_floating_point() else v) for k, v in data["state_dict"].items()}
    save_checkpoint(other, data)
    before = other.read_bytes()
    with pytest.raises(CheckpointError, match="trained on another acoustic model"):
        attach_postfilter(other, run / "postfilter.pt")
    assert other.read_bytes() == before  # nothing written
    # a checkpoint whose weights changed after the post-filter was attached
    target = tmp_path / "model.pt"
    target.write_bytes(ckpt.read_bytes())
    attach_postfilter(target, run / "postfilter.pt")
    data = load_checkpoint(target)
    data["state_dict"]["out.bias"] = data["state_dict"]["out.bias"] + 1.0
    save_checkpoint(target, data)
    with pytest.raises(CheckpointError, match="trained on other acoustic weights"):
        Synthesizer.from_checkpoint(target)
    # the acoustic checkpoint is not a post-filter, and vice versa
    with pytest.raises(CheckpointError, match="not a trained post-filter"):
        attach_postfilter(target, ckpt)
    # a log-mel model has no mel-cepstra to filter
    logmel = tmp_path / "logmel.pt"
    data = load_checkpoint(ckpt)
    data["config"]["model"]["feature_kind"] = "log_mel"
    data["config"]["model"]["out_dim"] = 80
    data["config"]["model"]["binary_dims"] = []
    from synthesis.models.backbone import build_model

    data["state_dict"] = build_model(ModelConfig.from_dict(data["config"]["model"])).state_dict()
    save_checkpoint(logmel, data)
    with pytest.raises(CheckpointError, match="this model predicts log_mel"):
        train_postfilter(_cfg(2), logmel, tmp_path / "x", progress=False, items=(items, items[:3]))
    # the command line: one line, exit 2, no run folder
    for bad, message in ((tmp_path / "missing.pt", "does not exist"), (tmp_path / "run" / "metrics.jsonl", "not a readable")):
        code = main(["train-postfilter", "--checkpoint", str(bad), "--out", str(tmp_path / "cli"), "--quiet"])
        err = capsys.readouterr().err.strip()
        assert code == 2 and message in err and len(err.splitlines()) == 1
        assert not (tmp_path / "cli").exists()


def test_weights_digest_ignores_storage_precision():
    state = CepstralPostFilter(PostFilterConfig(hidden=8, dilations=(1,))).state_dict()
    assert weights_digest(state) == weights_digest({k: v.half() for k, v in state.items()})
    assert build_postfilter(PostFilterConfig(hidden=8, dilations=(1,)).to_dict(), state).training is False


def test_dynamics_ratio():
    rec = [np.cumsum(np.ones((10, 3)), 0)]
    assert dynamics_ratio(rec, rec) == pytest.approx(1.0)
    assert dynamics_ratio([np.zeros((10, 3))], rec) == 0.0
