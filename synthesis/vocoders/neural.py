"""Neural vocoders on the project's log-mel (80 bands, 22,050 Hz, hop 256, HiFi-GAN setting).

* ``vocos``: the Vocos-style model trained by ``synthesis train-vocoder`` and exported by
  ``synthesis export-vocoder``. Weights: ``checkpoint=`` kwarg, else the environment variable
  ``PROSODY_VOCOS_CHECKPOINT``, else ``checkpoints/vocoder/model.pt`` in the repository.
* ``hifigan``: an external generator in the original HiFi-GAN format (jik876/hifi-gan:
  ``{"generator": state_dict}`` + its ``config.json``) trained on the same mel settings.
  Weights: ``checkpoint=`` kwarg or ``PROSODY_HIFIGAN_CHECKPOINT``; ``config.json`` beside it
  unless ``config=`` / ``PROSODY_HIFIGAN_CONFIG`` says otherwise. Nothing is downloaded.

Both run on CPU by default, one utterance at a time (an utterance sounds the same alone or
in a batch: zero padding would change the last frames). torch is imported only when one is
built, so listing the registry stays cheap.
"""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import numpy as np

import synthesis
from synthesis.audio.features import DEFAULT_FEATURES, FeatureConfig
from synthesis.checksums import file_sha256
from synthesis.vocoders.base import LogMelVocoder, _fit_length, register

DEFAULT_CHECKPOINT = Path(synthesis.__file__).resolve().parent.parent / "checkpoints" / "vocoder" / "model.pt"
VOCOS_ENV = "PROSODY_VOCOS_CHECKPOINT"
HIFIGAN_ENV = "PROSODY_HIFIGAN_CHECKPOINT"
HIFIGAN_CONFIG_ENV = "PROSODY_HIFIGAN_CONFIG"
VOCOS_SYSTEM = "vocos"
TRAIN_HINT = ("synthesis train-vocoder --config configs/vocoder_cpu.toml --out runs/vocoder && "
              "synthesis export-vocoder runs/vocoder --out checkpoints/vocoder")

#: the FeatureConfig fields a vocoder's weights depend on
MEL_KEYS = ("sample_rate", "n_fft", "hop_length", "win_length", "n_mels", "fmin", "fmax", "log_clamp")
#: HiFi-GAN config.json names of those fields
HIFIGAN_MEL_KEYS = {"sampling_rate": "sample_rate", "n_fft": "n_fft", "hop_size": "hop_length",
                    "win_size": "win_length", "num_mels": "n_mels", "fmin": "fmin", "fmax": "fmax"}


def mel_mismatch(saved: dict, features: FeatureConfig) -> str:
    """``""`` when ``saved`` (FeatureConfig field -> value) fits ``features``, else the differences."""
    diffs = [f"{k} {saved[k]!r} (here {getattr(features, k)!r})" for k in MEL_KEYS
             if k in saved and saved[k] != getattr(features, k)]
    return ", ".join(diffs)



class _TorchVocoder(LogMelVocoder):
    """Shared part: log-mel analysis, per-utterance synthesis with a torch generator."""

    def __init__(self, features: FeatureConfig, device: str):
        super().__init__(features)
        self.device = device
        self.generator = None  # set by subclasses

    def synthesise_batch(self, features: list[np.ndarray]) -> list[np.ndarray]:
        import torch

        for f in features:
            self.check_features(f)
        hop = self.features.hop_length
        out = []
        with torch.inference_mode():
            for f in features:
                if f.shape[0] == 0:
                    out.append(np.zeros(0, np.float32))
                    continue
                mel = torch.from_numpy(np.ascontiguousarray(f.T, dtype=np.float32))[None].to(self.device)
                y = self.generator(mel)[0].float().cpu().numpy()
                out.append(_fit_length(y, f.shape[0] * hop).astype(np.float32))
        return out


@register
class VocosVocoder(_TorchVocoder):
    """The Vocos-style vocoder trained by ``synthesis train-vocoder`` (docs/vocoder.md)."""

    name = "vocos"

    def __init__(self, features: FeatureConfig = DEFAULT_FEATURES, checkpoint: str | Path | None = None,
                 device: str = "cpu"):
        super().__init__(features, device)
        from synthesis.training.checkpoint import CheckpointError, load_checkpoint
        from synthesis.vocoders.networks import VocosConfig, VocosGenerator, param_count

        path = Path(checkpoint or os.environ.get(VOCOS_ENV) or DEFAULT_CHECKPOINT)
        if not path.is_file():
            raise CheckpointError(f"{path}: no vocos vocoder weights there; train and export them "
                                  f"({TRAIN_HINT}) or set {VOCOS_ENV}")
        ckpt = load_checkpoint(path, VOCOS_SYSTEM)
        diff = mel_mismatch(ckpt.get("features", {}), features)
        if diff:
            raise CheckpointError(f"{path}: a vocoder for other mel settings: {diff}")
        try:
            cfg = VocosConfig(**ckpt["config"]["generator"])
            gen = VocosGenerator(cfg, features)
            state = ckpt["state_dict"]
            if any(k.startswith("generator.") for k in state):  # a training checkpoint (best.pt, last.pt)
                state = {k[len("generator."):]: v for k, v in state.items() if k.startswith("generator.")}
            gen.load_state_dict({k: v.float() for k, v in state.items()})
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise CheckpointError(f"{path}: cannot rebuild the vocos generator "
                                  f"({str(exc).splitlines()[0][:160]})") from None
        self.generator = gen.eval().to(device)
        self.checkpoint = path
        self.config = cfg
        self.step = int(ckpt.get("step", 0))
        self.sha256 = file_sha256(path)
        self.n_parameters = param_count(gen)

    def describe(self) -> dict:
        return {**super().describe(), "checkpoint": str(self.checkpoint), "checkpoint_sha256": self.sha256,
                "step": self.step, "parameters": self.n_parameters, "generator": self.config.to_dict()}


