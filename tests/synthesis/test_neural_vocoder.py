"""The neural vocoders: Vocos-style generator, its training command and export, HiFi-GAN loading."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from synthesis.audio.features import DEFAULT_FEATURES, _frames, log_mel
from synthesis.cli import main
from synthesis.corpus import Split, save_split
from synthesis.training.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from synthesis.vocoders import available_vocoders, get_vocoder, neural
from synthesis.vocoders.networks import (
    HiFiGANConfig,
    HiFiGANGenerator,
    LogMel,
    VocosConfig,
    VocosGenerator,
    istft,
)

REPO = Path(__file__).resolve().parents[2]
TINY = VocosConfig(dim=32, intermediate=64, layers=2)
TRAIN_IDS = ["LJ002-0020", "LJ002-0035", "LJ001-0008"]
VAL_IDS = ["LJ001-0002"]


def save_vocos(path, cfg=TINY, features=DEFAULT_FEATURES, step=7, system="vocos"):
    torch.manual_seed(0)
    gen = VocosGenerator(cfg, features)
    save_checkpoint(path, {"system": system, "config": {"generator": cfg.to_dict()},
                           "features": features.to_dict(), "state_dict": gen.state_dict(), "step": step})
    return gen


def mel_distance_by_lag(ref: np.ndarray, est: np.ndarray, lags) -> np.ndarray:
    """Log-mel L1 between ``ref`` and ``est`` advanced by each lag (positive: ``est`` is late).

    Phase-blind, so it measures where a vocoder puts each frame's energy even when its
    waveform does not correlate sample by sample with the recording.
    """
    target = log_mel(ref)[4:-4]
    return np.array([np.mean(np.abs(log_mel(np.roll(est, -k))[4:-4] - target)) for k in lags])


# ---------------------------------------------------------------------------------------------
# Registry, geometry, generator


def test_registry_lists_neural_vocoders_without_importing_torch():
    assert {"vocos", "hifigan"} <= set(available_vocoders())
    code = ("import sys; from synthesis.vocoders import available_vocoders; available_vocoders(); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_istft_inverts_the_log_mel_analysis_sample_exactly(short_wave):
    # The head's overlap-add puts frame i where log_mel's frame i came from: aligned output.
    cfg = DEFAULT_FEATURES
    t = len(short_wave) // cfg.hop_length
    window = np.hanning(cfg.win_length + 1)[:-1].astype(np.float32)
    spec = np.fft.rfft(_frames(short_wave, cfg) * window, n=cfg.n_fft, axis=1).T
    y = istft(torch.from_numpy(spec.astype(np.complex64))[None])[0].numpy()
    assert y.shape == (t * cfg.hop_length,)
    np.testing.assert_allclose(y, short_wave[: t * cfg.hop_length], atol=1e-5)


def test_torch_log_mel_matches_the_front_end(short_wave):
    ours = LogMel()(torch.from_numpy(short_wave)[None])[0].numpy().T
    ref = log_mel(short_wave)
    assert ours.shape == ref.shape
    assert np.mean(np.abs(ours - ref)) < 1e-3 and np.max(np.abs(ours - ref)) < 0.05


def test_generator_output_length_is_frames_times_hop():
    gen = VocosGenerator(TINY)
    for t in (1, 5, 37):
        assert gen(torch.zeros(2, 80, t)).shape == (2, t * 256)


# ---------------------------------------------------------------------------------------------
# The vocos vocoder


def test_vocos_vocoder_shapes_and_provenance(tmp_path, short_wave):
    path = tmp_path / "model.pt"
    save_vocos(path)
    voc = get_vocoder("vocos", checkpoint=path)
    feats = voc.analyse(short_wave)
    assert feats.shape == (len(short_wave) // 256, 80)
    a, b = voc.synthesise_batch([feats, feats[:20]])
    assert a.shape == (feats.shape[0] * 256,) and b.shape == (20 * 256,) and a.dtype == np.float32
    np.testing.assert_array_equal(a, voc.synthesise(feats))  # same alone or in a batch
    assert voc.copy_synthesis([short_wave])[0].shape == short_wave.shape
    info = voc.describe()
    assert info["name"] == "vocos" and info["feature_kind"] == "log_mel" and info["step"] == 7
    assert info["checkpoint_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_vocos_refuses_wrong_features_and_other_mel_settings(tmp_path):
    save_vocos(tmp_path / "ok.pt")
    voc = get_vocoder("vocos", checkpoint=tmp_path / "ok.pt")
    with pytest.raises(ValueError, match=r"vocos vocoder expects \[T, 80\] features, got \[10, 64\]"):
        voc.synthesise(np.zeros((10, 64), np.float32))
    save_vocos(tmp_path / "mel64.pt", features=replace(DEFAULT_FEATURES, n_mels=64))
    with pytest.raises(CheckpointError, match=r"mel64.pt: a vocoder for other mel settings: n_mels 64 \(here 80\)"):
        get_vocoder("vocos", checkpoint=tmp_path / "mel64.pt")
    save_vocos(tmp_path / "sr.pt", features=replace(DEFAULT_FEATURES, sample_rate=24_000, fmax=12_000.0))
    with pytest.raises(CheckpointError, match="sample_rate 24000 .here 22050., fmax 12000.0"):
        get_vocoder("vocos", checkpoint=tmp_path / "sr.pt")
    save_vocos(tmp_path / "tts.pt", system="baseline")
    with pytest.raises(CheckpointError, match="system 'baseline', expected 'vocos'"):
        get_vocoder("vocos", checkpoint=tmp_path / "tts.pt")


def test_vocos_default_weights_env_override_and_missing_weights(tmp_path, monkeypatch):
    monkeypatch.delenv(neural.VOCOS_ENV, raising=False)
    monkeypatch.setattr(neural, "DEFAULT_CHECKPOINT", tmp_path / "checkpoints" / "vocoder" / "model.pt")
    with pytest.raises(CheckpointError) as err:
        get_vocoder("vocos")
    msg = str(err.value)
    assert "\n" not in msg and "checkpoints/vocoder/model.pt: no vocos vocoder weights" in msg
    assert "synthesis train-vocoder" in msg and neural.VOCOS_ENV in msg
    save_vocos(tmp_path / "elsewhere.pt")
    monkeypatch.setenv(neural.VOCOS_ENV, str(tmp_path / "elsewhere.pt"))
    assert get_vocoder("vocos").describe()["checkpoint"] == str(tmp_path / "elsewhere.pt")
    assert neural.DEFAULT_CHECKPOINT.name == "model.pt"


# ---------------------------------------------------------------------------------------------
# External HiFi-GAN generators


def hifigan_files(tmp_path, resblock="1", new_style=False, **config_overrides):
    """A tiny HiFi-GAN generator saved as the original code saves it (weight norm, "generator")."""
    config = {"resblock": resblock, "num_gpus": 0, "batch_size": 16, "learning_rate": 0.0002,
              "upsample_rates": [8, 8, 4], "upsample_kernel_sizes": [16, 16, 8],
              "upsample_initial_channel": 16, "resblock_kernel_sizes": [3, 5],
              "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5]] if resblock == "1" else [[1, 3], [1, 3]],
              "segment_size": 8192, "num_mels": 80, "num_freq": 1025, "n_fft": 1024, "hop_size": 256,
              "win_size": 1024, "sampling_rate": 22050, "fmin": 0, "fmax": 8000, "fmax_for_loss": None}
    config.update(config_overrides)
    torch.manual_seed(1)
    ref = HiFiGANGenerator(HiFiGANConfig(**{k: config[k] for k in HiFiGANConfig.KEYS})).eval()
    if new_style:
        wn = HiFiGANGenerator(ref.cfg)
        wn.load_state_dict(ref.state_dict())
        for m in wn.modules():
            if isinstance(m, (torch.nn.Conv1d, torch.nn.ConvTranspose1d)):
                torch.nn.utils.parametrizations.weight_norm(m)
        state = wn.state_dict()
    else:
        state = {}
        for k, v in ref.state_dict().items():
            if k.endswith(".weight"):  # w = g * v / ||v||, with ||v|| over every dim but the first
                scale = torch.rand((v.shape[0],) + (1,) * (v.dim() - 1)) + 0.5
                state[k[:-len("weight")] + "weight_v"] = v * scale
                state[k[:-len("weight")] + "weight_g"] = v.norm(dim=tuple(range(1, v.dim())), keepdim=True)
            else:
                state[k] = v
    gen_path = tmp_path / "g_02500000"
    torch.save({"generator": state}, gen_path)
    (tmp_path / "config.json").write_text(json.dumps(config))
    return gen_path, ref, state


@pytest.mark.parametrize("resblock, new_style", [("1", False), ("2", False), ("1", True)])
def test_hifigan_checkpoint_round_trip(tmp_path, short_wave, resblock, new_style):
    path, ref, state = hifigan_files(tmp_path, resblock, new_style)
    if not new_style:  # the original code's parameter names
        names = {"conv_pre.weight_g", "conv_pre.weight_v", "ups.0.weight_g", "ups.2.bias", "conv_post.weight_v"}
        names |= {"resblocks.0.convs1.2.weight_g", "resblocks.5.convs2.0.bias"} if resblock == "1" else \
                 {"resblocks.0.convs.1.weight_g", "resblocks.5.convs.0.bias"}
        assert names <= set(state)
    voc = get_vocoder("hifigan", checkpoint=path)
    feats = voc.analyse(short_wave)[:40]
    wave = voc.synthesise(feats)
    assert wave.shape == (40 * 256,)
    with torch.no_grad():
        expected = ref(torch.from_numpy(feats.T.copy())[None])[0].numpy()
    np.testing.assert_allclose(wave, expected, atol=1e-5)
    info = voc.describe()
    assert info["name"] == "hifigan" and info["checkpoint_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert info["generator"]["upsample_rates"] == [8, 8, 4]


def test_hifigan_errors_are_one_line(tmp_path, monkeypatch):
    monkeypatch.delenv(neural.HIFIGAN_ENV, raising=False)
    monkeypatch.delenv(neural.HIFIGAN_CONFIG_ENV, raising=False)
    with pytest.raises(CheckpointError, match=f"needs an external HiFi-GAN generator file: set {neural.HIFIGAN_ENV}"):
        get_vocoder("hifigan")
    cases = [({"num_mels": 100}, r"other mel settings: n_mels 100 \(here 80\)"),
             ({"sampling_rate": 24000, "hop_size": 300}, r"sample_rate 24000 \(here 22050\), hop_length 300"),
             ({"fmax": None}, r"fmax None \(here 8000.0\)"),
             ({"upsample_rates": [8, 8, 2]}, r"multiply to 128, not the hop length 256"),
             ({"upsample_initial_channel": 32}, "does not fit .*config.json"),
             ({"resblock": "3"}, "resblock must be")]
    for i, (override, message) in enumerate(cases):
        folder = tmp_path / str(i)
        folder.mkdir()
        path, _, _ = hifigan_files(folder)
        data = json.loads((folder / "config.json").read_text())
        data.update(override)
        (folder / "config.json").write_text(json.dumps(data))
        with pytest.raises(CheckpointError, match=message) as err:
            get_vocoder("hifigan", checkpoint=path)
        assert "\n" not in str(err.value)
    path, _, _ = hifigan_files(tmp_path)
    garbage = tmp_path / "garbage" / "g_00000001"
    garbage.parent.mkdir()
    garbage.write_bytes(b"not a torch file")
    (garbage.parent / "config.json").write_text((tmp_path / "config.json").read_text())
    with pytest.raises(CheckpointError, match="g_00000001: not a readable torch file"):
        get_vocoder("hifigan", checkpoint=garbage)
    (tmp_path / "config.json").unlink()
    monkeypatch.setenv(neural.HIFIGAN_ENV, str(path))
    with pytest.raises(CheckpointError, match="config.json missing"):
        get_vocoder("hifigan")


# ---------------------------------------------------------------------------------------------
# train-vocoder and export-vocoder through the real CLI


TINY_TOML = """
[generator]
dim = 32
intermediate = 64
layers = 2

