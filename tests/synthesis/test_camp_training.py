"""CAMP end to end on tiny synthetic clips: stage 1 by the shared loop, stage 2, inference modes,
and the one-line errors for a wrong stage-1 checkpoint and a cache without syntax."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from synthesis.cli import main
from synthesis.features.cache import CacheError
from synthesis.models.backbone import ModelConfig
from synthesis.text.phonemes import BOS_ID, EOS_ID
from synthesis.training.camp_stage2 import (
    Stage2Config,
    build_stage2_model,
    load_stage1,
    train_stage2,
)
from synthesis.training.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from synthesis.training.config import TrainConfig, TrainSettings, dump_toml
from synthesis.training.data import ClipItem, collate
from synthesis.training.loop import train

TINY = {"d_model": 32, "enc_layers": 1, "enc_heads": 2, "enc_ff": 64, "dec_layers": 2, "dec_hidden": 64,
        "dec_dilations": (1, 2), "postnet_layers": 2, "postnet_channels": 16, "predictor_hidden": 32, "att_dim": 16,
        "enc_dropout": 0.0, "predictor_dropout": 0.0}
CAMP_ARGS = {"bottleneck": 3, "conv_channels": 16, "gru_hidden": 8, "dropout": 0.0}


def synthetic_items(n: int, seed: int = 0) -> list[ClipItem]:
    """Clips whose frames follow the phonemes, with a per-word loudness/pitch offset that the
    word's POS decides: something for stage 1 to encode and stage 2 to predict from text."""
    rng = np.random.default_rng(seed)
    table = rng.normal(size=(64, 64)).astype(np.float32)
    mel_table = rng.normal(size=(64, 80)).astype(np.float32)
    items = []
    for i in range(n):
        n_words = int(rng.integers(2, 6))
        phones, widx = [BOS_ID], [-1]
        for w in range(n_words):
            k = int(rng.integers(1, 4))
            phones += list(rng.integers(14, 64, k))
            widx += [w] * k
        phones.append(EOS_ID)
        widx.append(-1)
        phones, widx = np.array(phones, np.int64), np.array(widx, np.int64)
        pos = rng.integers(0, 17, n_words)
        offset = np.where(pos % 2 == 0, 1.5, -1.5)
        dur = rng.integers(3, 6, len(phones))
        frames = np.repeat(phones, dur)
        frame_word = np.repeat(widx, dur)
        shift = np.where(frame_word >= 0, offset[np.maximum(frame_word, 0)], 0.0)[:, None]
        a = {"phoneme_ids": phones, "stress": np.zeros(len(phones), np.int64), "word_index": widx,
             "word_vectors": rng.normal(size=(n_words, 384)).astype(np.float32),
             "mel": (mel_table[frames] + shift + 0.05 * rng.normal(size=(len(frames), 80))).astype(np.float32),
             "target": (table[frames] + shift).astype(np.float32),
             "lf0": np.full(len(frames), 5.3, np.float32), "energy": np.full(len(frames), -30.0, np.float32)}
        a["target"][:, 61] = (frames % 2).astype(np.float32)
        for k in ("word_dep", "word_depth", "word_chunk_bio", "word_punct_after", "word_to_next_punct",
                  "word_from_prev_punct", "word_sentence", "word_is_punct"):
            a[k] = np.zeros(n_words, np.int64)
        a["word_pos"], a["word_open_class"] = pos.astype(np.int64), (pos % 2).astype(np.int64)
        a["word_head"] = np.full(n_words, n_words - 1, np.int64)
        a["word_chunk_id"] = np.full(n_words, -1, np.int64)
        a["word_punct_after"][:] = -1
        items.append(ClipItem(f"syn-{i}", a))
    return items


def stage1_config(steps: int) -> TrainConfig:
    return TrainConfig(model=ModelConfig(system="camp", prosody="camp", prosody_args=dict(CAMP_ARGS), **TINY),
                       train=TrainSettings(max_steps=steps, lr=5e-3, warmup_steps=2, eval_every=10, log_every=1,
                                           max_frames=600, threads=1),
                       loss={**TrainConfig().loss, "binarization_start": 1000})


def stage2_config(stage1: str, steps: int, ablation: str = "both") -> Stage2Config:
    cfg = Stage2Config(stage1=stage1, ablation=ablation,
                       predictor={"hidden": 16, "lstm_hidden": 8, "conv_layers": 1, "dropout": 0.0})
    cfg.train = TrainSettings(max_steps=steps, lr=5e-3, warmup_steps=2, eval_every=10, log_every=1, max_frames=200,
                              threads=1)
    return cfg


