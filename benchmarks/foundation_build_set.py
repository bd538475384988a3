"""Foundation benchmarks: build-set speed and front-end throughput (issue 3).

    python benchmarks/foundation_build_set.py [--items 40] [--workers 2] [--out benchmarks/results/foundation.md]

1. ``build-set`` of N test items x (hidden reference + 2 anchors + WORLD and Griffin-Lim copy
   synthesis): wall time and its ratio to the duration of the audio written (target >= 20x).
2. Front-end throughput: log-mel + F0 (Harvest and DIO) + energy, seconds of audio per second
   of one core.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import soundfile as sf

from synthesis.audio.features import frame_energy, log_mel, pitch
from synthesis.audio.io import load_audio
from synthesis.corpus import default_corpus_path, default_split_path, load_corpus, load_split
from synthesis.listening_set.builder import build_set
from synthesis.listening_set.config import load_set_config


def bench_build_set(n_items: int, workers: int) -> dict:
    config = replace(load_set_config(), name="bench", n_items=n_items, workers=workers)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "set"
        start = time.perf_counter()
        manifest = build_set(config, out, progress=False)
        wall = time.perf_counter() - start
        audio = sum(sf.info(str(out / s.file)).duration for i in manifest.items for s in i.stimuli.values())
    return {"items": len(manifest.items), "conditions": len(manifest.conditions), "wall_s": wall,
            "audio_s": audio, "ratio": audio / wall}


def bench_front_end(n_clips: int) -> dict:
    corpus = load_corpus(default_corpus_path())
    split = load_split(default_split_path(corpus.root), corpus)
    clips = corpus.by_id()
    waves = [load_audio(clips[i].wav_path) for i in split.test[:n_clips]]
    seconds = sum(len(w) for w in waves) / 22_050
    log_mel(waves[0])  # first call builds the filterbank
    out = {"clips": len(waves), "audio_s": seconds}
    for name, fn in [("log_mel", log_mel), ("energy", frame_energy),
                     ("f0_harvest", lambda w: pitch(w, method="harvest")),
                     ("f0_dio", lambda w: pitch(w, method="dio"))]:
        start = time.perf_counter()
        for w in waves:
            fn(w)
        out[name] = seconds / (time.perf_counter() - start)
    out["all_harvest"] = 1.0 / sum(1.0 / out[k] for k in ("log_mel", "energy", "f0_harvest"))
    out["all_dio"] = 1.0 / sum(1.0 / out[k] for k in ("log_mel", "energy", "f0_dio"))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=40)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clips", type=int, default=20)
    parser.add_argument("--out", default="benchmarks/results/foundation.md")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    fe = bench_front_end(args.clips)
    bs = bench_build_set(args.items, args.workers)
    lines = [
        "# Foundation benchmarks",
        "",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
        f"1-min load average at start {load:.2f} (other work on the machine slows every number).",
        f"Command: `python benchmarks/foundation_build_set.py --items {args.items} --workers {args.workers}`",
        "",
        "## build-set",
        "",
        "| items | conditions | wall (s) | audio written (s) | faster than real time |",
        "|---|---|---|---|---|",
        f"| {bs['items']} | {bs['conditions']} | {bs['wall_s']:.1f} | {bs['audio_s']:.1f} | {bs['ratio']:.1f}x |",
        "",
        "Conditions: hidden reference, 3.5 kHz and 7 kHz anchors, WORLD (Harvest) and Griffin-Lim",
        "(32 iterations) copy synthesis; trimmed, loudness-aligned, written and validated. Target: >= 20x.",
        "",
        "## Front end (one process)",
        "",
        f"{fe['clips']} test clips, {fe['audio_s']:.1f} s of audio. Seconds of audio processed per second:",
        "",
        "| log-mel | energy | F0 Harvest | F0 DIO | mel + energy + F0 (Harvest) | mel + energy + F0 (DIO) |",
        "|---|---|---|---|---|---|",
        f"| {fe['log_mel']:.0f} | {fe['energy']:.0f} | {fe['f0_harvest']:.1f} | {fe['f0_dio']:.1f} | "
        f"{fe['all_harvest']:.1f} | {fe['all_dio']:.1f} |",
        "",
    ]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
