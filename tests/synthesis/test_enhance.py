"""Spectral enhancement of predicted features (global variance + mel-cepstral postfilter):
variance reaches its target, frame energy is kept, only the spectral envelope changes, and
the Synthesizer applies it only where the checkpoint records the training GV."""

import numpy as np
import pytest

from synthesis.features.enhance import (
    Enhancement,
    enhance_features,
    postfilter_mcep,
    scale_variance,
    spectral_dims,
    utterance_variance,
)
from tests.synthesis.test_synthesize import checkpoint  # noqa: F401  (module fixture)


@pytest.fixture(scope="module")
def world_setup(short_wave):
    from synthesis.features.acoustic import AcousticConfig
    from synthesis.vocoders.world import mcep_matrices

    voc = AcousticConfig().vocoder("world")
    feats = voc.analyse(short_wave).astype(np.float64)
    _, to_log_sp = mcep_matrices(voc.fft_size, voc.n_mcep, voc.alpha)
    return voc, feats, to_log_sp


def _smoothed(feats: np.ndarray, width: int = 9) -> np.ndarray:
    """What an over-smoothing model does: a moving average over time of every column."""
    kernel = np.ones(width) / width
    pad = np.pad(feats, ((width // 2, width // 2), (0, 0)), mode="edge")
    return np.stack([np.convolve(pad[:, d], kernel, mode="valid") for d in range(feats.shape[1])], 1)


def test_scale_variance_reaches_the_target_and_keeps_the_mean():
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 0.5, size=(200, 4))
    x[:, 3] = 1.0                                    # a constant column cannot be stretched
    target = np.array([1.0, 0.25, 0.0, 2.0])         # 0: unknown, left alone
    y = scale_variance(x, target, 1.0)
    np.testing.assert_allclose(y.mean(0), x.mean(0), atol=1e-12)
    np.testing.assert_allclose(y.var(0)[:2], target[:2], rtol=1e-9)
    np.testing.assert_array_equal(y[:, 2:], x[:, 2:])
    half = scale_variance(x, target, 0.5)            # geometric midpoint of the variances
    np.testing.assert_allclose(half.var(0)[0], np.sqrt(x.var(0)[0] * 1.0), rtol=1e-9)
    np.testing.assert_array_equal(scale_variance(x, target, 0.0), x)
    # a nearly constant column (an untrained model) is stretched by at most max_scale
    flat = np.column_stack([np.linspace(0, 1e-3, 100)])
    np.testing.assert_allclose(scale_variance(flat, np.array([1.0]), 1.0, max_scale=8.0).std(), 8 * flat.std())


def test_postfilter_keeps_energy_and_deepens_spectral_valleys(world_setup):
    _, feats, to_log_sp = world_setup
    mcep = feats[:, :60]
    sharp = postfilter_mcep(mcep, 1.4, to_log_sp)
    energy = np.exp(mcep @ to_log_sp).sum(1)
    np.testing.assert_allclose(np.exp(sharp @ to_log_sp).sum(1), energy, rtol=1e-6)
    # formant enhancement: the log spectrum's spread within a frame grows
    assert np.median((sharp @ to_log_sp).std(1) / (mcep @ to_log_sp).std(1)) > 1.1
    np.testing.assert_array_equal(postfilter_mcep(mcep, 1.0, to_log_sp), mcep)


def test_enhancement_undoes_smoothing_of_the_envelope_only(world_setup):
    _, feats, to_log_sp = world_setup
    gv = utterance_variance([feats])
    smooth = _smoothed(feats)
    out = enhance_features(smooth, "world", gv, Enhancement(1.0, 1.0), to_log_sp)
    dims = spectral_dims("world", 64)
    np.testing.assert_allclose(out[:, dims].var(0), gv[dims], rtol=1e-3)
    np.testing.assert_array_equal(out[:, 60:], smooth[:, 60:].astype(np.float32))  # F0, voicing, aperiodicity
    np.testing.assert_allclose(out[:, 0], smooth[:, 0], rtol=1e-6)                 # c0 (loudness) untouched by GV
    # closer to the recording than the smoothed input, in mel-cepstral distance
    err_in, err_out = (np.abs(x[:, dims] - feats[:, dims]).mean() for x in (smooth, out))
    assert err_out < 1.5 * err_in                    # stretching adds no large error ...
    assert out[:, dims].var(0).sum() > 1.5 * smooth[:, dims].var(0).sum()  # ... and restores the movement
    # log-mel: every band counts as envelope, and there is no postfilter
    mel = np.random.default_rng(1).normal(size=(50, 80))
    mel_out = enhance_features(_smoothed(mel, 5), "log_mel", np.ones(80), Enhancement())
    np.testing.assert_allclose(mel_out.var(0), np.ones(80), rtol=1e-3)


def test_no_recorded_gv_or_off_leaves_features_alone(world_setup):
    _, feats, to_log_sp = world_setup
    off = enhance_features(feats, "world", utterance_variance([feats]), Enhancement.off(), to_log_sp)
    np.testing.assert_array_equal(off, feats.astype(np.float32))
    no_gv = enhance_features(feats, "world", np.zeros(64), Enhancement(1.0, 1.0), to_log_sp)
    np.testing.assert_array_equal(no_gv, feats.astype(np.float32))
    with pytest.raises(ValueError, match="postfilter"):
        enhance_features(feats, "world", None, Enhancement(0.0, 1.2))
    with pytest.raises(ValueError, match="feature kind"):
        enhance_features(feats, "linear", None, Enhancement())


@pytest.mark.parametrize("kwargs", [{"gv_strength": -0.1}, {"gv_strength": 3.0}, {"postfilter_beta": 0.9},
                                    {"postfilter_beta": 2.5}, {"max_gv_scale": 0.5}])
def test_enhancement_settings_are_checked(kwargs):
    with pytest.raises(ValueError):
        Enhancement(**kwargs)


def test_synthesizer_enhances_only_with_a_recorded_gv(checkpoint, tmp_path):  # noqa: F811
    import torch

    from synthesis.inference import Synthesizer
    from synthesis.training.checkpoint import load_checkpoint, save_checkpoint

    text = ["The committee met in the morning."]
    plain = Synthesizer.from_checkpoint(checkpoint)
    assert plain.describe()["enhancement"]["gv_recorded"] is False
    ck = load_checkpoint(checkpoint)
    ck["state_dict"]["target_gv"] = torch.full((64,), 0.05)
    stamped = tmp_path / "gv.pt"
    save_checkpoint(stamped, {k: v for k, v in ck.items() if k not in ("format", "format_version")})
    synth = Synthesizer.from_checkpoint(stamped)
    raw = Synthesizer.from_checkpoint(stamped, enhancement=Enhancement.off())
    assert synth.describe()["enhancement"] == {"gv_strength": 1.0, "postfilter_beta": 1.4, "max_gv_scale": 32.0,
                                                   "adversarial": True, "gv_recorded": True,
                                                   "adversarial_postfilter": False}  # this file has none
    a, b = synth.synthesise_with_details(text)[0], raw.synthesise_with_details(text)[0]
    assert a["features"].shape == b["features"].shape
    assert not np.allclose(a["features"][:, :60], b["features"][:, :60])
    np.testing.assert_array_equal(a["features"][:, 60:], b["features"][:, 60:])
    assert np.isfinite(a["waveform"]).all() and np.abs(a["waveform"]).max() <= 1.0
