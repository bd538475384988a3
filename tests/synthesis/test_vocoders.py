import numpy as np
import pytest

from synthesis.audio.features import log_mel
from synthesis.vocoders import available_vocoders, get_vocoder


def spectral_convergence(ref, est):
    a, b = np.exp(log_mel(ref)), np.exp(log_mel(est))
    return float(np.linalg.norm(a - b) / np.linalg.norm(a))


def test_registry():
    assert available_vocoders() == ["griffinlim", "world"]
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
