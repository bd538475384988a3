"""Kathaka end to end on tiny data: stage 1 through the one loop, stage 2 samplers, bad input,
and inference in every mode through ``Synthesizer``."""

import json

import numpy as np
import pytest
import torch

from synthesis.cli import main
from synthesis.features.cache import CacheError, write_clip, write_json_atomic
from synthesis.models.backbone import ModelConfig
from synthesis.training.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from synthesis.training.config import TrainConfig, TrainSettings
from synthesis.training.data import ClipItem
from synthesis.training.kathaka_stage2 import (
    Stage2Config,
    Stage2Settings,
    set_checkpoint_inference,
    stage2_config_from_dict,
    train_stage2,
)
from synthesis.training.loop import train
from tests.synthesis.test_models import TINY, fake_item

KATHAKA_ARGS = {"latent_dim": 4, "ref_channels": [16, 16], "ref_gru": 8, "kl_weight": 0.01,
                "kl_anneal_start": 0, "kl_anneal_steps": 10, "free_bits": 0.1}
SAMPLER = {"hidden": 16, "gat_layers": 1, "heads": 2, "dropout": 0.0}


def prosodic_items(n, seed=0):
    """Clips whose frames are a function of the phoneme plus an utterance-level offset (a
    'pitch level') that the mel shows and the first word vector announces: a latent can
    carry it and a text sampler can predict it."""
    rng = np.random.default_rng(seed)
    table = rng.normal(size=(64, 64)).astype(np.float32)
    mel_table = rng.normal(size=(64, 80)).astype(np.float32)
    direction, mel_direction = rng.normal(size=64).astype(np.float32), rng.normal(size=80).astype(np.float32)
    items = []
    for i in range(n):
        base = fake_item(rng, int(rng.integers(6, 10)), 10)
        offset = float(rng.choice([-1.0, 1.0]))
        dur = rng.integers(3, 7, len(base["phoneme_ids"]))
        frames = np.repeat(base["phoneme_ids"], dur)
        base["target"] = table[frames] + offset * direction
        base["target"][:, 61] = (frames % 2).astype(np.float32)
        base["mel"] = (mel_table[frames] + offset * mel_direction
                       + 0.1 * rng.normal(size=(len(frames), 80))).astype(np.float32)
        base["lf0"] = np.full(len(frames), 5.3, np.float32)
        base["energy"] = np.full(len(frames), -30.0, np.float32)
        base["word_vectors"][:, 0] = 3.0 * offset
        base["word_head"] = np.array([1, 1, 1, 2])
        base["word_dep"] = np.array([20, 0, 21, 41])
        items.append(ClipItem(f"fake-{i}", base))
    return items


def stage1_config(steps):
    return TrainConfig(model=ModelConfig(system="kathaka", prosody="kathaka", prosody_args=dict(KATHAKA_ARGS),
                                         enc_dropout=0.0, predictor_dropout=0.0, **TINY),
                       train=TrainSettings(max_steps=steps, lr=5e-3, warmup_steps=2, eval_every=10, log_every=1,
                                           max_frames=400, threads=1),
                       loss={**TrainConfig().loss, "binarization_start": 20})


def stage2_config(stage1, sampler="both", steps=60, **kw):
    return Stage2Config(Stage2Settings(stage1=str(stage1), sampler=sampler, max_steps=steps, batch_size=4, lr=3e-3,
                                       warmup_steps=2, eval_every=10, log_every=1, threads=1, **kw), dict(SAMPLER))


