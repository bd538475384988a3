"""Does each chapter of a corpus sound like the same voice? Pitch, tempo and spectrum per chapter.

Why: every LJ003 clip of ljspeech-mini is pitched about an octave below LJ001/LJ002
(docs/corpus.md). A speaker who talks lower keeps her formants and fricatives where they were;
audio that was slowed down or pitch-shifted does not. So next to the median F0 this prints the
speaking rate and three measures of where the spectrum's energy lies, over the louder half of
each clip's frames (mostly vowels, so pauses and breaths do not weigh in).

    python benchmarks/voice_by_chapter.py [CORPUS] [--cache cache/ljspeech-mini] \
        > benchmarks/results/voice_by_chapter.md

Per chapter: the median over its clips (and the range) of each clip's value. F0 is the clip's
median over voiced frames from the feature cache's manifest (Harvest, `synthesis prepare`);
the others come from an STFT of 1,024 samples, hop 256.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import librosa
import numpy as np
import soundfile as sf

from synthesis.corpus import load_corpus

COLUMNS = [("f0_hz", "median F0 (Hz)", "{:.0f}"), ("chars_per_s", "characters / s", "{:.1f}"),
           ("centroid_hz", "spectral centroid (Hz)", "{:.0f}"), ("rolloff_hz", "95 % magnitude roll-off (Hz)", "{:.0f}"),
           ("above_4k", "energy above 4 kHz (%)", "{:.1f}")]


def clip_measures(wave: np.ndarray, sr: int, text: str, f0_hz: float | None) -> dict[str, float]:
    power = np.abs(librosa.stft(wave, n_fft=1024, hop_length=256)) ** 2
    freqs = librosa.fft_frequencies(sr=sr, n_fft=1024)
    frame_energy = power.sum(0)
    loud = power[:, frame_energy > np.median(frame_energy)]
    centroid = librosa.feature.spectral_centroid(S=loud, sr=sr, n_fft=1024)[0]  # power-weighted
    rolloff = librosa.feature.spectral_rolloff(S=np.sqrt(loud), sr=sr, n_fft=1024, roll_percent=0.95)[0]
    return {"f0_hz": float("nan") if f0_hz is None else float(f0_hz),
            "chars_per_s": len(text) / (len(wave) / sr),
            "centroid_hz": float(np.median(centroid)), "rolloff_hz": float(np.median(rolloff)),
            "above_4k": 100.0 * float(loud[freqs > 4000].sum() / loud.sum())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("corpus", nargs="?", default="../shared/corpora/ljspeech-mini")
    ap.add_argument("--cache", default="cache/ljspeech-mini", help="feature cache of that corpus (for F0)")
    args = ap.parse_args()
    corpus = load_corpus(args.corpus)
    manifest = json.loads((Path(args.cache) / "manifest.json").read_text(encoding="utf-8"))
    f0_of = {cid: entry.get("median_f0_hz") for cid, entry in manifest["clips"].items()}
    per: dict[str, list[dict]] = defaultdict(list)
    for clip in corpus.clips:
        wave, sr = sf.read(clip.wav_path, dtype="float32")
        per[clip.chapter].append(clip_measures(wave, sr, clip.normalized_text, f0_of.get(clip.id)))
    print(f"# Voice by chapter: {corpus.name}\n")
    print("Median over each chapter's clips [min-max]; `python benchmarks/voice_by_chapter.py`.")
    print("F0: Harvest, from the feature cache; spectrum: the louder half of each clip's frames.\n")
    print("| chapter | clips | " + " | ".join(title for _, title, _ in COLUMNS) + " |")
    print("|---|---|" + "---|" * len(COLUMNS))
    for name in sorted(per):
        cells = []
        for key, _, fmt in COLUMNS:
            values = np.array([m[key] for m in per[name]])
            values = values[np.isfinite(values)]
            cells.append(f"{fmt.format(np.median(values))} [{fmt.format(values.min())}-{fmt.format(values.max())}]")
        print(f"| {name} | {len(per[name])} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
