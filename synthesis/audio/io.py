"""Reading and writing audio files, with the checks a corpus or a set needs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from synthesis.errors import AudioError


def load_audio(path: str | Path, sample_rate: int = 22_050, *, resample: bool = True,
               mono: str = "error") -> np.ndarray:
    """Load a file as float32 mono at ``sample_rate``.

    Args:
        path: any format libsndfile reads (wav, flac, ogg, mp3).
        sample_rate: the rate the caller needs.
        resample: resample other rates (soxr, high quality); if False, another rate is an error.
        mono: ``"error"`` refuses multi-channel files, ``"mix"`` averages the channels.

    Returns:
        ``[n_samples]`` float32 in [-1, 1].

    Raises:
        AudioError: missing, unreadable, empty, multi-channel (with mono="error") or wrong rate.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"{path}: audio file does not exist")
    try:
        wave, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:
        raise AudioError(f"{path}: unreadable audio ({str(exc).splitlines()[0]})") from exc
    if wave.shape[0] == 0:
        raise AudioError(f"{path}: empty audio (0 samples)")
    if wave.shape[1] != 1:
        if mono != "mix":
            raise AudioError(f"{path}: {wave.shape[1]} channels, expected mono")
        wave = wave.mean(axis=1, keepdims=True)
    wave = np.ascontiguousarray(wave[:, 0])
    if not np.all(np.isfinite(wave)):
        raise AudioError(f"{path}: audio holds NaN or infinite samples")
    if sr != sample_rate:
        if not resample:
            raise AudioError(f"{path}: sample rate {sr} Hz, expected {sample_rate} Hz")
        import librosa

        wave = librosa.resample(wave, orig_sr=sr, target_sr=sample_rate, res_type="soxr_hq").astype(np.float32)
    return wave


def write_wav(path: str | Path, wave: np.ndarray, sample_rate: int) -> None:
    """Write 16-bit PCM. Refuses samples beyond full scale instead of clipping them silently."""
    wave = np.asarray(wave, dtype=np.float32)
    peak = float(np.max(np.abs(wave))) if wave.size else 0.0
    if peak > 1.0:
        raise AudioError(f"{path}: refusing to write clipped audio (peak {peak:.3f} > 1.0)")
    sf.write(str(path), wave, sample_rate, subtype="PCM_16")
