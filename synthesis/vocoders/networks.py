"""Neural vocoder networks in torch: a Vocos-style generator, the HiFi-GAN generator, and the
project's log-mel as a differentiable torch module.

Imported only when a neural vocoder is built or trained (``synthesis.vocoders.neural`` keeps
the registry free of torch).

Time alignment: ``features.log_mel`` centres frame i on sample ``i * hop + hop / 2`` (reflect
padding of ``(n_fft - hop) / 2``, no centring). ``istft`` overlap-adds frame i over exactly
the samples that analysis frame i covered, so a generator that predicts each frame's spectrum
is aligned with its input by construction, and ``T`` frames give exactly ``T * hop`` samples.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from synthesis.audio.features import DEFAULT_FEATURES, FeatureConfig, mel_filterbank


def _check_geometry(features: FeatureConfig) -> None:
    if features.win_length != features.n_fft:
        raise ValueError(f"neural vocoders need win_length == n_fft, got {features.win_length} and {features.n_fft}")
    if (features.n_fft - features.hop_length) % 2:
        raise ValueError(f"n_fft - hop_length must be even, got {features.n_fft} - {features.hop_length}")


def istft(spec: torch.Tensor, features: FeatureConfig = DEFAULT_FEATURES) -> torch.Tensor:
    """``[B, n_fft // 2 + 1, T]`` complex spectra -> ``[B, T * hop]`` waveform.

    Windowed overlap-add divided by the summed squared window, with the analysis geometry of
    ``features.log_mel`` (see the module docstring), so it inverts that STFT exactly.
    """
    n_fft, hop = features.n_fft, features.hop_length
    n_frames = spec.shape[-1]
    window = torch.hann_window(n_fft, periodic=True, device=spec.device, dtype=torch.float32)
    frames = torch.fft.irfft(spec, n=n_fft, dim=1) * window[None, :, None]
    length = (n_frames - 1) * hop + n_fft
    fold = {"output_size": (1, length), "kernel_size": (1, n_fft), "stride": (1, hop)}
    y = F.fold(frames, **fold)[:, 0, 0, :]
    envelope = F.fold((window ** 2)[None, :, None].expand(1, n_fft, n_frames), **fold)[0, 0, 0, :]
    pad = (n_fft - hop) // 2
    return y[:, pad: pad + n_frames * hop] / envelope[pad: pad + n_frames * hop].clamp_min(1e-8)


class LogMel(nn.Module):
    """``features.log_mel`` in torch (batched, differentiable): ``[B, N] -> [B, n_mels, N // hop]``.

    The magnitude gets a tiny epsilon under the square root so its gradient is finite at 0.
    """

    def __init__(self, features: FeatureConfig = DEFAULT_FEATURES):
        super().__init__()
        self.features = features
        self.register_buffer("fb", torch.from_numpy(mel_filterbank(features)), persistent=False)
        self.register_buffer("window", torch.hann_window(features.win_length, periodic=True), persistent=False)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        cfg = self.features
        pad = (cfg.n_fft - cfg.hop_length) // 2
        x = F.pad(wave.float().unsqueeze(1), (pad, pad), mode="reflect").squeeze(1)
        spec = torch.stft(x, cfg.n_fft, cfg.hop_length, cfg.win_length, self.window, center=False,
                          return_complex=True)
        mag = torch.sqrt(spec.real ** 2 + spec.imag ** 2 + 1e-9)
        return torch.log(torch.clamp(self.fb @ mag, min=cfg.log_clamp))


# ---------------------------------------------------------------------------------------------
# Vocos-style generator


@dataclass
class VocosConfig:
    """Architecture of the Vocos-style generator (Siuzdak 2023): ConvNeXt blocks at the frame
    rate, then a linear head predicting log-magnitude and phase per frame, then ``istft``."""

    dim: int = 384
    intermediate: int = 1152
    layers: int = 8
    kernel: int = 7
    max_log_mag: float = 4.6        # exp(4.6) ~ 100: clamp against overflow early in training

    def to_dict(self) -> dict:
        return asdict(self)


class ConvNeXtBlock(nn.Module):
    def __init__(self, dim: int, intermediate: int, kernel: int, layer_scale: float):
        super().__init__()
        self.dwconv = nn.Conv1d(dim, dim, kernel, padding=kernel // 2, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pw1 = nn.Linear(dim, intermediate)
        self.pw2 = nn.Linear(intermediate, dim)
        # Small residual branches at start keep the deep stack close to identity (ConvNeXt).
        self.gamma = nn.Parameter(torch.full((dim,), layer_scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, C, T]
        h = self.dwconv(x).transpose(1, 2)
        h = self.pw2(F.gelu(self.pw1(self.norm(h))))
        return x + (self.gamma * h).transpose(1, 2)


class VocosGenerator(nn.Module):
    """``[B, n_mels, T]`` log-mel -> ``[B, T * hop]`` waveform."""

    def __init__(self, cfg: VocosConfig | None = None, features: FeatureConfig = DEFAULT_FEATURES):
        super().__init__()
        _check_geometry(features)
        cfg = cfg or VocosConfig()
        self.cfg, self.features = cfg, features
        self.embed = nn.Conv1d(features.n_mels, cfg.dim, 7, padding=3)
        self.norm = nn.LayerNorm(cfg.dim, eps=1e-6)
        self.blocks = nn.ModuleList(ConvNeXtBlock(cfg.dim, cfg.intermediate, cfg.kernel, 1.0 / cfg.layers)
                                    for _ in range(cfg.layers))
        self.final_norm = nn.LayerNorm(cfg.dim, eps=1e-6)
        self.head = nn.Linear(cfg.dim, features.n_fft + 2)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        x = self.norm(self.embed(mel).transpose(1, 2)).transpose(1, 2)
        for block in self.blocks:
            x = block(x)
        out = self.head(self.final_norm(x.transpose(1, 2))).transpose(1, 2)
        # The inverse FFT runs in float32 whatever the autocast dtype (no bf16 FFT kernels).
        with torch.autocast(device_type=mel.device.type, enabled=False):
            log_mag, phase = out.float().chunk(2, dim=1)
            mag = torch.exp(log_mag.clamp(max=self.cfg.max_log_mag))
            spec = torch.complex(mag * torch.cos(phase), mag * torch.sin(phase))
            return istft(spec, self.features)


# ---------------------------------------------------------------------------------------------
# HiFi-GAN generator (Kong et al. 2020), with the module names of the original code so its
# ``generator`` state dicts load as they are (weight norm folded into plain weights).

LRELU_SLOPE = 0.1


@dataclass
class HiFiGANConfig:
    upsample_rates: list
    upsample_kernel_sizes: list
    upsample_initial_channel: int
    resblock: str
    resblock_kernel_sizes: list
    resblock_dilation_sizes: list

    KEYS = ("upsample_rates", "upsample_kernel_sizes", "upsample_initial_channel", "resblock",
            "resblock_kernel_sizes", "resblock_dilation_sizes")

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.KEYS}


def _same_padding(kernel: int, dilation: int) -> int:
    return (kernel * dilation - dilation) // 2


class _ResBlock1(nn.Module):
    def __init__(self, ch: int, kernel: int, dilations):
        super().__init__()
        self.convs1 = nn.ModuleList(nn.Conv1d(ch, ch, kernel, dilation=d, padding=_same_padding(kernel, d))
                                    for d in dilations)
        self.convs2 = nn.ModuleList(nn.Conv1d(ch, ch, kernel, padding=_same_padding(kernel, 1))
                                    for _ in dilations)

    def forward(self, x):
        for c1, c2 in zip(self.convs1, self.convs2):
            x = x + c2(F.leaky_relu(c1(F.leaky_relu(x, LRELU_SLOPE)), LRELU_SLOPE))
        return x


class _ResBlock2(nn.Module):
    def __init__(self, ch: int, kernel: int, dilations):
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv1d(ch, ch, kernel, dilation=d, padding=_same_padding(kernel, d))
                                   for d in dilations)

    def forward(self, x):
        for c in self.convs:
            x = x + c(F.leaky_relu(x, LRELU_SLOPE))
        return x


class HiFiGANGenerator(nn.Module):
    """``[B, n_mels, T]`` log-mel -> ``[B, T * prod(upsample_rates)]`` waveform."""

    def __init__(self, cfg: HiFiGANConfig, n_mels: int = 80):
        super().__init__()
        self.cfg = cfg
        self.num_kernels = len(cfg.resblock_kernel_sizes)
        ch = cfg.upsample_initial_channel
        self.conv_pre = nn.Conv1d(n_mels, ch, 7, padding=3)
        self.ups = nn.ModuleList(
            nn.ConvTranspose1d(ch // 2 ** i, ch // 2 ** (i + 1), k, u, padding=(k - u) // 2)
            for i, (u, k) in enumerate(zip(cfg.upsample_rates, cfg.upsample_kernel_sizes)))
        block = _ResBlock1 if str(cfg.resblock) == "1" else _ResBlock2
        self.resblocks = nn.ModuleList(
            block(ch // 2 ** (i + 1), k, d)
            for i in range(len(self.ups))
            for k, d in zip(cfg.resblock_kernel_sizes, cfg.resblock_dilation_sizes))
        self.conv_post = nn.Conv1d(ch // 2 ** len(self.ups), 1, 7, padding=3)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        x = self.conv_pre(mel)
        for i, up in enumerate(self.ups):
            x = up(F.leaky_relu(x, LRELU_SLOPE))
            x = sum(self.resblocks[i * self.num_kernels + j](x) for j in range(self.num_kernels)) / self.num_kernels
        x = self.conv_post(F.leaky_relu(x))  # the original uses torch's default slope (0.01) here
        return torch.tanh(x)[:, 0, :]


def fold_weight_norm(state: dict) -> dict:
    """Replace weight-norm pairs by plain weights: ``w = g * v / ||v||`` (norm over all but dim 0).

    Handles the old ``weight_g``/``weight_v`` names and the newer
    ``parametrizations.weight.original0/1``; plain ``weight`` entries pass through.
    """
    out = {}
    for key, value in state.items():
        if key.endswith((".weight_v", ".parametrizations.weight.original1")):
            continue
        if key.endswith(".weight_g"):
            base, v = key[: -len(".weight_g")], state[key[: -len("_g")] + "_v"]
        elif key.endswith(".parametrizations.weight.original0"):
            base = key[: -len(".parametrizations.weight.original0")]
            v = state[base + ".parametrizations.weight.original1"]
        else:
            out[key] = value
            continue
        dims = tuple(range(1, v.dim()))
        out[base + ".weight"] = value * v / v.norm(dim=dims, keepdim=True)
    return out


def param_count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def receptive_field_frames(cfg: VocosConfig) -> int:
    """Frames of context on each side that the Vocos generator sees."""
    return 3 + cfg.layers * (cfg.kernel // 2)


__all__ = ["HiFiGANConfig", "HiFiGANGenerator", "LogMel", "VocosConfig", "VocosGenerator", "fold_weight_norm",
           "istft", "param_count", "receptive_field_frames"]