def read_log(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def stage1_run(tmp_path_factory):
    torch.manual_seed(0)
    items = prosodic_items(8)
    run = tmp_path_factory.mktemp("kathaka") / "stage1"
    train(stage1_config(40), run, progress=False, items=(items, items[:3]))
    return run, items


def test_stage1_trains_through_the_loop_and_logs_the_latent(stage1_run):
    run, _ = stage1_run
    log = [r for r in read_log(run) if r["split"] == "train"]
    assert log[-1]["feat_after"] < 0.7 * log[0]["feat_after"]
    assert {"kathaka_kl", "kathaka_kl_d0", "kathaka_kl_d3", "kathaka_active_dims", "kathaka_kl_raw"} <= set(log[-1])
    assert log[0]["kathaka_kl"] == 0.0 and log[-1]["kathaka_kl_weight"] == pytest.approx(0.01)
    ckpt = load_checkpoint(run / "best.pt", "kathaka")
    assert ckpt["config"]["model"]["prosody"] == "kathaka"


@pytest.mark.parametrize("sampler", ["bert", "graph", "both"])
def test_stage2_sampler_loss_falls_and_stage1_stays_frozen(stage1_run, tmp_path, sampler):
    run, items = stage1_run
    torch.manual_seed(0)
    result = train_stage2(stage2_config(run / "best.pt", sampler), tmp_path / "s2", progress=False,
                          items=(items, items[:3]))
    log = read_log(tmp_path / "s2")
    posterior = next(r for r in log if r["split"] == "posterior")
    assert len(posterior["train"]["kl_per_dim"]) == 4 and 0 <= posterior["train"]["active_dims"] <= 4
    train_log = [r for r in log if r["split"] == "train"]
    assert train_log[-1]["kl"] < 0.5 * train_log[0]["kl"]
    assert train_log[-1]["kl"] < train_log[-1]["prior_kl"]     # beats the standard-normal prior
    assert result.step == 60
    s1 = load_checkpoint(run / "best.pt")["state_dict"]
    s2 = load_checkpoint(tmp_path / "s2" / "best.pt", "kathaka")
    assert s2["config"]["model"]["prosody_args"]["sampler"] == sampler
    assert s2["stage2"]["stage1_hash"]
    for k, v in s1.items():
        assert torch.equal(v, s2["state_dict"][k]), k
    assert any(k.startswith("prosody.sampler.") for k in s2["state_dict"])


def test_stage2_resumes(stage1_run, tmp_path):
    run, items = stage1_run
    cfg = stage2_config(run / "best.pt", "bert", steps=10)
    train_stage2(cfg, tmp_path / "s2", progress=False, items=(items, items[:3]))
    cfg.stage2.max_steps = 20
    result = train_stage2(cfg, tmp_path / "s2", progress=False, items=(items, items[:3]))
    assert result.step == 20
    assert [r["step"] for r in read_log(tmp_path / "s2") if r["split"] == "train"][-1] == 20
    other = stage2_config(run / "best.pt", "graph", steps=30)
    with pytest.raises(Exception, match="another stage-1 model or sampler"):
        train_stage2(other, tmp_path / "s2", progress=False, items=(items, items[:3]))


def test_stage2_refuses_bad_stage1_checkpoints(stage1_run, tmp_path):
    run, items = stage1_run
    with pytest.raises(CheckpointError, match="does not exist") as err:
        train_stage2(stage2_config(tmp_path / "missing.pt"), tmp_path / "s2", items=(items, items))
    assert "\n" not in str(err.value)
    baseline = tmp_path / "baseline.pt"
    save_checkpoint(baseline, {"system": "baseline", "config": {"model": {}}, "state_dict": {}})
    with pytest.raises(CheckpointError, match="system 'baseline', expected 'kathaka'"):
        train_stage2(stage2_config(baseline), tmp_path / "s2", items=(items, items))
    train_stage2(stage2_config(run / "best.pt", steps=2), tmp_path / "s2ok", progress=False, items=(items, items))
    with pytest.raises(CheckpointError, match="already a stage-2 model"):
        train_stage2(stage2_config(tmp_path / "s2ok" / "best.pt"), tmp_path / "s2", items=(items, items))
    assert not (tmp_path / "s2").exists()                    # nothing written on refusal


def _fake_cache(root, items, drop_parse=False, self_heads=False):
    """A feature cache on disk (manifest, split, clip files) made from in-memory items."""
    ids = [it.id for it in items]
    for it in items:
        a = it.arrays
        write_clip(root, "acoustic", it.id, {"log_mel": a["mel"], "world": a["target"], "f0": np.zeros(len(a["mel"])),
                                             "voiced": np.zeros(len(a["mel"]), bool), "energy": a["energy"]}, "ah")
        text = {k: v for k, v in a.items() if k not in ("mel", "target", "lf0", "energy")}
        text["graph_edges"] = np.zeros((0, 2), np.int16)
        if self_heads:
            text["word_head"] = np.arange(len(text["word_head"]))
        if drop_parse:
            for k in ("word_head", "graph_edges"):
                text.pop(k)
        write_clip(root, "text", it.id, text, "th")
    write_json_atomic(root / "manifest.json", {"format_version": 1, "corpus": {"root": str(root / "nowhere")},
                                               "acoustic": {"hash": "ah"}, "text": {"hash": "th"},
                                               "clips": {i: {} for i in ids}})
    split = root / "split.json"
    split.write_text(json.dumps({"format_version": 1, "corpus": "fake", "fingerprint": "x", "seed": 0,
                                 "train": ids[:5], "validation": ids[5:], "test": []}))
    return split


@pytest.mark.parametrize("how", ["drop_parse", "self_heads"])
def test_stage2_refuses_a_cache_without_parse_graphs(stage1_run, tmp_path, how):
    run, items = stage1_run
    split = _fake_cache(tmp_path / "cache", items, **{how: True})
    cfg = stage2_config(run / "best.pt", cache=str(tmp_path / "cache"), split=str(split))
    with pytest.raises(CacheError, match="without parse graphs") as err:
        train_stage2(cfg, tmp_path / "s2", progress=False)
    assert "\n" not in str(err.value)


def test_stage2_reads_a_cache_with_parse_graphs(stage1_run, tmp_path):
    run, items = stage1_run
    split = _fake_cache(tmp_path / "cache", items)
    cfg = stage2_config(run / "best.pt", steps=3, cache=str(tmp_path / "cache"), split=str(split))
    assert train_stage2(cfg, tmp_path / "s2", progress=False).step == 3


def test_cli_errors_are_one_line(tmp_path, capsys):
    cfg = tmp_path / "s2.toml"
    cfg.write_text('[stage2]\nsampler = "graph"\n')
    code = main(["train", "--system", "kathaka", "--stage", "2", "--config", str(cfg), "--stage1",
                 str(tmp_path / "nope.pt"), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("synthesis: error: ") and err.count("\n") == 1 and "nope.pt" in err
    cfg.write_text('[stage2]\nsampler = "lstm"\n')
    assert main(["train", "--system", "kathaka", "--stage", "2", "--config", str(cfg), "--out", str(tmp_path / "o")]) == 2
    assert "sampler must be one of" in capsys.readouterr().err
    cfg.write_text('[sampler]\nwidth = 3\n')
    assert main(["train", "--system", "kathaka", "--stage", "2", "--config", str(cfg), "--out", str(tmp_path / "o")]) == 2
    assert "[sampler] unknown keys width" in capsys.readouterr().err
    cfg.write_text('[stage2]\ncalibrate = "yes"\n')
    assert main(["train", "--system", "kathaka", "--stage", "2", "--config", str(cfg), "--out", str(tmp_path / "o")]) == 2
    assert "calibrate must be true or false" in capsys.readouterr().err
    with pytest.raises(Exception, match="unknown sections"):
        stage2_config_from_dict({"model": {}})


def test_synthesizer_modes_from_checkpoints(stage1_run, tmp_path):
    from synthesis.audio.io import load_audio
    from synthesis.corpus import default_corpus_path, load_corpus
    from synthesis.errors import SynthesisError
    from synthesis.inference import Synthesizer

    run, items = stage1_run
    train_stage2(stage2_config(run / "best.pt", "both", steps=5), tmp_path / "s2", progress=False,
                 items=(items, items[:3]))
    text = "It was a fine day. Yes!"
    synth = Synthesizer.from_checkpoint(tmp_path / "s2" / "best.pt")
    info = synth.describe()
    assert info["system"] == "kathaka-both" and info["mode"] == "mean"
    mean = synth.synthesise([text, "Yes"])
    assert len(mean) == 2 and all(np.isfinite(w).all() and len(w) > 0 for w in mean)
    sample = Synthesizer.from_checkpoint(tmp_path / "s2" / "best.pt", mode="sample", temperature=0.5)
    assert sample.describe()["system"] == "kathaka-both-sample-t0.5"
    w1, w2 = sample.synthesise([text])[0], sample.synthesise([text])[0]
    assert np.array_equal(w1, w2)                            # seeded per sentence: reproducible
    prior = Synthesizer.from_checkpoint(run / "best.pt")
    assert prior.describe()["system"] == "kathaka-prior"
    with pytest.raises(SynthesisError, match="needs a stage-2 sampler"):
        Synthesizer.from_checkpoint(run / "best.pt", mode="mean")
    oracle = Synthesizer.from_checkpoint(run / "best.pt", mode="oracle")
    clip = load_corpus(default_corpus_path()).by_id()["LJ001-0002"]
    wave = load_audio(clip.wav_path)
    given = oracle.synthesise([clip.text], references=[wave])[0]
    looked_up = oracle.synthesise([clip.text])[0]            # found in the corpus by its script
    assert np.array_equal(given, looked_up)
    with pytest.raises(SynthesisError, match="not a corpus sentence"):
        oracle.synthesise([text])
    # an exported mode: what `synthesis evaluate` and listening sets load
    copy = tmp_path / "prior.pt"
    copy.write_bytes((tmp_path / "s2" / "best.pt").read_bytes())
    args = set_checkpoint_inference(copy, "prior", 0.7)
    assert args["inference"] == "prior" and Synthesizer.from_checkpoint(copy).describe()["system"] == "kathaka-prior-t0.7"
    with pytest.raises(CheckpointError, match="needs a stage-2 sampler"):
        set_checkpoint_inference(run / "best.pt", "sample")


def test_listening_set_tts_condition_takes_a_kathaka_mode(stage1_run):
    from synthesis.audio.io import load_audio
    from synthesis.corpus import default_corpus_path, load_corpus
    from synthesis.errors import ConfigError
    from synthesis.listening_set.conditions import ItemAudio, make_source

    run, _ = stage1_run
    clip = load_corpus(default_corpus_path()).by_id()["LJ001-0002"]
    item = ItemAudio("x", "Not a corpus sentence at all.", load_audio(clip.wav_path), 22_050)
    source = make_source("kathaka_oracle", "tts", {"checkpoint": str(run / "best.pt"), "mode": "oracle"}, "set.toml")
    assert source.config["system"] == "kathaka-oracle"
    wave = source.render(item)                               # the item's own recording is the reference
    assert wave.ndim == 1 and np.isfinite(wave).all()
    with pytest.raises(ConfigError, match="set.toml: .*needs a stage-2 sampler"):
        make_source("k", "tts", {"checkpoint": str(run / "best.pt"), "mode": "mean"}, "set.toml")
    with pytest.raises(ConfigError, match="temperature must be a number"):
        make_source("k", "tts", {"checkpoint": str(run / "best.pt"), "temperature": "hot"}, "set.toml")


def test_export_with_modes_and_a_refused_mode_leaves_nothing(stage1_run, tmp_path, capsys):
    run, _ = stage1_run
    assert main(["export-checkpoint", str(run), "--out", str(tmp_path / "prior"), "--mode", "prior",
                 "--temperature", "0.5"]) == 0
    ckpt = load_checkpoint(tmp_path / "prior" / "model.pt", "kathaka")
    assert ckpt["config"]["model"]["prosody_args"]["inference"] == "prior"
    assert ckpt["config"]["model"]["prosody_args"]["temperature"] == 0.5
    assert main(["export-checkpoint", str(run), "--out", str(tmp_path / "bad"), "--mode", "mean"]) == 2
    assert "needs a stage-2 sampler" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists() or not any((tmp_path / "bad").iterdir())


def test_duration_calibration_of_a_stage2_checkpoint(stage1_run, tmp_path, monkeypatch):
    """scripts/calibrate_durations.py: per-symbol offsets fitted on the text-only (sampler-conditioned)
    durations make each symbol's summed training duration match the recordings'; idempotent."""
    from synthesis.training import duration_stage
    from synthesis.training.duration_stage import calibrate_checkpoint, text_only_log_durations

    run, items = stage1_run
    torch.manual_seed(0)
    train_stage2(stage2_config(run / "best.pt", "bert", steps=20), tmp_path / "s2", progress=False,
                 items=(items, items[:3]))
    # stage 2 calibrates its best weights itself ([stage2] calibrate, on by default) and logs it
    logged = [r for r in read_log(tmp_path / "s2") if r["split"] == "calibration"]
    assert len(logged) == 1 and "validation_after" in logged[0]
    assert load_checkpoint(tmp_path / "s2" / "best.pt")["metrics"]["duration_calibration"]
    path = tmp_path / "model.pt"
    path.write_bytes((tmp_path / "s2" / "best.pt").read_bytes())
    monkeypatch.setattr(duration_stage, "MIN_CALIBRATION_TOKENS", 3)  # 8 tiny clips: few tokens per symbol
    result = calibrate_checkpoint(path, None, items=(items, items[:3]))
    ckpt = load_checkpoint(path, "kathaka")
    bias = ckpt["state_dict"]["duration_bias"]
    assert result["calibrated_symbols"] == int((bias != 0).sum()) > 0
    assert ckpt["metrics"]["duration_calibration"] == result
    # on the training clips, each calibrated symbol's summed (1 + frames) now matches the recordings'
    from synthesis.models.backbone import ModelConfig, build_model

    model = build_model(ModelConfig.from_dict(ckpt["config"]["model"]))
    model.load_state_dict(ckpt["state_dict"])
    ids, frames, log_pred = text_only_log_durations(model, items, 400, torch.device("cpu"))
    for sym in torch.nonzero(bias).flatten().tolist():
        sel = ids == sym
        assert float(torch.exp(log_pred[sel] + bias[sym]).sum()) == pytest.approx(float((1 + frames[sel]).sum()),
                                                                                   rel=1e-4)
    calibrate_checkpoint(path, None, items=(items, items[:3]))
    assert torch.equal(load_checkpoint(path)["state_dict"]["duration_bias"], bias)
