"""DistillMOS: no-reference naturalness on a 1-5 MOS scale (Stahl & Gamper 2025).

A small convolutional transformer distilled from an XLS-R based quality predictor; its
weights ship inside the ``distillmos`` wheel (MIT). The wheel imports torchaudio only for its
file-reading CLI, and torchaudio cannot be installed beside this torch, so a stub module
stands in for it while importing.
"""

from __future__ import annotations

import sys
import types
from functools import lru_cache

import numpy as np

MOS_SAMPLE_RATE = 16_000


@lru_cache(maxsize=1)
def load_distillmos():
    """The DistillMOS model in eval mode, loaded once per process (~20 MB of weights)."""
    import contextlib
    import io

    # The stub lives only while distillmos imports: left in sys.modules it would make other
    # libraries (transformers) believe torchaudio is installed.
    stubbed = "torchaudio" not in sys.modules
    if stubbed:
        sys.modules["torchaudio"] = types.ModuleType("torchaudio")
    try:
        import distillmos
    finally:
        if stubbed:
            del sys.modules["torchaudio"]

    # The constructor prints where it loaded the weights from; keep stdout clean.
    with contextlib.redirect_stdout(io.StringIO()):
        model = distillmos.ConvTransformerSQAModel(segmenting_in_forward=False)
    model.eval()
    return model


def _segments(wave: np.ndarray, seq_len: int, max_hop: int) -> np.ndarray:
    """The crops DistillMOS averages over, exactly as its own forward pass makes them.

    A clip shorter than ``seq_len`` is zero-padded to it; a longer one gives evenly spaced
    crops at most ``max_hop`` apart, first and last flush with the ends.
    """
    over = len(wave) - seq_len
    if over < 0:
        return np.pad(wave, (0, -over))[None, :]
    n_hops = int(np.ceil(over / max_hop)) + 1
    starts = [int(c * over) for c in np.linspace(0, 1, n_hops)]
    return np.stack([wave[s:s + seq_len] for s in starts])


def distillmos_scores(waves: list[np.ndarray], sample_rate: int, batch_segments: int = 16) -> list[float]:
    """DistillMOS of each waveform.

    Crops of all clips are batched together and each clip's score is the mean over its crops,
    which equals scoring the clips one by one with the package's own segmenting forward pass.

    Args:
        waves: ``[n_samples]`` float waveforms.
        sample_rate: their rate (resampled to 16 kHz here).
    """
    import torch

    from synthesis.evaluation.asr import to_whisper_rate

    model = load_distillmos()
    # importable only now that load_distillmos has imported the package past its torchaudio
    from distillmos.sqa import MAX_HOP_LEN, SEQ_LEN
    crops, owner = [], []
    for i, w in enumerate(waves):
        w16 = to_whisper_rate(w, sample_rate) if sample_rate != MOS_SAMPLE_RATE else np.asarray(w, np.float32)
        seg = _segments(w16, SEQ_LEN, MAX_HOP_LEN)
        crops.append(seg)
        owner += [i] * len(seg)
    if not crops:
        return []
    all_crops = np.concatenate(crops).astype(np.float32)
    owner_arr = np.array(owner)
    scores = np.empty(len(all_crops))
    with torch.inference_mode():
        for s in range(0, len(all_crops), batch_segments):
            batch = torch.from_numpy(all_crops[s:s + batch_segments])
            scores[s:s + batch_segments] = model(batch).reshape(-1).numpy()
    return [float(scores[owner_arr == i].mean()) for i in range(len(waves))]
