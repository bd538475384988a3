"""Real-time factor of each vocoder on test-split clips (copy synthesis: log-mel or WORLD
analysis excluded, synthesis only), and its ratio to Griffin-Lim's.

    python benchmarks/vocoder_rtf.py --clips 10 --threads 2 [--vocoders griffinlim world vocos]
"""

from __future__ import annotations

import argparse
import time

import torch


def main() -> None:
    from synthesis.audio.io import load_audio
    from synthesis.corpus import default_corpus_path, default_split_path, load_corpus, load_split
    from synthesis.vocoders import get_vocoder

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--vocoders", nargs="+", default=["griffinlim", "world", "vocos"])
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    corpus = load_corpus(default_corpus_path())
    ids = list(load_split(default_split_path(corpus.root), corpus).test)[: args.clips]
    waves = [load_audio(corpus.by_id()[i].wav_path) for i in ids]
    seconds = sum(len(w) for w in waves) / 22050
    rtf = {}
    for name in args.vocoders:
        voc = get_vocoder(name)
        feats = [voc.analyse(w) for w in waves]
        voc.synthesise_batch(feats[:1])  # warm-up (first-call compilation, allocation)
        t0 = time.perf_counter()
        voc.synthesise_batch(feats)
        rtf[name] = (time.perf_counter() - t0) / seconds
    print(f"{len(waves)} test clips, {seconds:.1f} s of audio, {args.threads} torch threads")
    print("| vocoder | real-time factor | ratio to griffinlim |")
    print("|---|---|---|")
    for name, value in rtf.items():
        ratio = f"{value / rtf['griffinlim']:.2f}" if "griffinlim" in rtf else "-"
        print(f"| {name} | {value:.4f} | {ratio} |")


if __name__ == "__main__":
    main()
