"""Spectral enhancement of predicted acoustic features: global variance and postfilter.

A model trained with an L1/L2 loss predicts close to the conditional mean, so its spectral
envelopes are smoother over time than any recording ("over-smoothing"): formants are
blurred and the speech sounds muffled and buzzy. Two classic remedies of statistical
parametric synthesis undo part of this at inference, without retraining:

* **Global variance (GV) scaling** (after Toda & Tokuda 2007; the closed-form variance
  scaling of Silen et al. 2012): within each utterance, every spectral dimension is
  stretched around its own utterance mean so that its variance over time matches the
  average per-utterance variance of the training recordings (``target_gv``, saved in the
  checkpoint). ``strength`` interpolates in the log domain (0: off, 1: the recordings' GV).
* **Mel-cepstral postfilter** (the formant-enhancing postfilter of HTS/Merlin): WORLD
  mel-cepstral coefficients from c2 upwards are multiplied by ``beta``, then c0 is corrected
  so that each frame keeps its energy.

Only the spectral envelope is touched (mel-cepstrum c1.. for WORLD, every band for log-mel):
log-F0, voicing and aperiodicity pass unchanged, so prosody metrics (F0 RMSE, F0 std ratio)
are those of the model itself. On the 20 validation clips the WORLD baseline's DistillMOS
rose from 1.67 to 2.52 with GV alone and to 2.93 with the postfilter at 1.4, Whisper WER
unchanged (34.7 %); on the 40 test clips from 1.72 to 2.98
(benchmarks/results/feature_enhancement.md). MCD against the recording rises (7.24 -> 9.64 dB):
a distance to one particular recording rewards the smooth mean, so compare MCD only between
systems synthesised the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: chosen on the validation split (benchmarks/feature_enhancement.py)
DEFAULT_GV_STRENGTH = 1.0
DEFAULT_POSTFILTER_BETA = 1.4
#: the largest stretch of one dimension's standard deviation (``Enhancement.max_gv_scale``): a
#: guard against degenerate, nearly constant predictions, whose noise the scaling would blow up
#: without bound. Trained models need up to ~17 (fs2, the highest cepstra of a short sentence,
#: 40 test sentences), so it does not bind on them.
MAX_GV_SCALE = 32.0


@dataclass(frozen=True)
class Enhancement:
    """What ``enhance_features`` does; ``Enhancement.off()`` returns features unchanged."""

    gv_strength: float = DEFAULT_GV_STRENGTH
    postfilter_beta: float = DEFAULT_POSTFILTER_BETA
    max_gv_scale: float = MAX_GV_SCALE
    #: apply the checkpoint's trained adversarial post-filter, when it has one, before the rest
    #: (``synthesis.models.postfilter``; done by ``Synthesizer``, not by ``enhance_features``)
    adversarial: bool = True

    def __post_init__(self):
        if not (0.0 <= self.gv_strength <= 2.0):
            raise ValueError(f"gv_strength must be in [0, 2], got {self.gv_strength}")
        if not (1.0 <= self.postfilter_beta <= 2.0):
            raise ValueError(f"postfilter_beta must be in [1, 2], got {self.postfilter_beta}")
        if not self.max_gv_scale >= 1.0:
            raise ValueError(f"max_gv_scale must be at least 1, got {self.max_gv_scale}")

    @classmethod
    def off(cls) -> "Enhancement":
        return cls(0.0, 1.0, adversarial=False)

    @property
    def active(self) -> bool:
        """Whether ``enhance_features`` changes anything (GV scaling or the cepstral postfilter)."""
        return self.gv_strength > 0 or self.postfilter_beta != 1.0

    def describe(self) -> dict:
        return {"gv_strength": self.gv_strength, "postfilter_beta": self.postfilter_beta,
                "max_gv_scale": self.max_gv_scale, "adversarial": self.adversarial}


def utterance_variance(utterances: list[np.ndarray]) -> np.ndarray:
    """Global variance: the mean over utterances of each dimension's variance over time [D]."""
    if not utterances:
        raise ValueError("no utterances to measure the global variance of")
    return np.mean([np.asarray(u, np.float64).var(0) for u in utterances], axis=0)