def _log(run) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One tiny stage 1 (the shared loop) and one stage 2 on top, shared by the tests below."""
    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("camp")
    items = synthetic_items(8)
    train(stage1_config(40), root / "stage1", progress=False, items=(items, items[:3]))
    torch.manual_seed(0)
    train_stage2(stage2_config(str(root / "stage1" / "best.pt"), 60), root / "stage2", progress=False,
                 items=(items, items[:3]))
    return root, items


def test_stage1_and_stage2_losses_fall(runs):
    root, _ = runs
    s1 = [r for r in _log(root / "stage1") if r["split"] == "train"]
    assert s1[-1]["feat_after"] < 0.8 * s1[0]["feat_after"]
    s2 = [r for r in _log(root / "stage2") if r["split"] == "train"]
    first = np.mean([r["vector_mse"] for r in s2[:5]])
    last = np.mean([r["vector_mse"] for r in s2[-5:]])
    assert last < 0.7 * first
    assert np.mean([r["duration_mse"] for r in s2[-5:]]) < np.mean([r["duration_mse"] for r in s2[:5]])
    setup = _log(root / "stage2")[0]
    assert setup["split"] == "setup" and len(setup["vector_std"]) == CAMP_ARGS["bottleneck"]


def test_stage2_freezes_stage1_and_checkpoint_rebuilds(runs):
    root, items = runs
    s1 = load_checkpoint(root / "stage1" / "best.pt")["state_dict"]
    s2 = load_checkpoint(root / "stage2" / "best.pt", "camp")
    for k, v in s1.items():
        assert torch.equal(v, s2["state_dict"][k]), k          # stage 1 untouched (incl. its duration model)
    assert any(k.startswith("prosody.predictor.") for k in s2["state_dict"])
    assert s2["stage1"]["hash"] and s2["variant"] == "both"
    model = build_stage2_model(load_stage1(root / "stage1" / "best.pt"), stage2_config("x", 1))
    model.load_state_dict(s2["state_dict"])
    model.eval()
    batch = collate([it.arrays for it in items[:3]])
    text_only = {k: v for k, v in batch.items() if k not in ("mel", "target", "lf0", "energy", "frame_lens")}
    out = model.infer(text_only)
    assert out["features"].shape[0] == 3 and "log_durations" in out["prosody_extras"]
    model.prosody.set_inference("oracle")
    oracle = model.infer(batch)
    assert "log_durations" not in oracle["prosody_extras"]          # oracle: stage 1's own duration model
    assert not torch.equal(oracle["prosody_extras"]["word_vectors"], out["prosody_extras"]["word_vectors"])


def test_resume_and_best(runs, tmp_path):
    root, items = runs
    cfg = stage2_config(str(root / "stage1" / "best.pt"), 12)
    train_stage2(cfg, tmp_path / "r", progress=False, items=(items, items[:3]))
    cfg.train.max_steps = 20
    result = train_stage2(cfg, tmp_path / "r", progress=False, items=(items, items[:3]))
    assert result.step == 20
    other = stage2_config(str(root / "stage1" / "best.pt"), 25, ablation="bert_only")
    with pytest.raises(Exception, match="another config"):
        train_stage2(other, tmp_path / "r", progress=False, items=(items, items[:3]))


def _cli_stage2(tmp_path, stage1, capsys) -> tuple[int, str]:
    cfg = stage2_config(str(stage1), 2)
    path = tmp_path / "s2.toml"
    path.write_text(dump_toml(cfg.to_dict()), encoding="utf-8")
    code = main(["train", "--system", "camp", "--stage", "2", "--config", str(path), "--out", str(tmp_path / "o"),
                 "--quiet"])
    return code, capsys.readouterr().err


def test_wrong_or_missing_stage1_is_a_one_line_error(runs, tmp_path, capsys):
    root, _ = runs
    baseline = tmp_path / "baseline.pt"
    ck = load_checkpoint(root / "stage1" / "best.pt")
    save_checkpoint(baseline, {**ck, "system": "baseline", "config": {**ck["config"], "model": {
        **ck["config"]["model"], "system": "baseline", "prosody": None, "prosody_args": {}}}})
    broken = tmp_path / "broken.pt"
    broken.write_bytes((root / "stage1" / "best.pt").read_bytes()[:500])
    cases = {tmp_path / "missing.pt": "does not exist", baseline: "not a CAMP stage-1 checkpoint",
             broken: "truncated or corrupt", root / "stage2" / "best.pt": "already a CAMP stage-2"}
    for path, message in cases.items():
        code, err = _cli_stage2(tmp_path, path, capsys)
        assert code == 2 and message in err and err.count("\n") == 1, err
        assert not (tmp_path / "o" / "best.pt").exists()
    with pytest.raises(CheckpointError):
        load_stage1(baseline)


def test_cache_without_syntax_is_a_one_line_error(runs, tmp_path):
    root, items = runs
    flat = [ClipItem(it.id, {**it.arrays, "word_head": np.arange(len(it.arrays["word_pos"]))}) for it in items]
    with pytest.raises(CacheError, match="no syntax features") as err:
        train_stage2(stage2_config(str(root / "stage1" / "best.pt"), 2), tmp_path / "o", progress=False,
                     items=(flat, flat[:2]))
    assert "\n" not in str(err.value) and not (tmp_path / "o" / "best.pt").exists()


def test_bad_stage2_config_lines(tmp_path):
    from synthesis.errors import ConfigError
    from synthesis.training.camp_stage2 import load_stage2_config

    p = tmp_path / "c.toml"
    for text, message in [('[stage2]\nablation = "bert"\n', "ablation must be one of"),
                          ('[predictor]\nwidth = 3\n', "unknown keys width"),
                          ('[stage3]\n', "unknown sections"), ('[loss]\nkl = 1.0\n', "unknown keys kl"),
                          ('[stage2]\nrestore_variance = "yes"\n', "restore_variance must be true or false"),
                          ('[stage2]\ncalibrate = 1\n', "calibrate must be true or false"),
                          ('[stage2]\nensemble = 0\n', "ensemble must be an integer from 1 to 16"),
                          ('[stage2]\nensemble = 2.5\n', "ensemble must be an integer"),
                          ("[stage2\n", "not valid TOML")]:
        p.write_text(text, encoding="utf-8")
        with pytest.raises(ConfigError, match=message):
            load_stage2_config(p)


def test_exported_modes_synthesise_real_text(runs, tmp_path, capsys):
    """export-checkpoint --mode sets the default mode; text-only and oracle synthesis both speak,
    including a one-word sentence and words that gruut splits (James's) or reads as numbers."""
    from synthesis.inference import Synthesizer

    root, _ = runs
    assert main(["export-checkpoint", str(root / "stage2"), "--out", str(tmp_path / "pred")]) == 0
    assert main(["export-checkpoint", str(root / "stage2"), "--out", str(tmp_path / "oracle"), "--mode", "oracle"]) == 0
    assert main(["export-checkpoint", str(root / "stage1"), "--out", str(tmp_path / "s1"), "--mode", "predicted"]) == 2
    assert "needs a stage-2 checkpoint" in capsys.readouterr().err
    pred = Synthesizer.from_checkpoint(tmp_path / "pred" / "model.pt")
    assert pred.describe()["system"] == "camp" and not pred.wants_reference
    out = pred.synthesise_with_details(["Hello.", 'James\'s dog, "Rex", ate 42 apples -- twice!'])
    assert all(d["waveform"].size > 0 for d in out)
    assert len(out[0]["words"]) == 2 and (out[0]["durations"] > 0).all()
    oracle = Synthesizer.from_checkpoint(tmp_path / "oracle" / "model.pt")
    assert oracle.describe()["system"] == "camp-oracle" and oracle.wants_reference
    rec = np.random.default_rng(0).standard_normal(22_050).astype(np.float32) * 0.1
    waves = oracle.synthesise(["One sentence. And a second one."], references=[rec])
    assert waves[0].size > 0


def test_stage1_extracted_from_a_stage2_checkpoint_is_stage1(runs, tmp_path):
    from synthesis.training.camp_stage2 import stage1_from_stage2

    root, _ = runs
    info = stage1_from_stage2(root / "stage2" / "best.pt", tmp_path / "s1.pt")
    assert info["path"] == str(root / "stage2" / "best.pt")
    original = load_checkpoint(root / "stage1" / "best.pt")
    extracted = load_stage1(tmp_path / "s1.pt")
    assert extracted["config"]["model"] == original["config"]["model"]
    assert extracted["state_dict"].keys() == original["state_dict"].keys()
    assert all(torch.equal(v, extracted["state_dict"][k]) for k, v in original["state_dict"].items())
    with pytest.raises(CheckpointError, match="stage-1 checkpoint already"):
        stage1_from_stage2(root / "stage1" / "best.pt", tmp_path / "again.pt")
    assert not (tmp_path / "again.pt").exists()
    # scripts/calibrate_durations.py leaves CAMP's own (stage-2 calibrated) duration model alone
    from synthesis.training.duration_stage import calibrate_checkpoint

    with pytest.raises(CheckpointError, match="calibrated by stage 2 itself"):
        calibrate_checkpoint(root / "stage2" / "best.pt", None, items=([], []))


def test_ensemble_averages_seeded_members_and_fits_on_the_average(runs, tmp_path):
    """[stage2] ensemble = 2: two members from seeds 1234 and 1235, each a single predictor run;
    the combined checkpoint predicts their mean, with gain and calibration fitted on it."""
    from synthesis.inference import Synthesizer
    from synthesis.models.prosody.camp_predictor import CampPredictorEnsemble

    root, items = runs
    cfg = stage2_config(str(root / "stage1" / "best.pt"), 20)
    cfg.ensemble = 2
    result = train_stage2(cfg, tmp_path / "ens", progress=False, items=(items, items[:3]))
    assert result.stopped == "ensemble" and result.step == 40
    best = load_checkpoint(tmp_path / "ens" / "best.pt", "camp")
    assert best["config"]["model"]["prosody_args"]["predictor"]["members"] == 2
    assert [m["step"] for m in best["metrics"]["members"]] == [20, 20]
    members = [load_checkpoint(tmp_path / "ens" / f"member-{m}" / "best.pt")["state_dict"] for m in (0, 1)]
    key = "prosody.predictor.out.weight"
    assert not torch.equal(members[0][key], members[1][key])          # different seeds
    assert torch.equal(best["state_dict"]["prosody.predictor.members.1.out.weight"], members[1][key])
    # the gain is fitted on the averaged prediction, and only the ensemble's own buffer holds it
    gain = best["state_dict"]["prosody.predictor.vector_gain"]
    assert gain.tolist() == pytest.approx(best["metrics"]["vector_gain"]) and bool((gain > 1).any())
    assert torch.equal(best["state_dict"]["prosody.predictor.members.0.vector_gain"], torch.ones_like(gain))
    model = build_stage2_model(load_stage1(root / "stage1" / "best.pt"), cfg)
    model.load_state_dict(best["state_dict"])
    model.eval()
    ens = model.prosody.predictor
    assert isinstance(ens, CampPredictorEnsemble)
    batch = collate([it.arrays for it in items[:3]])
    from synthesis.models.backbone import lengths_to_mask

    pm = lengths_to_mask(batch["phone_lens"], batch["phoneme_ids"].shape[1])
    enc = torch.randn(3, batch["phoneme_ids"].shape[1], TINY["d_model"])
    with torch.no_grad():
        out = ens(batch, enc, pm, model.prosody)
        parts = [m(batch, enc, pm, model.prosody) for m in ens.members]
    torch.testing.assert_close(out["vectors_norm"], (parts[0]["vectors_norm"] + parts[1]["vectors_norm"]) / 2)
    torch.testing.assert_close(out["log_durations"], (parts[0]["log_durations"] + parts[1]["log_durations"]) / 2)
    # resuming a finished ensemble retrains nothing and gives the same file
    again = train_stage2(cfg, tmp_path / "ens", progress=False, items=(items, items[:3]))
    assert again.step == 40
    reloaded = load_checkpoint(tmp_path / "ens" / "best.pt")["state_dict"]
    assert all(torch.equal(reloaded[k], best["state_dict"][k]) for k in best["state_dict"])
    # it exports and speaks like a single predictor
    assert main(["export-checkpoint", str(tmp_path / "ens"), "--out", str(tmp_path / "ens_export")]) == 0
    synth = Synthesizer.from_checkpoint(tmp_path / "ens_export" / "model.pt")
    assert synth.describe()["system"] == "camp" and synth.synthesise(["Hello there."])[0].size > 0


# --- the word-level view ------------------------------------------------------------------------

def test_word_spans_and_measured_word_f0():
    from synthesis.evaluation.word_view import measure_words, word_spans

    # <bos> 4 | word0 2 phonemes 10+10 | "," 6 | word2 12 | <eos> 4 ; token 1 is the comma
    durations = np.array([4, 10, 10, 6, 12, 4])
    word_index = np.array([-1, 0, 0, 1, 2, -1])
    assert word_spans(durations, word_index, 3) == [(4, 24), (24, 30), (30, 42)]
    assert word_spans(np.array([2, 3, 2]), np.array([-1, 1, -1]), 2)[0] == (2, 2)   # a token without phonemes
    sr, hop = 22_050, 256
    t = np.arange(46 * hop) / sr
    f = np.where(t < 24 * hop / sr, 120.0, 200.0)
    wave = (0.3 * np.sin(2 * np.pi * np.cumsum(f) / sr)).astype(np.float32)
    wp = measure_words(wave, durations, word_index, ["low", ",", "high"], [True, False, True], f0_method="dio")
    assert wp.words == ["low", "high"]
    assert wp.duration_s == pytest.approx([20 * hop / sr, 12 * hop / sr])
    assert wp.f0_hz[0] == pytest.approx(120, rel=0.05) and wp.f0_hz[1] == pytest.approx(200, rel=0.05)


def test_word_view_plot_for_a_test_sentence(runs, tmp_path):
    from synthesis.audio.io import load_audio
    from synthesis.corpus import default_corpus_path, load_corpus
    from synthesis.evaluation.systems import EvalItem
    from synthesis.evaluation.word_view import word_view, write_word_view
    from synthesis.inference import Synthesizer

    root, _ = runs
    clip = load_corpus(default_corpus_path()).by_id()["LJ001-0002"]
    item = EvalItem(clip.id, clip.text, load_audio(clip.wav_path))
    systems = {"camp": Synthesizer.from_checkpoint(root / "stage2" / "best.pt"),
               "camp-oracle": Synthesizer.from_checkpoint(root / "stage2" / "best.pt", mode="oracle")}
    table = word_view(systems, [item])
    row = table[clip.id]
    assert set(row) == {"recording", "camp", "camp-oracle"}
    assert row["recording"].words == ["in", "being", "comparatively", "modern"]
    assert sum(row["recording"].duration_s) < len(item.recording) / 22_050
    png, js = write_word_view(table, tmp_path, {clip.id: clip.text})
    assert png.stat().st_size > 10_000 and json.loads(js.read_text())["words"][clip.id]["camp"]["words"]


def test_word_view_command_and_its_errors(runs, tmp_path, capsys):
    root, _ = runs
    ckpt = str(root / "stage2" / "best.pt")
    assert main(["word-view", "--checkpoint", f"camp={ckpt}", "--clip", "LJ001-0002", "--out", str(tmp_path / "v")]) == 0
    assert (tmp_path / "v" / "word_view.png").exists()
    capsys.readouterr()  # MiniLM's loading bar
    for argv, message in [(["--checkpoint", str(tmp_path / "none.pt")], "does not exist"),
                          (["--checkpoint", ckpt, "--clip", "LJ999-9999"], "not in the corpus"),
                          ([], "at least one --checkpoint")]:
        assert main(["word-view", *argv, "--out", str(tmp_path / "w")]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err
    assert not (tmp_path / "w").exists()


def test_cache_files_without_syntax_arrays_are_a_one_line_error(tmp_path):
    """A cache whose text files lack the word arrays (older or foreign format)."""
    from synthesis.features.cache import write_clip, write_json_atomic
    from synthesis.training.camp_stage2 import load_stage2_items

    item = synthetic_items(1)[0]
    text = {k: v for k, v in item.arrays.items() if k not in ("mel", "target", "lf0", "energy") and
            not k.startswith("word_")} | {"word_vectors": item.arrays["word_vectors"]}
    n = len(item.arrays["mel"])
    acoustic = {"log_mel": item.arrays["mel"], "world": np.zeros((n, 64), np.float32), "f0": np.zeros(n, np.float32),
                "voiced": np.zeros(n, bool), "energy": item.arrays["energy"]}
    write_clip(tmp_path, "acoustic", "c1", acoustic, "ha")
    write_clip(tmp_path, "text", "c1", text, "ht")
    write_json_atomic(tmp_path / "manifest.json", {"format_version": 1, "acoustic": {"hash": "ha"},
                                                   "text": {"hash": "ht"}, "clips": {"c1": {}}})
    with pytest.raises(CacheError, match="without syntax features") as err:
        load_stage2_items(tmp_path, ["c1"], "world", {"acoustic": "ha", "text": "ht"})
    assert "\n" not in str(err.value) and str(tmp_path) in str(err.value)


def test_prediction_gain_restores_unit_spread_within_limits():
    from synthesis.models.prosody.camp_predictor import prediction_gain

    rng = np.random.default_rng(0)
    pred = rng.normal(size=(5000, 4)) * np.array([0.5, 1.0, 2.0, 0.01])
    gain = prediction_gain(pred)
    assert np.allclose(gain[:3], [2.0, 1.0, 1.0], atol=0.05)      # shrunk: restored; never shrinks
    assert gain[3] == 3.0                                          # a near-constant dimension: clipped


def test_stage2_fits_the_vector_gain_and_applies_it_to_the_decoder_only(runs):
    from synthesis.models.prosody.camp_predictor import prediction_gain
    from synthesis.training.camp_stage2 import precompute, training_split_predictions

    root, items = runs
    ck = load_checkpoint(root / "stage2" / "best.pt", "camp")
    gain = ck["state_dict"]["prosody.predictor.vector_gain"]
    assert ck["metrics"]["vector_gain"] == pytest.approx(gain.tolist())
    assert _log(root / "stage2")[-1]["vector_gain"] == pytest.approx(gain.tolist())
    model = build_stage2_model(load_stage1(root / "stage1" / "best.pt"), stage2_config("x", 1))
    model.load_state_dict(ck["state_dict"])
    model.eval()
    pre = precompute(model, items, 600, "cpu")
    assert np.allclose(gain.numpy(), prediction_gain(training_split_predictions(model, pre, 64, "cpu")["vectors"].numpy()))
    assert (gain >= 1).all() and (gain > 1).any()                  # the tiny predictor shrinks
    batch = collate([it.arrays for it in items[:3]])
    text_only = {k: v for k, v in batch.items() if k not in ("mel", "target", "lf0", "energy", "frame_lens")}
    restored = model.infer(text_only)
    model.prosody.predictor.vector_gain.fill_(1.0)
    plain = model.infer(text_only)
    pn = model.prosody.predictor
    v_plain, v_restored = (o["prosody_extras"]["word_vectors"] for o in (plain, restored))
    mask = v_plain.abs().sum(-1) > 0
    assert torch.allclose(((v_restored - pn.vector_mean) / pn.vector_std)[mask],
                          (((v_plain - pn.vector_mean) / pn.vector_std) * gain)[mask], atol=1e-4)
    assert torch.equal(plain["durations"], restored["durations"])  # the duration model reads raw predictions
    # the duration calibration: per-symbol offsets on the raw predictions, as the baseline's pass
    bias = ck["state_dict"]["prosody.predictor.duration_bias"]
    assert bias.shape == (64,) and ck["metrics"]["calibration"]["calibrated_symbols"] == int((bias != 0).sum())
    model.prosody.predictor.duration_bias.zero_()
    uncalibrated = model.infer(text_only)
    if (bias != 0).any():
        assert not torch.equal(uncalibrated["durations"], plain["durations"])
    # a stage-2 file from before the gain and the calibration existed loads without either
    old = {k: v for k, v in ck["state_dict"].items()
           if k not in ("prosody.predictor.vector_gain", "prosody.predictor.duration_bias")}
    model.load_state_dict(old)
    assert torch.equal(model.prosody.predictor.vector_gain, torch.ones_like(gain))
    assert torch.equal(model.prosody.predictor.duration_bias, torch.zeros_like(bias))


def test_calibration_offsets_match_each_symbols_recorded_total():
    """CAMP's stage 2 reuses the duration pass's calibration: after it, each (frequent) symbol's
    summed 1 + frames over the training tokens equals the recordings'."""
    from synthesis.training.duration_stage import calibration_offsets

    ids = torch.tensor([5, 5, 5, 7, 7, 7, 9])
    frames = torch.tensor([2.0, 10.0, 3.0, 4.0, 4.0, 4.0, 20.0])
    log_pred = torch.log1p(torch.tensor([3.0, 3.0, 3.0, 4.0, 4.0, 4.0, 1.0]))
    bias = calibration_offsets(ids, frames, log_pred, 16, min_tokens=2)
    for sym in (5, 7):
        sel = ids == sym
        assert torch.isclose(torch.exp(log_pred[sel] + bias[sym]).sum(), (1 + frames[sel]).sum())
    assert bias[7] == 0 and bias[9] == 0                            # already right; too rare
