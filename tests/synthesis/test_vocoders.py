import numpy as np
import pytest

from synthesis.audio.features import log_mel
from synthesis.vocoders import available_vocoders, get_vocoder


def spectral_convergence(ref, est):
    a, b = np.exp(log_mel(ref)), np.exp(log_mel(est))
    return float(np.linalg.norm(a - b) / np.linalg.norm(a))


def test_registry():
    assert available_vocoders() == ["griffinlim", "hifigan", "vocos", "world"]
    with pytest.raises(KeyError, match="unknown vocoder 'hifi'"):
        get_vocoder("hifi")


@pytest.mark.parametrize("name, dim, max_sc", [("griffinlim", 80, 0.25), ("world", 64, 0.35)])
def test_copy_synthesis_shapes_and_fidelity(short_wave, name, dim, max_sc):
    voc = get_vocoder(name)
    feats = voc.analyse(short_wave)
    assert feats.shape == (len(short_wave) // 256, dim) and feats.dtype == np.float32
    wave = voc.synthesise(feats)
    assert wave.shape == (feats.shape[0] * 256,)
    copy = voc.copy_synthesis([short_wave])[0]
    assert copy.shape == short_wave.shape
    assert spectral_convergence(short_wave, copy) < max_sc


def test_griffinlim_is_deterministic_and_batched(short_wave):
    voc = get_vocoder("griffinlim")
    f = voc.analyse(short_wave)
    a = voc.synthesise(f)
    np.testing.assert_array_equal(a, voc.synthesise(f))
    b, c = voc.synthesise_batch([f, f[:50]])
    assert c.shape == (50 * 256,)
    # batched FFTs round differently and padding touches the last overlap-add: near-identical
    assert np.corrcoef(a, b)[0, 1] > 0.9999
    assert np.corrcoef(c, voc.synthesise(f[:50]))[0, 1] > 0.999


def test_world_feature_layout(short_wave):
    voc = get_vocoder("world")
    mcep, lf0, voiced, ap = voc.split(voc.analyse(short_wave))
    assert mcep.shape[1] == 60 and ap.shape[1] == 2
    assert set(np.unique(voiced)) <= {0.0, 1.0} and voiced.mean() > 0.3
    f0 = np.exp(lf0[voiced > 0])
    assert 120 < np.median(f0) < 300  # LJSpeech speaker


def test_wrong_feature_shape_is_refused():
    with pytest.raises(ValueError, match=r"expects \[T, 80\] features"):
        get_vocoder("griffinlim").synthesise(np.zeros((10, 64), np.float32))
    with pytest.raises(ValueError, match=r"expects \[T, 64\] features"):
        get_vocoder("world").synthesise(np.zeros((10, 80), np.float32))


@pytest.mark.parametrize("n_frames", [1, 7, 130])
def test_griffinlim_frame_transform_matches_torch(n_frames):
    """The unfold/overlap-add STFT used by Griffin-Lim gives torch.stft/istft's numbers."""
    import torch

    from synthesis.vocoders.griffinlim import _FrameTransform

    n_fft, hop = 1024, 256
    n = (n_frames - 1) * hop
    if n < n_fft // 2 + 1:  # reflect padding needs more samples than half a frame
        n = n_fft
        n_frames = n // hop + 1
    x = torch.randn(2, n, generator=torch.Generator().manual_seed(0))
    window = torch.hann_window(n_fft)
    fast = _FrameTransform(n_fft, hop, n_fft, n_frames, n)
    ref_spec = torch.stft(x, n_fft, hop, n_fft, window, center=True, return_complex=True)
    spec = fast.forward(x)
    assert spec.shape == (2, n_frames, n_fft // 2 + 1)
    assert torch.allclose(spec, ref_spec.transpose(1, 2), atol=1e-4)
    ref_wave = torch.istft(ref_spec, n_fft, hop, n_fft, window, center=True, length=n)
    assert torch.allclose(fast.inverse(spec), ref_wave, atol=1e-5)


def test_world_bounds_wild_features_without_touching_speech(short_wave):
    """A diverged model's features (huge cepstra, absurd log-F0) vocode to finite audio; the
    bounds never bind on real speech, so copy synthesis is bit-identical with or without them."""
    import synthesis.vocoders.world as world

    voc = get_vocoder("world")
    feats = voc.analyse(short_wave)
    wild = feats.copy()
    wild[:, :60] *= 40.0
    wild[:, 60] = 30.0                  # exp(30) Hz
    wild[:, 61] = 1.0
    with np.errstate(all="raise"):
        out = voc.synthesise(wild)
    assert np.isfinite(out).all()
    bounded = voc.synthesise(feats)
    unbounded = world.LOG_SPECTRUM_RANGE, world.F0_RANGE_HZ
    try:
        world.LOG_SPECTRUM_RANGE, world.F0_RANGE_HZ = (-np.inf, np.inf), (1e-3, np.inf)
        np.testing.assert_array_equal(bounded, voc.synthesise(feats))
    finally:
        world.LOG_SPECTRUM_RANGE, world.F0_RANGE_HZ = unbounded