[discriminator]
periods = [2, 3]
mpd_channels = [4, 8]
resolutions = [[512, 128, 512]]
mrd_channels = 4

[train]
corpus = "{corpus}"
split = "{split}"
segment_frames = 16
batch_size = 4
lr = 0.003
d_lr = 0.001
warmup_steps = 5
lr_decay_steps = 100
max_steps = 100
adv_start = 20
eval_every = 15
log_every = 1
threads = 1

[loss]
stft_resolutions = [[512, 128, 512], [1024, 256, 1024]]
"""


@pytest.fixture
def tiny_config(tmp_path, corpus_root):
    split = tmp_path / "split.json"
    save_split(Split("ljspeech-mini", "test", 0, tuple(TRAIN_IDS), tuple(VAL_IDS), ()), split)
    path = tmp_path / "vocoder.toml"
    path.write_text(TINY_TOML.format(corpus=corpus_root, split=split))
    return path


def train_log(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_train_vocoder_cli_learns_resumes_and_exports(tmp_path, tiny_config, short_wave, capsys):
    run = tmp_path / "run"
    assert main(["train-vocoder", "--config", str(tiny_config), "--out", str(run), "--max-steps", "30",
                 "--quiet"]) == 0
    assert "vocoder: 30 steps" in capsys.readouterr().out
    for name in ("config.toml", "last.pt", "best.pt", "metrics.jsonl"):
        assert (run / name).exists()
    log = train_log(run)
    mel = [r["mel"] for r in log if r["split"] == "train"]
    assert np.mean(mel[-10:]) < 0.85 * np.mean(mel[:5])

    def mel_error(voc):  # on the held-out clip, against an untrained generator of the same size
        return float(np.mean(np.abs(log_mel(voc.copy_synthesis([short_wave])[0]) - log_mel(short_wave))))

    save_vocos(tmp_path / "untrained.pt")
    trained = mel_error(get_vocoder("vocos", checkpoint=run / "last.pt"))
    assert trained < 0.8 * mel_error(get_vocoder("vocos", checkpoint=tmp_path / "untrained.pt"))
    assert any("adv" in r for r in log if r["split"] == "train")  # the discriminators joined at step 20
    assert [r["step"] for r in log if r["split"] == "validation"] == [15, 30]
    assert load_checkpoint(run / "last.pt")["step"] == 30
    assert load_checkpoint(run / "best.pt")["step"] == 30  # best among adversarially trained steps

    # Resume from last.pt: same weights as an unbroken run of 40 steps.
    assert main(["train-vocoder", "--config", str(tiny_config), "--out", str(run), "--max-steps", "40",
                 "--quiet"]) == 0
    steps = [r["step"] for r in train_log(run) if r["split"] == "train"]
    assert steps[30] == 31 and steps[-1] == 40
    straight = tmp_path / "straight"
    assert main(["train-vocoder", "--config", str(tiny_config), "--out", str(straight), "--max-steps", "40",
                 "--quiet"]) == 0
    a, b = load_checkpoint(run / "last.pt"), load_checkpoint(straight / "last.pt")
    assert a["step"] == b["step"] == 40
    for k, v in a["state_dict"].items():
        assert torch.equal(v, b["state_dict"][k]), k
    from synthesis.training.vocoder import load_vocoder_config

    assert load_vocoder_config(run / "config.toml").generator == TINY

    # Export: the generator alone, in float16, loadable as the vocos vocoder.
    assert main(["export-vocoder", str(run), "--out", str(tmp_path / "export")]) == 0
    exported = load_checkpoint(tmp_path / "export" / "model.pt", "vocos")
    assert all(not k.startswith(("generator.", "discriminators.")) for k in exported["state_dict"])
    assert all(v.dtype == torch.float16 for v in exported["state_dict"].values() if v.is_floating_point())
    assert (tmp_path / "export" / "metrics.json").exists() and (tmp_path / "export" / "config.toml").exists()
    voc = get_vocoder("vocos", checkpoint=tmp_path / "export" / "model.pt")
    assert voc.describe()["step"] == exported["step"]
    assert voc.copy_synthesis([short_wave])[0].shape == short_wave.shape

    # Another generator in the same run folder is refused.
    other = tiny_config.read_text().replace("dim = 32", "dim = 48")
    (tmp_path / "other.toml").write_text(other)
    assert main(["train-vocoder", "--config", str(tmp_path / "other.toml"), "--out", str(run), "--quiet"]) == 2
    assert "another generator or discriminator config" in capsys.readouterr().err


def test_training_pairs_are_aligned(corpus):
    from synthesis.training.vocoder import load_clips, sample_batch

    clips = load_clips([(i, corpus.by_id()[i].wav_path) for i in TRAIN_IDS], DEFAULT_FEATURES)
    mels, waves = sample_batch(clips, 24, 6, np.random.default_rng(0), 256)
    assert mels.shape == (6, 80, 24) and waves.shape == (6, 24 * 256)
    for mel, wave in zip(mels, waves):
        # interior frames: the segment's own reflect padding changes only the edge frames
        np.testing.assert_allclose(log_mel(wave)[2:-2], mel.T[2:-2], atol=0.02)


def test_trained_vocoder_output_is_time_aligned(tmp_path, tiny_config, corpus):
    """A short fit: the output matches the recording best with no shift (a half-hop or a
    one-frame misalignment would put the best lag at 128 or 256 samples)."""
    from synthesis.audio.io import load_audio

    text = tiny_config.read_text().replace("adv_start = 20", "adv_start = 1000")
    text = text.replace("dim = 32", "dim = 64").replace("segment_frames = 16", "segment_frames = 48")
    path = tmp_path / "align.toml"
    path.write_text(text)
    run = tmp_path / "run"
    assert main(["train-vocoder", "--config", str(path), "--out", str(run), "--max-steps", "150",
                 "--quiet"]) == 0
    voc = get_vocoder("vocos", checkpoint=run / "last.pt")
    lags = np.arange(-256, 257, 16)
    total = 0.0
    for cid in TRAIN_IDS + VAL_IDS:
        wave = load_audio(corpus.by_id()[cid].wav_path)
        total = total + mel_distance_by_lag(wave, voc.copy_synthesis([wave])[0], lags)
    assert abs(lags[int(np.argmin(total))]) <= 48


def test_shipped_configs_parse():
    from synthesis.training.vocoder import load_vocoder_config

    for name in ("vocoder_cpu", "vocoder_gpu"):
        cfg = load_vocoder_config(REPO / "configs" / f"{name}.toml")
        assert cfg.generator == VocosConfig()  # one architecture: either run gives the committed weights
        assert 0 < cfg.train.adv_start < cfg.train.max_steps


@pytest.mark.parametrize("edit, message", [
    ("[generator]\nwidth = 3\n", r"\[generator\] unknown keys width"),
    ("[train]\nlr = \"fast\"\n", r"\[train\] lr must be a number, got 'fast'"),
    ("[loss]\nadv_kind = \"wgan\"\n", "adv_kind must be"),
    ("[extra]\n", "unknown sections extra"),
    ("[train\n", "not valid TOML"),
])
def test_train_vocoder_bad_config_is_one_line_exit_2(tmp_path, capsys, edit, message):
    path = tmp_path / "bad.toml"
    path.write_text(edit)
    assert main(["train-vocoder", "--config", str(path), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("synthesis: error: ")
    assert __import__("re").search(message, err)
    assert not (tmp_path / "run").exists()


def test_missing_config_and_missing_run_are_one_line_errors(tmp_path, capsys):
    assert main(["train-vocoder", "--config", str(tmp_path / "none.toml"), "--out", str(tmp_path / "r")]) == 2
    assert "config file does not exist" in capsys.readouterr().err
    assert main(["export-vocoder", str(tmp_path / "norun"), "--out", str(tmp_path / "x")]) == 2
    assert "best.pt: checkpoint file does not exist" in capsys.readouterr().err
    if not torch.cuda.is_available():
        assert main(["train-vocoder", "--config", str(REPO / "configs" / "vocoder_cpu.toml"),
                     "--out", str(tmp_path / "r"), "--device", "cuda"]) == 2
        assert "no CUDA device is available" in capsys.readouterr().err
        assert not (tmp_path / "r").exists()


@pytest.mark.skipif(not neural.DEFAULT_CHECKPOINT.is_file(), reason="no committed vocoder weights")
def test_committed_weights_copy_a_held_out_clip(corpus):
    """The committed `vocos` weights on a test-split clip: the recording's length, and a log-mel
    L1 to the recording near the training run's validation value (0.28); weights that do not
    fit, or a shifted output, land far above it."""
    from synthesis.audio.features import log_mel
    from synthesis.audio.io import load_audio

    wave = load_audio(corpus.by_id()["LJ001-0008"].wav_path)  # test split
    vocos = get_vocoder("vocos")
    assert vocos.describe()["checkpoint"] == str(neural.DEFAULT_CHECKPOINT)
    out = vocos.copy_synthesis([wave])[0]
    assert len(out) == len(wave)
    assert float(np.abs(log_mel(out) - log_mel(wave)).mean()) < 0.4
