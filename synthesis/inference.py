"""Text -> waveform with a trained checkpoint: the stable API other parts build on.

::

    from synthesis.inference import Synthesizer
    synth = Synthesizer.from_checkpoint("checkpoints/baseline/model.pt")
    waves = synth.synthesise(["Printing, in the only sense with which we are concerned."])
    # list of float32 arrays at synth.sample_rate (22,050 Hz)

API (kept stable; documented in docs/synthesis.md):

* ``Synthesizer.from_checkpoint(path, vocoder=None, device="cpu") -> Synthesizer``: rebuilds
  the model from the file alone (architecture + training config are inside). ``vocoder``
  overrides the vocoder by registry name; it must take the features the model predicts.
* ``.synthesise(texts: list[str]) -> list[np.ndarray]``: one float32 waveform per text at
  22,050 Hz, batched inside; long texts are split at sentence boundaries and joined.
* ``.synthesise_with_details(texts) -> list[dict]``: per text ``waveform`` [n_samples],
  ``features`` [T, D] (what the vocoder got), ``durations`` [P] int frames per phoneme
  (hop 256), ``phonemes`` [P] symbols (``<bos>``, ``punct:,`` ... included), ``word_index``
  [P] int token index per phoneme (-1 for ``<bos>``/``<eos>``), ``words`` [N] the tokens
  (words and punctuation marks), ``text``, ``normalized_text``, ``sample_rate``.
* ``from_checkpoint(..., mode=None, temperature=None, corpus=None)``: override a prosody
  module's inference mode (Kathaka: ``prior``, ``mean``, ``sample``, ``oracle``; docs/kathaka.md).
  In oracle mode ``synthesise(texts, references=[wave, ...])`` reads each text's recording;
  without ``references`` the recording is found in the corpus by the text's script.
* ``from_checkpoint(..., enhancement=Enhancement.off())``: vocode the raw prediction instead
  of the spectrally enhanced one (global variance + postfilter, ``synthesis.features.enhance``).
* ``.vocoder``: the ``synthesis.vocoders.Vocoder`` in use; ``.sample_rate``.
* ``.describe() -> dict``: ``system``, ``checkpoint`` (path), ``checkpoint_hash``,
  ``config_hash``, ``feature_kind``, ``step``, ``vocoder`` (the vocoder's ``describe()``),
  ``enhancement`` (its settings, and whether the checkpoint records the training GV).

Errors a user can cause (unreadable text, a checkpoint of another format) raise
``synthesis.errors.SynthesisError`` subclasses with a one-line message.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import torch

from synthesis.errors import ConfigError, SynthesisError
from synthesis.training.checkpoint import CheckpointError, file_hash, load_checkpoint, rebuild_model

#: a chunk longer than this many phonemes is split further (attention cost, RTF, quality)
MAX_CHUNK_PHONEMES = 400
#: silence between the chunks of a long text (seconds)
CHUNK_PAUSE_S = 0.25
BATCH_UTTERANCES = 16


def split_sentences(text: str, max_chars: int = 250) -> list[str]:
    """Split text at sentence ends (``.!?;`` followed by space); over-long pieces at commas,
    then at word boundaries, so each chunk stays under ``max_chars``."""
    text = text.strip()
    parts = [p for p in re.split(r"(?<=[.!?;])\s+", text) if p.strip()]
    out: list[str] = []
    for part in parts:
        while len(part) > max_chars:
            cut = part.rfind(", ", 0, max_chars)
            if cut < max_chars // 3:
                cut = part.rfind(" ", 0, max_chars)
            if cut <= 0:
                cut = max_chars
            out.append(part[: cut + 1].strip())
            part = part[cut + 1:].strip()
        if part:
            out.append(part)
    return out


class Synthesizer:
    """A trained acoustic model + its vocoder + the text front end, for inference only."""

    def __init__(self, model, vocoder, ckpt: dict, path: Path, device: str = "cpu", corpus=None,
                 enhancement=None):
        from synthesis.features.enhance import Enhancement
        from synthesis.text.frontend import TextFrontend

        self.model = model.eval()
        self.vocoder = vocoder
        self.device = torch.device(device)
        self._ckpt_meta = {k: ckpt.get(k) for k in ("system", "step", "metrics")}
        self._config = ckpt["config"]
        self.path = Path(path)
        self._hash = file_hash(path)
        # The baseline and fs2 read only phonemes; prosody modules also need syntax and vectors.
        needs_words = model.prosody is not None
        self.frontend = TextFrontend(with_vectors=needs_words, with_syntax=needs_words)
        self._corpus_root = corpus
        self._recordings: dict[str, Path] | None = None
        self.enhancement = enhancement if enhancement is not None else Enhancement()
        gv = model.target_gv.detach().cpu().numpy().astype(np.float64)
        self._target_gv = gv if np.any(gv > 0) else None  # None: a file from before GV was recorded
        self._postfilter = self._load_postfilter(ckpt) if self.enhancement.adversarial else None

    @classmethod
    def from_checkpoint(cls, path: str | Path, vocoder: str | None = None, device: str = "cpu",
                        mode: str | None = None, temperature: float | None = None,
                        corpus: str | Path | None = None, enhancement=None) -> Synthesizer:
        """Load a checkpoint written by ``synthesis train`` (or an exported one).

        ``mode``/``temperature`` override a prosody module's inference mode stored in the
        checkpoint (Kathaka: ``prior``, ``mean``, ``sample``, ``oracle``; see docs/kathaka.md).
        In a mode that reads the recording (oracle), texts without explicit ``references``
        are looked up in ``corpus`` (default: the bundled corpus) by their script.
        ``enhancement`` (``synthesis.features.enhance.Enhancement``; default: GV scaling and
        postfilter at their validated settings, ``Enhancement.off()``: the raw prediction)
        sharpens the predicted spectral envelope before vocoding.

        Raises:
            CheckpointError: missing, truncated, other format version, unknown system.
            SynthesisError: the vocoder does not fit the model's features.
        """
        from synthesis.features.acoustic import AcousticConfig
        from synthesis.vocoders import available_vocoders, get_vocoder

        path = Path(path)
        ckpt = load_checkpoint(path)
        model = rebuild_model(ckpt, path)
        mcfg = model.cfg
        if mode is not None or temperature is not None:
            if not hasattr(model.prosody, "set_inference"):
                raise SynthesisError(f"{path}: system {ckpt.get('system')!r} has no inference modes")
            try:
                model.prosody.set_inference(mode or model.prosody.inference, temperature)
            except ValueError as exc:
                raise SynthesisError(f"{path}: {exc}") from None
        acoustic = AcousticConfig()
        if vocoder is None:
            voc = acoustic.vocoder(mcfg.feature_kind)
        else:
            if vocoder not in available_vocoders():
                raise SynthesisError(f"unknown vocoder {vocoder!r} (known: {', '.join(available_vocoders())})")
            voc = get_vocoder(vocoder)
        if voc.feature_kind != mcfg.feature_kind or voc.feature_dim != mcfg.out_dim:
            raise SynthesisError(f"{path}: the model predicts {mcfg.feature_kind} features [T, {mcfg.out_dim}], "
                                 f"vocoder {voc.name} needs {voc.feature_kind} [T, {voc.feature_dim}]")
        return cls(model.to(device), voc, ckpt, path, device, corpus, enhancement)

    @property
    def sample_rate(self) -> int:
        return self.vocoder.sample_rate

    def describe(self) -> dict:
        cfg_hash = hashlib.sha256(json.dumps(self._config, sort_keys=True).encode()).hexdigest()[:16]
        info = {"system": self._ckpt_meta["system"], "checkpoint": str(self.path), "checkpoint_hash": self._hash,
                "config_hash": cfg_hash, "feature_kind": self.model.cfg.feature_kind,
                "step": self._ckpt_meta["step"], "vocoder": self.vocoder.describe(),
                "enhancement": {**self.enhancement.describe(), "gv_recorded": self._target_gv is not None,
                                "adversarial_postfilter": self._postfilter is not None}}
        prosody = self.model.prosody
        if hasattr(prosody, "label"):  # a prosody module with inference modes names model + mode
            info.update(system=prosody.label(), mode=prosody.inference, temperature=prosody.temperature)
        return info

    @property
    def wants_reference(self) -> bool:
        """Whether synthesis reads the recording of each text (oracle prosody)."""
        return bool(getattr(self.model.prosody, "wants_reference", False))

    def _reference_mel(self, i: int, text: str, references) -> tuple[np.ndarray, np.ndarray]:
        """Log-mel [T, 80] and waveform of text ``i``'s recording: given, or found in the corpus
        by its script."""
        from synthesis.audio.features import log_mel
        from synthesis.audio.io import load_audio

        if references is not None:
            wave = np.asarray(references[i], dtype=np.float32).reshape(-1)
        else:
            if self._recordings is None:
                from synthesis.corpus import default_corpus_path, load_corpus

                corpus = load_corpus(self._corpus_root or default_corpus_path())
                self._recordings = {}
                for clip in corpus.clips:
                    self._recordings[clip.text.strip()] = clip.wav_path
                    self._recordings.setdefault(clip.normalized_text.strip(), clip.wav_path)
            path = self._recordings.get(text.strip())
            if path is None:
                raise SynthesisError(f"text {i + 1} is not a corpus sentence, and oracle prosody needs its "
                                     f"recording: {text[:60]!r}")
            wave = load_audio(path)
        if wave.size < 2048:
            raise SynthesisError(f"the recording of text {i + 1} is too short for oracle prosody")
        return log_mel(wave).astype(np.float32), wave

    # --- synthesis ----------------------------------------------------------------------------
    def synthesise(self, texts: list[str], references: list[np.ndarray] | None = None) -> list[np.ndarray]:
        """One float32 waveform per text (22,050 Hz)."""
        return [d["waveform"] for d in self.synthesise_with_details(texts, references=references)]

    def synthesise_with_details(self, texts: list[str], duration_scale: float = 1.0,
                                references: list[np.ndarray] | None = None) -> list[dict]:
        """Waveforms plus durations, phonemes and word indices (see the module docstring).

        ``references`` (one 22,050 Hz recording per text) are read only in a mode that wants
        them (oracle prosody); each text is then synthesised in one piece, as recorded.
        """
        from synthesis.text.normalize import TextError, normalize_text
        from synthesis.training.data import collate, text_item_arrays

        if isinstance(texts, str):
            raise SynthesisError("synthesise expects a list of texts, got one string")
        if references is not None and len(references) != len(texts):
            raise SynthesisError(f"{len(references)} reference recordings for {len(texts)} texts")
        mels = {i: self._reference_mel(i, t, references) for i, t in enumerate(texts)} if self.wants_reference else {}
        chunks: list[tuple[int, object]] = []
        for i, text in enumerate(texts):
            if not isinstance(text, str) or not text.strip():
                raise SynthesisError(f"text {i + 1} is empty")
            try:
                # Split after normalisation, so "Mr. Smith" or "$5.50" never end a sentence.
                normalized = normalize_text(text).text
            except TextError:
                raise SynthesisError(f"text {i + 1} has no speakable English words: {text[:60]!r}") from None
            pieces = []
            # A recording covers its whole text: a mode that reads it (oracle) keeps the text in
            # one piece, since a word-level reference encoder (CAMP) aligns the recording's frames
            # to exactly these words.
            for piece in ([text] if mels else split_sentences(normalized)):
                try:
                    pieces.append(self.frontend.analyse(piece))
                except TextError:
                    continue  # a chunk of only punctuation or symbols: nothing to say there
            if not pieces:
                raise SynthesisError(f"text {i + 1} has no speakable English words: {text[:60]!r}")
            for a in pieces:
                for sub in ([a] if mels else self._limit(a)):
                    chunks.append((i, sub))
        order = sorted(range(len(chunks)), key=lambda k: len(chunks[k][1].phoneme_ids))
        results: dict[int, dict] = {}
        for s in range(0, len(order), BATCH_UTTERANCES):
            idx = order[s:s + BATCH_UTTERANCES]
            arrays = [text_item_arrays(chunks[k][1].to_arrays()) for k in idx]
            for a, k in zip(arrays, idx):
                if mels:
                    a["mel"], wave = mels[chunks[k][0]]
                    if self.model.cfg.alignment == "forced":
                        # the recording aligned as the training clips were (pocketsphinx);
                        # without one the model's own aligner places the phonemes
                        from synthesis.features.forced_alignment import recording_durations

                        durations = recording_durations(wave, a["phoneme_ids"], a["word_index"], len(a["mel"]))
                        if durations is not None:
                            a["durations"] = durations
            if not all("durations" in a for a in arrays):   # one batch, one kind of alignment
                for a in arrays:
                    a.pop("durations", None)
            batch = collate(arrays)
            batch = {k: v.to(self.device) for k, v in batch.items()}
            out = self.model.infer(batch, duration_scale=duration_scale)
            feats = out["features"].float().cpu().numpy()
            n_frames = out["frame_mask"].sum(1).cpu().numpy()
            durs = out["durations"].cpu().numpy()
            utterances = [self._enhance(feats[j, : n_frames[j]]) for j in range(len(idx))]
            waves = self.vocoder.synthesise_batch(utterances)
            for j, k in enumerate(idx):
                a = chunks[k][1]
                results[k] = {"analysis": a, "waveform": waves[j], "features": utterances[j],
                              "durations": durs[j, : len(a.phoneme_ids)]}
        return [self._merge(texts[i], [results[k] for k in range(len(chunks)) if chunks[k][0] == i])
                for i in range(len(texts))]

    def _load_postfilter(self, ckpt: dict):
        """The checkpoint's adversarial post-filter (None if it has none), checked against its weights."""
        from synthesis.models.postfilter import build_postfilter, weights_digest
        from synthesis.training.postfilter import POSTFILTER_KEY

        entry = ckpt.get(POSTFILTER_KEY)
        if entry is None:
            return None
        try:
            module = build_postfilter(entry["config"], entry["state_dict"])
        except (KeyError, ValueError, RuntimeError, ConfigError) as exc:
            raise CheckpointError(f"{self.path}: its post-filter cannot be rebuilt "
                                  f"({str(exc).splitlines()[0][:120]})") from None
        if entry.get("weights") != weights_digest(ckpt["state_dict"]):
            raise CheckpointError(f"{self.path}: its post-filter was trained on other acoustic weights; "
                                  "retrain it (synthesis train-postfilter --attach)")
        return module.to(self.device)

    def _apply_postfilter(self, feats: np.ndarray) -> np.ndarray:
        cfg = self._postfilter.cfg
        cols = slice(cfg.first_dim, cfg.end_dim)
        mean = self.model.target_mean.detach().cpu().numpy()[cols]
        std = self.model.target_std.detach().cpu().numpy()[cols]
        x = torch.from_numpy(((feats[:, cols] - mean) / std).astype(np.float32))[None].to(self.device)
        with torch.no_grad():
            y = self._postfilter(x)[0].cpu().numpy()
        out = feats.copy()
        out[:, cols] = y * std + mean
        return out

    def _enhance(self, feats: np.ndarray) -> np.ndarray:
        """The predicted features with the adversarial post-filter (when the checkpoint has one) and
        the spectral enhancement applied (see models.postfilter, features.enhance)."""
        from synthesis.features.enhance import enhance_features

        if self._postfilter is not None:
            feats = self._apply_postfilter(feats)
        if not self.enhancement.active:
            return feats
        kind = self.model.cfg.feature_kind
        to_log_sp, n_mcep = None, 60
        if kind == "world":
            from synthesis.vocoders.world import mcep_matrices

            n_mcep = self.vocoder.n_mcep
            _, to_log_sp = mcep_matrices(self.vocoder.fft_size, n_mcep, self.vocoder.alpha)
        return enhance_features(feats, kind, self._target_gv, self.enhancement, to_log_sp, n_mcep)

    def _limit(self, analysis) -> list:
        """Split an analysis that is still too long at word boundaries (re-analysed)."""
        if len(analysis.phoneme_ids) <= MAX_CHUNK_PHONEMES:
            return [analysis]
        words = analysis.normalized.split()
        half = len(words) // 2
        out = []
        for part in (" ".join(words[:half]), " ".join(words[half:])):
            out.extend(self._limit(self.frontend.analyse(part)))
        return out

    def _merge(self, text: str, parts: list[dict]) -> dict:
        gap = np.zeros(int(CHUNK_PAUSE_S * self.sample_rate), np.float32)
        waves, feats, durs, phones, widx, words = [], [], [], [], [], []
        for n, p in enumerate(parts):
            a = p["analysis"]
            if n:
                waves.append(gap)
            waves.append(p["waveform"].astype(np.float32))
            feats.append(p["features"])
            durs.append(p["durations"].astype(np.int64))
            phones.extend(a.phonemes)
            wi = a.word_index.astype(np.int64)
            widx.append(np.where(wi >= 0, wi + len(words), -1))
            words.extend(a.words)
        wave = np.concatenate(waves)
        peak = float(np.max(np.abs(wave))) if wave.size else 0.0
        if peak > 0.99:  # WORLD output can overshoot slightly; keep it writable as PCM
            wave = wave * (0.99 / peak)
        return {"text": text, "normalized_text": " ".join(p["analysis"].normalized for p in parts),
                "waveform": wave.astype(np.float32), "features": np.concatenate(feats),
                "durations": np.concatenate(durs), "phonemes": phones, "word_index": np.concatenate(widx),
                "words": words, "sample_rate": self.sample_rate}
