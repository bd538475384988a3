"""Throughput of the TTS pipeline on this machine: training frames/s, synthesis real-time
factor (acoustic model alone and with the vocoder), and `prepare` time per clip.

    python benchmarks/synthesis_throughput.py --checkpoint checkpoints/baseline/model.pt \
        --config configs/baseline_cpu.toml --out benchmarks/results/synthesis_throughput.md

Real-time factor = compute seconds / audio seconds (lower is faster), over the test split's
sentences. The CPU is shared: the load average is recorded beside every number.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def load_avg() -> str:
    return "%.1f / %.1f / %.1f" % os.getloadavg()


def bench_training(config_path: str, steps: int) -> dict:
    from synthesis.models.backbone import build_model
    from synthesis.training.config import load_config
    from synthesis.training.data import collate, feature_stats, frame_batches, load_items
    from synthesis.training.loop import _split_ids
    import random

    cfg = load_config(config_path)
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    split, _ = _split_ids(cfg)
    items = load_items(cfg.train.cache, split.train, cfg.model.feature_kind)
    model = build_model(cfg.model)
    model.set_stats(**feature_stats(items))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    batches = frame_batches([it.n_frames for it in items], cfg.train.max_frames, random.Random(0))[: steps + 1]
    frames, t_total = 0, 0.0
    for n, idx in enumerate(batches):
        batch = collate([items[i].arrays for i in idx])
        t0 = time.perf_counter()
        losses = model.losses(batch, model(batch, 10_000), 10_000, cfg.loss)
        opt.zero_grad()
        losses["total"].backward()
        opt.step()
        if n:  # the first step pays for numba compilation and allocator warm-up
            t_total += time.perf_counter() - t0
            frames += int(batch["frame_lens"].sum())
    return {"steps": len(batches) - 1, "frames_per_s": frames / t_total, "s_per_step": t_total / (len(batches) - 1),
            "threads": torch.get_num_threads(), "params_M": sum(p.numel() for p in model.parameters()) / 1e6}


def bench_synthesis(checkpoint: str, n_texts: int) -> dict:
    from synthesis.corpus import default_corpus_path, default_split_path, load_corpus, load_split
    from synthesis.inference import Synthesizer
    from synthesis.training.data import collate, text_item_arrays

    torch.set_num_threads(2)
    corpus = load_corpus(default_corpus_path())
    split = load_split(default_split_path(corpus.root), corpus)
    texts = [corpus.by_id()[cid].text for cid in split.test][:n_texts]
    synth = Synthesizer.from_checkpoint(checkpoint)
    synth.synthesise(texts[:2])  # warm-up
    analyses = [synth.frontend.analyse(t) for t in texts]
    t0 = time.perf_counter()
    frames = 0
    for s in range(0, len(analyses), 16):
        batch = collate([text_item_arrays(a.to_arrays()) for a in analyses[s:s + 16]])
        out = synth.model.infer(batch)
        frames += int(out["frame_mask"].sum())
    t_model = time.perf_counter() - t0
    audio_s = frames * 256 / 22_050
    t0 = time.perf_counter()
    waves = synth.synthesise(texts)
    t_full = time.perf_counter() - t0
    audio_full = sum(len(w) for w in waves) / 22_050
    return {"texts": len(texts), "audio_s": audio_full, "rtf_model": t_model / audio_s,
            "rtf_full": t_full / audio_full, "vocoder": synth.vocoder.name}


def bench_prepare(n_clips: int, workers: int) -> dict:
    from synthesis.corpus import default_corpus_path, load_corpus
    from synthesis.prepare import prepare

    corpus = load_corpus(default_corpus_path())
    ids = [c.id for c in corpus.clips[:n_clips]]
    import soundfile as sf

    audio_s = sum(sf.info(str(corpus.by_id()[i].wav_path)).duration for i in ids)
    total_audio = sum(sf.info(str(c.wav_path)).duration for c in corpus.clips)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        prepare(corpus.root, Path(tmp) / "cache", workers=workers, clip_ids=ids, progress=False)
        seconds = time.perf_counter() - t0
    return {"clips": len(ids), "workers": workers, "seconds": seconds, "audio_s": audio_s,
            "projected_483_min": seconds * total_audio / audio_s / 60}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", default="checkpoints/baseline/model.pt")
    ap.add_argument("--config", default="configs/baseline_cpu.toml")
    ap.add_argument("--train-steps", type=int, default=10, help="training steps to time (0: skip)")
    ap.add_argument("--texts", type=int, default=40)
    ap.add_argument("--prepare-clips", type=int, default=0, help="clips to prepare (0: skip)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", default="benchmarks/results/synthesis_throughput.md")
    args = ap.parse_args()
    lines = [f"# Synthesis throughput ({time.strftime('%Y-%m-%d %H:%M')})", "",
             f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch "
             f"{torch.__version__}; CPU shared with other jobs (load average before: {load_avg()}).", ""]
    if args.train_steps:
        tr = bench_training(args.config, args.train_steps)
        lines += ["## Training (CPU)", "",
                  f"`{args.config}`: {tr['params_M']:.2f} M parameters, {tr['threads']} thread(s), "
                  f"{tr['steps']} steps: **{tr['frames_per_s']:.0f} mel frames/s**, {tr['s_per_step']:.2f} s/step "
                  f"(load {load_avg()}).", ""]
    sy = bench_synthesis(args.checkpoint, args.texts)
    lines += ["## Synthesis (2 threads)", "",
              f"`{args.checkpoint}`: {sy['texts']} test sentences, {sy['audio_s']:.1f} s of audio: acoustic model alone "
              f"**RTF {sy['rtf_model']:.4f}** (target <= 0.02); text front end + model + {sy['vocoder']} vocoder "
              f"**RTF {sy['rtf_full']:.3f}** (load {load_avg()}).", ""]
    if args.prepare_clips:
        pr = bench_prepare(args.prepare_clips, args.workers)
        lines += ["## prepare", "",
                  f"{pr['clips']} clips ({pr['audio_s']:.0f} s of audio), {pr['workers']} workers: {pr['seconds']:.0f} s, "
                  f"projected **{pr['projected_483_min']:.1f} min for the 483 clips** (load {load_avg()}).", ""]
    text = "\n".join(lines)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text + "\n", encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
