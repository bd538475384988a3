"""Audio front end: pure functions on numpy waveforms (no file I/O except in ``io``)."""

from synthesis.audio.features import FeatureConfig, frame_energy, log_mel, mel_filterbank, pitch
from synthesis.audio.io import load_audio, write_wav

__all__ = ["FeatureConfig", "frame_energy", "load_audio", "log_mel", "mel_filterbank", "pitch", "write_wav"]
