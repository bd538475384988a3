"""Do a checkpoint's learned alignment and the cache's forced alignment put phonemes on the
right frames?

A check that needs no hand-labelled boundaries: per frame, the spectral tilt (mean log-mel of
the top 25 bands minus that of the bottom 20, each z-scored within the clip). Fricatives
(/s z ʃ f θ/) are noise with high-band energy, vowels are low-band; the better an alignment
places its boundaries, the further apart the mean tilt over the frames it gives to fricatives
and to vowels. Also reported: the mean absolute difference between the two alignments'
phoneme boundaries, in frames (11.6 ms).

    python benchmarks/alignment_quality.py checkpoints/baseline/model.pt [--clips 60] [--split train]
        [--plot docs/img/alignment_comparison.png]   # the first clip, both alignments over its log-mel

Result (2026-12-03): benchmarks/results/forced_alignment.md.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

FRICATIVES = {"s", "z", "ʃ", "f", "θ"}
VOWELS = {"ɑ", "æ", "i", "ɛ", "ɪ", "ə", "u", "oʊ", "eɪ", "aɪ", "ɔ", "ʌ", "ɚ", "aʊ"}


def tilt_by_class(mel: np.ndarray, symbols: list[str], durations: np.ndarray) -> tuple[list, list]:
    """Mean spectral tilt of the frames given to each fricative and each vowel."""
    hi, lo = mel[:, 55:].mean(1), mel[:, :20].mean(1)
    tilt = (hi - hi.mean()) / hi.std() - (lo - lo.mean()) / lo.std()
    starts = np.cumsum(durations) - durations
    fric, vowel = [], []
    for sym, start, n in zip(symbols, starts, durations):
        if sym in FRICATIVES:
            fric.append(float(tilt[start:start + n].mean()))
        elif sym in VOWELS:
            vowel.append(float(tilt[start:start + n].mean()))
    return fric, vowel


def plot_alignments(path: str, mel: np.ndarray, symbols: list[str], learned: np.ndarray,
                    forced: np.ndarray, frames: int = 200) -> None:
    """The log-mel of one clip with the learned boundaries (top half) and the forced ones
    (bottom half), each phoneme labelled."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = min(frames, len(mel))
    fig, ax = plt.subplots(figsize=(16, 4.5))
    ax.imshow(mel[:n].T, origin="lower", aspect="auto", cmap="magma", extent=(-0.5, n - 0.5, 0, 80))
    for durations, colour, y, half in ((learned, "cyan", 74, (0.5, 1.0)), (forced, "lime", 3, (0.0, 0.5))):
        start = 0
        for sym, d in zip(symbols, durations):
            if start >= n:
                break
            ax.axvline(start - 0.5, color=colour, lw=1, ymin=half[0], ymax=half[1])
            ax.text(start + d / 2 - 0.5, y, sym.replace("punct:", ""), color=colour, ha="center", fontsize=10)
            start += int(d)
    ax.set_xlim(-0.5, n - 0.5)
    ax.set_xlabel("frame (11.6 ms)")
    ax.set_ylabel("mel band")
    ax.set_title("learned alignment (top, cyan) and pocketsphinx forced alignment (bottom, green)")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main() -> None:
    from synthesis.models.backbone import lengths_to_mask
    from synthesis.text.phonemes import SYMBOLS
    from synthesis.training.checkpoint import load_checkpoint, rebuild_model
    from synthesis.training.data import collate, load_items
    from synthesis.training.loop import cache_split

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint")
    ap.add_argument("--cache", default="cache/ljspeech-mini")
    ap.add_argument("--split", default="train", choices=("train", "validation", "test"))
    ap.add_argument("--clips", type=int, default=60)
    ap.add_argument("--plot", help="PNG of the first clip with both alignments")
    args = ap.parse_args()
    torch.set_num_threads(1)
    model = rebuild_model(load_checkpoint(args.checkpoint), args.checkpoint).eval()
    split, _ = cache_split(args.cache)
    items = load_items(args.cache, list(getattr(split, args.split)[:args.clips]), "world")
    if "durations" not in items[0].arrays:
        raise SystemExit(f"{args.cache}: no forced alignment in the cache (run `synthesis prepare` again)")
    found = {"learned": ([], []), "forced": ([], [])}
    boundary_diff = []
    for it in items:
        batch = collate([{k: v for k, v in it.arrays.items() if k != "durations"}])
        with torch.no_grad():
            _, emb, phone_mask = model.encode(batch)
            frame_mask = lengths_to_mask(batch["frame_lens"], batch["mel"].shape[1])
            mel_n = (batch["mel"] - model.mel_mean) / model.mel_std
            # no durations given: monotonic alignment search over the model's own aligner
            _, hard = model.align(emb, mel_n, phone_mask, frame_mask, batch["phone_lens"], batch["frame_lens"])
        learned = hard[0].sum(0).numpy().astype(int)
        forced = it.arrays["durations"]
        boundary_diff.append(float(np.abs(np.cumsum(learned) - np.cumsum(forced))[:-1].mean()))
        symbols = [SYMBOLS[i] for i in it.arrays["phoneme_ids"]]
        if args.plot and it is items[0]:
            plot_alignments(args.plot, it.arrays["mel"], symbols, learned, forced)
        for name, durations in (("learned", learned), ("forced", forced)):
            f, v = tilt_by_class(it.arrays["mel"], symbols, durations)
            found[name][0].extend(f)
            found[name][1].extend(v)
    print(f"{len(items)} {args.split} clips; mean |boundary difference| learned vs forced: "
          f"{np.mean(boundary_diff):.2f} frames")
    print("| alignment | fricative frames: tilt | vowel frames: tilt | separation |")
    print("|---|---|---|---|")
    for name, (f, v) in found.items():
        print(f"| {name} | {np.mean(f):+.2f} | {np.mean(v):+.2f} | {np.mean(f) - np.mean(v):.2f} |")


if __name__ == "__main__":
    main()
