"""What the reference-based metrics need from one waveform, computed once and cached.

Mel-cepstra for MCD come from WORLD (Morise et al. 2016): Harvest F0, CheapTrick spectral
envelope, then a 24th-order mel-cepstrum (pysptk's sp2mc convention, all-pass constant 0.455
for 22,050 Hz), the usual setting of MCD in TTS papers. Edge silence is trimmed first (the
listening-set rule, ``synthesis.audio.trim``) so that leading and trailing silence of
different lengths does not dilute MCD or the duration ratio.

MCD covers 0-8 kHz, the band of the shared log-mel features (DESIGN.md): above ``fmax`` the
envelope of both signals is replaced by its value at ``fmax`` before the mel-cepstrum is
taken. Otherwise a log-mel system, which cannot produce anything above 8 kHz, would be
charged for a band its features never held: Griffin-Lim copy synthesis of log-mel scored
~20 dB full-band against ~3 dB for WORLD, almost all of it from the empty top band. How the
whole band sounds is DistillMOS's job.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synthesis.audio.features import DEFAULT_FEATURES, FeatureConfig, frame_energy

#: mel-cepstral order used for MCD (c1..c24; c0, the energy, is excluded)
MCD_ORDER = 24
ANALYSIS_VERSION = 3


@dataclass(frozen=True)
class UtteranceAnalysis:
    """Frame features of one utterance (frames at the shared hop).

    Attributes:
        mcep: ``[T, 24]`` mel-cepstrum c1..c24 of the trimmed speech's 0-8 kHz envelope.
        f0: ``[T]`` Harvest F0 in Hz of the trimmed speech, 0 where unvoiced.
        energy_db: ``[T_full]`` frame energy of the whole, untrimmed waveform (for pauses).
        speech_seconds: length of the trimmed speech.
        total_seconds: length of the whole waveform.
        start_frame: the trimmed speech's first sample, in frames of the whole waveform (to
            place frame positions of the whole waveform, such as a forced alignment's, on ``f0``).
    """

    mcep: np.ndarray
    f0: np.ndarray
    energy_db: np.ndarray
    speech_seconds: float
    total_seconds: float
    start_frame: int = 0

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"mcep": self.mcep, "f0": self.f0, "energy_db": self.energy_db,
                "seconds": np.array([self.speech_seconds, self.total_seconds]),
                "start_frame": np.array([self.start_frame]),
                "version": np.array([ANALYSIS_VERSION])}

    @classmethod
    def from_arrays(cls, arrays) -> UtteranceAnalysis:
        if int(arrays["version"][0]) != ANALYSIS_VERSION:
            raise ValueError("cached analysis of another version")
        return cls(arrays["mcep"], arrays["f0"], arrays["energy_db"], float(arrays["seconds"][0]),
                   float(arrays["seconds"][1]), int(arrays["start_frame"][0]))


def analyse_utterance(wave: np.ndarray, cfg: FeatureConfig = DEFAULT_FEATURES) -> UtteranceAnalysis:
    """WORLD mel-cepstra and F0 of the trimmed speech, and frame energy of the whole wave.

    Raises:
        ValueError: the waveform is shorter than one analysis window or silent throughout.
    """
    import pysptk
    import pyworld

    from synthesis.audio.trim import silence_bounds
    from synthesis.vocoders.world import mcep_matrices

    wave = np.asarray(wave, dtype=np.float32)
    if len(wave) < cfg.n_fft:
        raise ValueError(f"audio of {len(wave)} samples is shorter than one analysis window ({cfg.n_fft})")
    if not np.any(wave):
        raise ValueError("audio is silent throughout")
    start, end = silence_bounds(wave, cfg.sample_rate)
    speech = wave[start:end].astype(np.float64)
    if len(speech) < cfg.n_fft:
        start, speech = 0, wave.astype(np.float64)
    period_ms = 1000.0 * cfg.hop_length / cfg.sample_rate
    f0, t = pyworld.harvest(speech, cfg.sample_rate, f0_floor=cfg.f0_floor, f0_ceil=cfg.f0_ceil,
                            frame_period=period_ms)
    sp = pyworld.cheaptrick(speech, f0, t, cfg.sample_rate, fft_size=cfg.n_fft)
    top = int(np.floor(cfg.fmax / cfg.sample_rate * cfg.n_fft))
    sp[:, top + 1:] = sp[:, top:top + 1]
    alpha = float(pysptk.util.mcepalpha(cfg.sample_rate))
    to_mcep, _ = mcep_matrices(cfg.n_fft, MCD_ORDER + 1, alpha)
    mcep = (np.log(np.maximum(sp, 1e-16)) @ to_mcep)[:, 1:]
    return UtteranceAnalysis(
        mcep=mcep.astype(np.float32),
        f0=f0.astype(np.float32),
        energy_db=frame_energy(wave, cfg),
        speech_seconds=len(speech) / cfg.sample_rate,
        total_seconds=len(wave) / cfg.sample_rate,
        start_frame=int(round(start / cfg.hop_length)),
    )