def spectral_dims(feature_kind: str, dim: int, n_mcep: int = 60) -> np.ndarray:
    """Indices of the spectral-envelope dimensions of a feature layout (c0 excluded: loudness)."""
    if feature_kind == "world":
        return np.arange(1, n_mcep)
    if feature_kind == "log_mel":
        return np.arange(dim)
    raise ValueError(f"unknown acoustic feature kind {feature_kind!r} (world, log_mel)")


def log_f0_dim(feature_kind: str, n_mcep: int = 60) -> int | None:
    """Index of the log-F0 dimension of a feature layout (None for log-mel, which has none)."""
    if feature_kind == "world":
        return n_mcep
    if feature_kind == "log_mel":
        return None
    raise ValueError(f"unknown acoustic feature kind {feature_kind!r} (world, log_mel)")


def scale_variance(x: np.ndarray, target_var: np.ndarray, strength: float,
                   max_scale: float = MAX_GV_SCALE) -> np.ndarray:
    """Stretch each column of ``x`` [T, d] around its mean so its variance moves to ``target_var``
    (the standard deviation by at most ``max_scale``).

    Columns that are constant, or whose target is unknown (0), stay as they are.
    """
    mean = x.mean(0)
    var = x.var(0)
    ok = (var > 1e-10) & (target_var > 0)
    scale = np.ones_like(mean)
    scale[ok] = np.minimum((target_var[ok] / var[ok]) ** (0.5 * strength), max_scale)
    return mean + (x - mean) * scale


def postfilter_mcep(mcep: np.ndarray, beta: float, to_log_spectrum: np.ndarray) -> np.ndarray:
    """Formant enhancement of mel-cepstra [T, M]: c2.. times ``beta``, frame energy kept.

    ``to_log_spectrum`` [M, n_bins] maps a mel-cepstrum to the log power spectrum (see
    ``synthesis.vocoders.world.mcep_matrices``); c0 adds the same constant (2 c0: a power
    spectrum) to every bin, so the energy correction is exact.
    """
    if beta == 1.0:
        return mcep
    weights = np.ones(mcep.shape[1])
    weights[2:] = beta
    sharpened = mcep * weights
    log_energy = _log_sum_exp(mcep @ to_log_spectrum)
    per_c0 = float(np.mean(to_log_spectrum[0]))
    sharpened[:, 0] += (log_energy - _log_sum_exp(sharpened @ to_log_spectrum)) / per_c0
    return sharpened


def _log_sum_exp(x: np.ndarray) -> np.ndarray:
    top = x.max(1)
    return top + np.log(np.exp(x - top[:, None]).sum(1))


def enhance_features(features: np.ndarray, feature_kind: str, target_gv: np.ndarray | None,
                     enhancement: Enhancement, to_log_spectrum: np.ndarray | None = None,
                     n_mcep: int = 60) -> np.ndarray:
    """Enhanced copy of one utterance's predicted features [T, D] (float32).

    ``target_gv`` [D] is the training recordings' global variance (None or all zeros: GV
    scaling is skipped, e.g. a checkpoint from before it was recorded). The postfilter applies
    to WORLD features and needs ``to_log_spectrum``.
    """
    feats = np.asarray(features, np.float64).copy()
    if not enhancement.active or len(feats) < 2:
        return feats.astype(np.float32)
    dims = spectral_dims(feature_kind, feats.shape[1], n_mcep)
    if enhancement.gv_strength > 0 and target_gv is not None and np.any(target_gv[dims] > 0):
        feats[:, dims] = scale_variance(feats[:, dims], np.asarray(target_gv, np.float64)[dims],
                                        enhancement.gv_strength, enhancement.max_gv_scale)
    if feature_kind == "world" and enhancement.postfilter_beta != 1.0:
        if to_log_spectrum is None:
            raise ValueError("the mel-cepstral postfilter needs the mel-cepstrum -> spectrum matrix")
        feats[:, :n_mcep] = postfilter_mcep(feats[:, :n_mcep], enhancement.postfilter_beta, to_log_spectrum)
    return feats.astype(np.float32)
