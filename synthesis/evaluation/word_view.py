"""The word-level view: per-word F0 and duration of the recording and of each system, side by side.

CAMP models prosody per word, so this is where its effect should be visible. For each test
sentence every system speaks the whole text in one piece (one front-end analysis, so all
systems share the same tokens), and each word's span is known exactly from the phoneme
durations the model used; the recording's word spans come from pocketsphinx forced alignment of
the recording to the same phonemes (as the training clips were aligned), or, where it fails,
from the learned aligner of the first model given. Per word: the mean F0 in Hz over
its voiced frames (Harvest on the waveform, the same analysis for recording and systems;
NaN for a word without voiced frames) and its duration in seconds. Punctuation tokens
(pauses) are not words and are left out; their time is not part of any word's duration.

``word_view(...)`` returns the numbers; ``plot_word_view(...)`` draws one row per sentence
(F0 above, duration below); ``write_word_view(...)`` writes both (PNG + JSON) atomically.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from synthesis.errors import SynthesisError

HOP = 256
SAMPLE_RATE = 22_050


@dataclass
class WordProsody:
    """One rendition of one sentence, per word (punctuation tokens excluded)."""

    words: list[str]
    f0_hz: list[float]          # mean F0 over the word's voiced frames (NaN: none voiced)
    duration_s: list[float]


def word_spans(durations: np.ndarray, word_index: np.ndarray, n_tokens: int) -> list[tuple[int, int]]:
    """Frame span ``[start, end)`` of each token from phoneme durations ``[P]`` and token index ``[P]``.

    A token without phonemes gets an empty span at the position where it would start.
    """
    ends = np.cumsum(durations)
    starts = ends - durations
    spans: list[tuple[int, int]] = []
    for n in range(n_tokens):
        idx = np.flatnonzero(word_index == n)
        if idx.size:
            spans.append((int(starts[idx[0]]), int(ends[idx[-1]])))
        else:
            after_previous = spans[-1][1] if spans else int(durations[0]) if len(durations) else 0
            spans.append((after_previous, after_previous))
    return spans


def measure_words(wave: np.ndarray, durations: np.ndarray, word_index: np.ndarray, tokens: list[str],
                  is_word: list[bool], f0_method: str = "harvest") -> WordProsody:
    """Per-word mean F0 and duration of ``wave`` whose phonemes lasted ``durations`` frames."""
    from synthesis.audio.features import pitch

    f0, voiced = pitch(np.asarray(wave, dtype=np.float32), method=f0_method)
    spans = word_spans(np.asarray(durations), np.asarray(word_index), len(tokens))
    words, f0s, durs = [], [], []
    for tok, word, (s, e) in zip(tokens, is_word, spans):
        if not word:
            continue
        v = voiced[s:e]
        words.append(tok)
        f0s.append(float(np.exp(np.mean(np.log(f0[s:e][v])))) if v.any() else float("nan"))
        durs.append((e - s) * HOP / SAMPLE_RATE)
    return WordProsody(words, f0s, durs)


def _analysis_batch(synth, text: str, recording: np.ndarray | None):
    from synthesis.audio.features import log_mel
    from synthesis.training.data import collate, text_item_arrays

    analysis = synth.frontend.analyse(text)
    arrays = text_item_arrays(analysis.to_arrays())
    if recording is not None:
        arrays["mel"] = log_mel(np.asarray(recording, dtype=np.float32))
    batch = {k: v.to(synth.device) for k, v in collate([arrays]).items()}
    return analysis, batch


def system_words(synth, text: str, recording: np.ndarray | None = None) -> WordProsody:
    """Let ``synth`` (a ``synthesis.inference.Synthesizer``) speak ``text`` in one piece and
    measure its words; a mode that reads the recording (oracle) gets ``recording``."""
    if synth.wants_reference and recording is None:
        raise SynthesisError(f"{synth.describe()['system']}: this mode needs the recording of {text[:40]!r}")
    analysis, batch = _analysis_batch(synth, text, recording if synth.wants_reference else None)
    out = synth.model.infer(batch)
    n = int(out["frame_mask"][0].sum())
    feats = out["features"][0, :n].float().cpu().numpy()
    wave = synth.vocoder.synthesise(feats)
    durations = out["durations"][0].cpu().numpy()
    return measure_words(wave, durations, analysis.word_index, analysis.words, [t.is_word for t in analysis.tokens])


def recording_words(aligner, text: str, recording: np.ndarray) -> WordProsody:
    """The recording's words, timed by pocketsphinx forced alignment, or by ``aligner``'s (a
    Synthesizer's model) learned alignment where that fails."""
    import torch

    from synthesis.features.forced_alignment import recording_durations
    from synthesis.models.backbone import lengths_to_mask

    analysis, batch = _analysis_batch(aligner, text, recording)
    durations = recording_durations(recording, analysis.phoneme_ids, analysis.word_index, int(batch["frame_lens"][0]))
    if durations is None:
        model = aligner.model
        with torch.inference_mode():
            _, emb, phone_mask = model.encode(batch)
            frame_mask = lengths_to_mask(batch["frame_lens"], batch["mel"].shape[1])
            mel_n = (batch["mel"] - model.mel_mean) / model.mel_std
            _, hard = model.align(emb, mel_n, phone_mask, frame_mask, batch["phone_lens"], batch["frame_lens"])
        durations = hard[0].sum(0).long().cpu().numpy()
    return measure_words(recording, durations, analysis.word_index, analysis.words, [t.is_word for t in analysis.tokens])


def word_view(systems: dict, items: list) -> dict[str, dict[str, WordProsody]]:
    """Per item (``clip_id``, ``text``, ``recording`` attributes, e.g. ``EvalItem``) and per
    system (name -> Synthesizer, in plotting order): ``{clip_id: {"recording": ..., name: ...}}``.

    Raises:
        SynthesisError: no systems, or a system whose words differ from the others' (another
            text front end).
    """
    if not systems:
        raise SynthesisError("the word view needs at least one system (its aligner times the recording)")
    aligner = next(iter(systems.values()))
    table = {}
    for it in items:
        row = {"recording": recording_words(aligner, it.text, it.recording)}
        for name, synth in systems.items():
            row[name] = system_words(synth, it.text, it.recording)
            if row[name].words != row["recording"].words:
                raise SynthesisError(f"{name}: its words for {it.clip_id} differ from the recording's "
                                     "(another text front end)")
        table[it.clip_id] = row
    return table


def plot_word_view(table: dict[str, dict[str, WordProsody]], path: str | Path, texts: dict[str, str] | None = None):
    """One row per sentence: per-word F0 (Hz, markers joined by lines) above per-word duration
    (grouped bars); the recording in black, each system in its own colour."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    clips = list(table)
    widths = [max(6.0, 0.55 * len(next(iter(table[c].values())).words)) for c in clips]
    fig, axes = plt.subplots(2 * len(clips), 1, figsize=(max(widths), 4.2 * len(clips)), squeeze=False)
    colours = plt.get_cmap("tab10")
    for r, clip in enumerate(clips):
        row = table[clip]
        names = list(row)
        x = np.arange(len(row["recording"].words))
        ax_f0, ax_dur = axes[2 * r, 0], axes[2 * r + 1, 0]
        width = 0.8 / len(names)
        for k, name in enumerate(names):
            colour = "black" if name == "recording" else colours((k - 1) % 10)
            ax_f0.plot(x, row[name].f0_hz, marker="o", lw=2.2 if name == "recording" else 1.3, color=colour, label=name)
            ax_dur.bar(x - 0.4 + width * (k + 0.5), row[name].duration_s, width, color=colour, label=name)
        title = clip if not texts else f"{clip}: {texts.get(clip, '')[:90]}"
        ax_f0.set_title(title, fontsize=9, loc="left")
        ax_f0.set_ylabel("F0 (Hz)")
        ax_dur.set_ylabel("duration (s)")
        for ax in (ax_f0, ax_dur):
            ax.set_xticks(x)
            ax.set_xticklabels(row["recording"].words, rotation=45, ha="right", fontsize=8)
            ax.grid(alpha=0.3)
        ax_f0.legend(fontsize=7, ncol=len(names), loc="upper right")
    fig.tight_layout()
    return fig


def write_word_view(table: dict[str, dict[str, WordProsody]], out_dir: str | Path,
                    texts: dict[str, str] | None = None, name: str = "word_view") -> tuple[Path, Path]:
    """Write ``<name>.png`` and ``<name>.json`` into ``out_dir`` (each via a temp file + rename)."""
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    png, js = out_dir / f"{name}.png", out_dir / f"{name}.json"
    fig = plot_word_view(table, png, texts)
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".png", dir=out_dir)
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=110)
        os.replace(tmp, png)
    finally:
        plt.close(fig)
        Path(tmp).unlink(missing_ok=True)
    data = {clip: {sys: {k: [None if isinstance(x, float) and np.isnan(x) else x for x in v] if isinstance(v, list) else v
                         for k, v in asdict(wp).items()} for sys, wp in row.items()} for clip, row in table.items()}
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".json", dir=out_dir)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump({"texts": texts or {}, "words": data}, fh, indent=1, allow_nan=False)
    os.replace(tmp, js)
    return png, js


def run_word_view(checkpoints: list[str], out: str | Path, clip_ids: list[str] | None = None, n_clips: int = 4,
                  split: str = "test", corpus: str | Path | None = None) -> tuple[Path, Path]:
    """The word view of ``checkpoints`` (``PATH`` or ``NAME=PATH``; the first one's aligner times
    the recordings) on ``clip_ids`` or the first ``n_clips`` of ``split``; writes into ``out``.

    Raises:
        SynthesisError: a missing checkpoint, an unknown clip, no checkpoints.
    """
    from synthesis.audio.io import load_audio
    from synthesis.corpus import default_corpus_path, default_split_path, load_corpus, load_split
    from synthesis.evaluation.systems import EvalItem
    from synthesis.inference import Synthesizer

    if not checkpoints:
        raise SynthesisError("give at least one --checkpoint")
    systems = {}
    for spec in checkpoints:
        name, _, path = spec.rpartition("=") if "=" in spec else ("", "", spec)
        synth = Synthesizer.from_checkpoint(path)
        name = name or str(synth.describe()["system"])
        if name in systems:
            raise SynthesisError(f"two systems named {name!r}: write NAME=PATH")
        systems[name] = synth
    cor = load_corpus(corpus or default_corpus_path())
    if not clip_ids:
        clip_ids = list(load_split(default_split_path(cor.root), cor).subset(split))[:n_clips]
    by_id = cor.by_id()
    unknown = [c for c in clip_ids if c not in by_id]
    if unknown:
        raise SynthesisError(f"clip {unknown[0]} is not in the corpus {cor.root}")
    items = [EvalItem(c, by_id[c].text, load_audio(by_id[c].wav_path)) for c in clip_ids]
    table = word_view(systems, items)
    return write_word_view(table, out, {c: by_id[c].text for c in clip_ids})