def read_hifigan_config(path: Path, features: FeatureConfig) -> dict:
    """A HiFi-GAN ``config.json``, checked against ``features``; problems are one-line errors."""
    from synthesis.training.checkpoint import CheckpointError
    from synthesis.vocoders.networks import HiFiGANConfig

    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{path}: HiFi-GAN config.json missing (pass config= or set "
                              f"{HIFIGAN_CONFIG_ENV})") from None
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: not a readable JSON config ({exc})") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: not a HiFi-GAN config (a JSON object is expected)")
    missing = [k for k in HiFiGANConfig.KEYS if k not in data]
    if missing:
        raise CheckpointError(f"{path}: not a HiFi-GAN generator config (missing {', '.join(missing)})")
    saved = {ours: data[theirs] for theirs, ours in HIFIGAN_MEL_KEYS.items() if theirs in data}
    diff = mel_mismatch(saved, features)
    if diff:
        raise CheckpointError(f"{path}: a HiFi-GAN for other mel settings: {diff}")
    rates = data["upsample_rates"]
    if int(np.prod(rates)) != features.hop_length:
        raise CheckpointError(f"{path}: upsample_rates {rates} multiply to {int(np.prod(rates))}, "
                              f"not the hop length {features.hop_length}")
    if str(data["resblock"]) not in ("1", "2"):
        raise CheckpointError(f"{path}: resblock must be \"1\" or \"2\", got {data['resblock']!r}")
    return data


@register
class HiFiGANVocoder(_TorchVocoder):
    """An external HiFi-GAN generator (original jik876/hifi-gan format) on the same mel settings."""

    name = "hifigan"

    def __init__(self, features: FeatureConfig = DEFAULT_FEATURES, checkpoint: str | Path | None = None,
                 config: str | Path | None = None, device: str = "cpu"):
        super().__init__(features, device)
        import torch

        from synthesis.training.checkpoint import CheckpointError
        from synthesis.vocoders.networks import (
            HiFiGANConfig,
            HiFiGANGenerator,
            fold_weight_norm,
            param_count,
        )

        where = checkpoint or os.environ.get(HIFIGAN_ENV)
        if not where:
            raise CheckpointError(f"the hifigan vocoder needs an external HiFi-GAN generator file: set "
                                  f"{HIFIGAN_ENV} (config.json beside it) or pass checkpoint=PATH")
        path = Path(where)
        if not path.is_file():
            raise CheckpointError(f"{path}: HiFi-GAN generator file does not exist")
        config_path = Path(config or os.environ.get(HIFIGAN_CONFIG_ENV) or path.parent / "config.json")
        data = read_hifigan_config(config_path, features)
        cfg = HiFiGANConfig(**{k: data[k] for k in HiFiGANConfig.KEYS})
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except (OSError, RuntimeError, ValueError, EOFError, pickle.UnpicklingError) as exc:
            reason = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
            raise CheckpointError(f"{path}: not a readable torch file ({reason})") from None
        state = obj.get("generator", obj) if isinstance(obj, dict) else None
        if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
            raise CheckpointError(f"{path}: not a HiFi-GAN generator state dict")
        try:
            gen = HiFiGANGenerator(cfg, features.n_mels)
            gen.load_state_dict({k: v.float() for k, v in fold_weight_norm(state).items()})
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise CheckpointError(f"{path}: does not fit {config_path} "
                                  f"({str(exc).splitlines()[0][:160]})") from None
        self.generator = gen.eval().to(device)
        self.checkpoint, self.config_path, self.config = path, config_path, cfg
        self.sha256 = file_sha256(path)
        self.n_parameters = param_count(gen)

    def describe(self) -> dict:
        return {**super().describe(), "checkpoint": str(self.checkpoint), "checkpoint_sha256": self.sha256,
                "config": str(self.config_path), "parameters": self.n_parameters, "generator": self.config.to_dict()}
