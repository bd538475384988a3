"""Phoneme durations of a recording from an external forced aligner (pocketsphinx).

Why: the alignment learned inside the model (Badlani et al. 2021) does not converge well on
55 minutes of speech: on training clips it puts boundaries a phoneme late (the /t/ of
"printing" over the following vowel, the /s/ of "sense" half inside the preceding /i/), so
the decoder learns blurred consonants. Issue #6 names pocketsphinx forced alignment as the
fallback. The aligner is given our own gruut phonemes (mapped one to one onto its ARPAbet
set), so every phoneme of the model's input gets a span; silences between words go to the
punctuation token there (or are split between the neighbouring phonemes where there is none),
leading and trailing silence to ``<bos>``/``<eos>``.

``durations_from_spans`` is the pure part (spans in seconds -> frames per phoneme);
``align_recording`` runs pocketsphinx on a waveform.
"""

from __future__ import annotations

import re

import numpy as np

from synthesis.errors import SynthesisError

# gruut's English phonemes -> the CMU/ARPAbet set of pocketsphinx's en-us acoustic model.
# One to one, so phoneme counts survive the round trip; the rare ones take their nearest
# neighbour (a flap is a /d/, a glottal stop a /t/, syllabic l/n their plain consonant).
IPA_TO_ARPABET = {
    "n": "N", "ə": "AH", "l": "L", "s": "S", "t": "T", "ɹ": "R", "k": "K", "ɪ": "IH", "d": "D",
    "m": "M", "z": "Z", "ɚ": "ER", "i": "IY", "b": "B", "ɛ": "EH", "p": "P", "ɑ": "AA", "æ": "AE",
    "ɡ": "G", "f": "F", "ŋ": "NG", "v": "V", "oʊ": "OW", "eɪ": "EY", "h": "HH", "ʃ": "SH", "w": "W",
    "ɔ": "AO", "ʌ": "AH", "aɪ": "AY", "u": "UW", "d͡ʒ": "JH", "j": "Y", "t͡ʃ": "CH", "θ": "TH",
    "aʊ": "AW", "ʊ": "UH", "ɔɪ": "OY", "ð": "DH", "ʒ": "ZH", "ɾ": "D", "ʔ": "T", "ᵻ": "IH",
    "l̩": "L", "n̩": "N", "x": "K", "ɐ": "AH", "ɜ": "ER", "r": "R", "g": "G",
}
ALIGNER_RATE = 16000   # the en-us acoustic model's sample rate
FORCED_ALIGNMENT_VERSION = 1


def aligner_config(acoustic_hash: str, text_hash: str) -> dict:
    """The cache's ``alignment`` entry: what made the durations, and its hash (which covers the
    acoustic and text sides: new phonemes or frames need a new alignment)."""
    import hashlib
    import json
    from importlib import metadata

    try:
        version = metadata.version("pocketsphinx")
    except metadata.PackageNotFoundError:
        version = None
    cfg = {"format_version": FORCED_ALIGNMENT_VERSION, "aligner": "pocketsphinx", "aligner_version": version,
           "acoustic_hash": acoustic_hash, "text_hash": text_hash}
    digest = hashlib.sha256(json.dumps(cfg, sort_keys=True).encode()).hexdigest()[:16]
    return {"hash": digest, "config": cfg}


class AlignmentError(SynthesisError):
    """A recording that the forced aligner could not align to its phonemes."""


def spoken_words(symbols: list[str], word_index: list[int]) -> list[list[int]]:
    """Positions of the spoken phonemes, grouped by word, in order (punctuation and the
    special symbols are not spoken)."""
    words: dict[int, list[int]] = {}
    for pos, (sym, w) in enumerate(zip(symbols, word_index)):
        if sym in IPA_TO_ARPABET:
            words.setdefault(int(w), []).append(pos)
    return [words[w] for w in sorted(words)]


def durations_from_spans(symbols: list[str], spans: dict[int, tuple[float, float]], n_frames: int,
                         frame_rate: float) -> np.ndarray:
    """Frames per phoneme from the aligned spans of the spoken ones.

    Args:
        symbols: the phoneme sequence, with ``<bos>``/``<eos>`` and punctuation tokens.
        spans: position -> (start, end) in seconds for every spoken phoneme.
        n_frames: frames of the clip; the durations sum to it exactly.
        frame_rate: frames per second.

    Every phoneme gets at least one frame (taken from its longer neighbour), as monotonic
    alignment search would give it.
    """
    n = len(symbols)
    if n > n_frames:
        raise AlignmentError(f"{n} phonemes do not fit into {n_frames} frames")
    bounds = np.zeros(n + 1)
    bounds[n] = n_frames
    for pos in range(1, n):
        if pos in spans:
            prev = spans.get(pos - 1)
            # a pause between two words with no punctuation token: split between them
            bounds[pos] = (prev[1] + spans[pos][0]) / 2 if prev else spans[pos][0]
        elif pos - 1 in spans:     # punctuation or <eos>: starts where the last word ended
            bounds[pos] = spans[pos - 1][1]
        else:                      # two unspoken symbols in a row: the second starts late
            bounds[pos] = bounds[pos - 1]
    frames = np.clip(np.round(bounds * np.r_[0.0, np.full(n - 1, frame_rate), 1.0]), 0, n_frames)
    frames[0], frames[n] = 0, n_frames
    durations = np.diff(np.maximum.accumulate(frames)).astype(np.int64)
    # at least one frame each: take from the longer neighbour until none is empty
    while (durations < 1).any():
        i = int(np.argmin(durations))
        neighbours = [j for j in (i - 1, i + 1) if 0 <= j < n]
        j = max(neighbours, key=lambda k: durations[k])
        if durations[j] <= 1:   # both neighbours at their minimum: the widest one anywhere
            j = int(np.argmax(durations))
        durations[j] -= 1
        durations[i] += 1
    return durations


