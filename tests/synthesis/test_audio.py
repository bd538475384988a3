import numpy as np
import pytest
from scipy.signal import welch

from synthesis.audio.anchors import lowpass_anchor
from synthesis.audio.features import DEFAULT_FEATURES, frame_energy, log_mel, mel_filterbank, pitch
from synthesis.audio.io import load_audio, write_wav
from synthesis.audio.loudness import align_loudness, measure_lufs, true_peak_dbfs
from synthesis.audio.trim import apply_bounds, silence_bounds
from synthesis.errors import AudioError

from .conftest import white_noise, write

SR = 22_050


def sine(freq, seconds=1.0, amp=0.3, sr=SR):
    t = np.arange(int(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def harmonic_tone(freq, seconds=1.0, sr=SR):
    """A voice-like tone: 14 harmonics falling off as 1/k (Harvest ignores a pure sine)."""
    t = np.arange(int(seconds * sr)) / sr
    return sum((0.3 / k) * np.sin(2 * np.pi * freq * k * t) for k in range(1, 15)).astype(np.float32)


def test_log_mel_matches_librosa(short_wave):
    import librosa

    pad = (1024 - 256) // 2
    ref = librosa.feature.melspectrogram(
        y=np.pad(short_wave, (pad, pad), mode="reflect"), sr=SR, n_fft=1024, hop_length=256, win_length=1024,
        center=False, power=1.0, n_mels=80, fmin=0.0, fmax=8000.0)
    ours = log_mel(short_wave)
    assert ours.shape == (len(short_wave) // 256, 80)
    np.testing.assert_allclose(ours, np.log(np.maximum(ref, 1e-5)).T, rtol=1e-4, atol=5e-4)
    np.testing.assert_allclose(mel_filterbank(), librosa.filters.mel(sr=SR, n_fft=1024, n_mels=80, fmax=8000))
    assert ours.min() >= np.log(1e-5) - 1e-6


@pytest.mark.parametrize("method", ["harvest", "dio"])
def test_pitch_of_a_sine_and_of_silence(method):
    wave = np.concatenate([harmonic_tone(220.0, 1.0), np.zeros(SR // 2, np.float32)])
    f0, voiced = pitch(wave, method=method)
    assert f0.shape == voiced.shape == (len(wave) // 256,)
    mid = slice(10, 70)
    assert voiced[mid].all()
    assert np.median(f0[mid]) == pytest.approx(220.0, rel=0.01)
    assert not voiced[-20:].any() and (f0[~voiced] == 0).all()


def test_energy_follows_gain():
    quiet, loud = frame_energy(sine(300, amp=0.05)), frame_energy(sine(300, amp=0.5))
    assert np.median(loud - quiet) == pytest.approx(20.0, abs=0.1)
    # a full-scale sine has RMS 1/sqrt(2): -3 dB
    assert np.median(frame_energy(sine(300, amp=1.0))) == pytest.approx(-3.01, abs=0.1)


@pytest.mark.parametrize("cutoff", [3500.0, 7000.0])
def test_anchor_on_white_noise(cutoff):
    noise = white_noise(10.0)
    out = lowpass_anchor(noise, SR, cutoff)
    assert out.shape == noise.shape
    f, p_in = welch(noise, SR, nperseg=8192)
    _, p_out = welch(out, SR, nperseg=8192)
    passband = f <= cutoff
    stopband = f >= cutoff + 500
    gain_db = 10 * np.log10(p_out[passband][1:] / p_in[passband][1:])
    assert np.abs(gain_db).max() < 0.5, "passband must stay within 0.5 dB"
    ratio_db = 10 * np.log10(p_out[stopband].sum() / p_out[passband].sum())
    assert ratio_db < -60.0, f"stopband only {ratio_db:.1f} dB below the passband"


def test_anchor_is_sample_aligned(short_wave):
    out = lowpass_anchor(short_wave, SR, 7000.0)
    xc = np.correlate(out[2000:4000], short_wave[1990:4010], mode="valid")
    assert int(np.argmax(xc)) == 10  # zero lag: linear phase, delay compensated


def test_loudness_alignment_hits_target_without_clipping():
    a, b = sine(440, 2.0, 0.01), white_noise(2.0, seed=3)
    out, common = align_loudness([a, b], SR, target_lufs=-23.0, peak_dbfs=-1.0)
    assert common == pytest.approx(-23.0)
    for w in out:
        assert measure_lufs(w, SR) == pytest.approx(-23.0, abs=0.05)


def test_loudness_alignment_lowers_the_whole_group_when_one_would_clip():
    # A crest-heavy click train cannot reach -10 LUFS under a -1 dBTP limit.
    clicks = np.zeros(2 * SR, np.float32)
    clicks[::2000] = 0.5
    out, common = align_loudness([clicks, sine(440, 2.0, 0.1)], SR, target_lufs=-10.0, peak_dbfs=-1.0)
    assert common < -10.0
    assert max(true_peak_dbfs(w) for w in out) <= -1.0 + 1e-6
    assert measure_lufs(out[0], SR) == pytest.approx(measure_lufs(out[1], SR), abs=0.05)


def test_loudness_refuses_silence_and_tiny_clips():
    with pytest.raises(AudioError, match="silent"):
        measure_lufs(np.zeros(SR, np.float32), SR)
    with pytest.raises(AudioError, match="too short"):
        measure_lufs(sine(300, 0.1), SR)


def test_trim_finds_speech_and_pads():
    wave = np.concatenate([np.zeros(SR), sine(200, 1.0), np.zeros(SR)])
    start, end = silence_bounds(wave, SR, top_db=40, pad_s=0.1)
    # librosa decides per 2048-sample frame: the bounds are exact to within one frame
    assert abs(start - int(0.9 * SR)) < 2048 and abs(end - int(2.1 * SR)) < 2048
    cut = apply_bounds(wave, (start, end))
    assert len(cut) == end - start and cut[0] == 0.0 and cut[-1] == 0.0


def test_load_audio_errors_and_resampling(tmp_path):
    with pytest.raises(AudioError, match="does not exist"):
        load_audio(tmp_path / "none.wav")
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio at all")
    with pytest.raises(AudioError, match="bad.wav: unreadable audio"):
        load_audio(bad)
    with pytest.raises(AudioError, match="empty audio"):
        load_audio(write(tmp_path / "empty.wav", np.zeros(0, np.float32)))
    stereo = write(tmp_path / "st.wav", np.zeros((1000, 2), np.float32))
    with pytest.raises(AudioError, match="2 channels, expected mono"):
        load_audio(stereo)
    assert load_audio(stereo, mono="mix").shape == (1000,)
    low = write(tmp_path / "16k.wav", sine(300, 1.0, sr=16_000), sr=16_000)
    with pytest.raises(AudioError, match="sample rate 16000 Hz, expected 22050 Hz"):
        load_audio(low, resample=False)
    assert load_audio(low).shape == (SR,)


def test_write_wav_refuses_clipping(tmp_path):
    with pytest.raises(AudioError, match="clipped"):
        write_wav(tmp_path / "x.wav", np.full(100, 1.5, np.float32), SR)


def test_feature_config_frame_rate():
    assert DEFAULT_FEATURES.frame_seconds == pytest.approx(256 / 22050)