def _decoder():
    from pocketsphinx import Decoder

    # Wide beams: with the default ones the two-pass alignment fails on about a third of
    # LJSpeech clips ("Alignment failed in frame N").
    return Decoder(lm=None, samprate=ALIGNER_RATE, bestpath=False, beam=1e-60, wbeam=1e-60,
                   pbeam=1e-60, loglevel="FATAL")


def align_recording(wave: np.ndarray, sample_rate: int, symbols: list[str], word_index: list[int],
                    n_frames: int, frame_rate: float) -> np.ndarray:
    """Frames per phoneme of ``symbols`` in ``wave`` (see ``durations_from_spans``).

    Raises:
        AlignmentError: no spoken phoneme, or pocketsphinx found no alignment.
    """
    import librosa

    words = spoken_words(symbols, word_index)
    if not words:
        raise AlignmentError("no spoken phonemes to align")
    audio = librosa.resample(np.asarray(wave, dtype=np.float32), orig_sr=sample_rate, target_sr=ALIGNER_RATE)
    pcm = (np.clip(audio, -1.0, 1.0) * 32767).astype(np.int16).tobytes()
    decoder = _decoder()
    names = []
    for k, positions in enumerate(words):
        # Unique names: the same spelling can be pronounced differently within a sentence.
        name = f"w{k}x"
        decoder.add_word(name, " ".join(IPA_TO_ARPABET[symbols[p]] for p in positions), True)
        names.append(name)
    try:
        decoder.set_align_text(" ".join(names))
        for second_pass in (False, True):
            if second_pass:
                decoder.set_alignment()       # phone level
            decoder.start_utt()
            decoder.process_raw(pcm, full_utt=True)
            decoder.end_utt()
        aligned = decoder.get_alignment()
    except RuntimeError as exc:
        raise AlignmentError(f"pocketsphinx found no alignment ({exc})") from None
    if aligned is None:
        raise AlignmentError("pocketsphinx found no alignment")
    spans: dict[int, tuple[float, float]] = {}
    for word in aligned:
        match = re.fullmatch(r"w(\d+)x(\(\d+\))?", word.name)
        if not match:
            continue                           # <s>, </s>, <sil>
        positions = words[int(match.group(1))]
        phones = list(word)
        if len(phones) != len(positions):
            raise AlignmentError(f"pocketsphinx returned {len(phones)} phones for a word of {len(positions)}")
        for pos, phone in zip(positions, phones):
            spans[pos] = (phone.start / 100.0, (phone.start + phone.duration) / 100.0)
    if len(spans) != sum(len(w) for w in words):
        raise AlignmentError("pocketsphinx left words unaligned")
    return durations_from_spans(symbols, spans, n_frames, frame_rate)


def align_phoneme_ids(wave: np.ndarray, phoneme_ids, word_index, n_frames: int, features=None) -> np.ndarray:
    """``align_recording`` for a front end's phoneme ids, at the frame rate of ``features``
    (default: the shared one, hop 256 at 22,050 Hz; ``wave`` at its sample rate).

    Raises:
        AlignmentError: as ``align_recording``.
    """
    from synthesis.audio.features import DEFAULT_FEATURES
    from synthesis.text.phonemes import SYMBOLS

    cfg = features or DEFAULT_FEATURES
    return align_recording(wave, cfg.sample_rate, [SYMBOLS[int(i)] for i in phoneme_ids],
                           [int(w) for w in word_index], n_frames, cfg.sample_rate / cfg.hop_length)


def recording_durations(wave: np.ndarray, phoneme_ids, word_index, n_frames: int) -> np.ndarray | None:
    """``align_phoneme_ids`` of a 22,050 Hz recording, or None where pocketsphinx cannot align
    it (callers then fall back to the model's own aligner). For recordings outside the cache:
    the oracle modes, the word-level view and the evaluation's phone durations."""
    try:
        return align_phoneme_ids(wave, phoneme_ids, word_index, n_frames)
    except AlignmentError:
        return None
