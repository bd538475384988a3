"""CAMP stage 2: each token's prosody vector and each phoneme's duration, from text only.

Inputs per token (word or punctuation mark), in groups that the ablations switch off:

========== ==================================================================================
group       features
========== ==================================================================================
bert        MiniLM (all-MiniLM-L6-v2) contextual vector, mean of the token's word pieces [384]
pos         universal part of speech (spaCy)
word_class  open (content) or closed (function) class
noun_chunk  position in its noun chunk (from the start and from the end), chunk length,
            whether it is the chunk's head (the token whose syntactic head lies outside it)
punctuation the token's own mark (0 for a word), the mark right after it, words to the next
            and since the previous mark, position in its sentence (words from the start,
            words to the end, and relative position)
========== ==================================================================================

The feature cache (``synthesis.text.syntax``) stores POS, open class, noun-chunk id/BIO,
heads, the mark after each token and the distances to marks; what this module adds is derived
from those arrays per text (``word_features``): position in chunk, chunk length, chunk head,
the token's own mark (from its phoneme symbol) and position in the sentence. Counts are
clipped (``MAX_COUNT``) and embedded, so a long list or sentence does not produce unseen values.

Context encoder: the concatenated inputs -> linear -> convolutions -> bidirectional LSTM over
the tokens -> a linear output of the (standardised) prosody vector. Before the vector
conditions the decoder, a per-dimension gain fitted on the training tokens after stage 2
(``prediction_gain``) restores the spread that MSE training takes away. Padding never changes a
real token's output: convolutions zero padded positions, the LSTM runs on packed sequences.

Duration model (trained jointly with the predictor, CAMP's finding): a convolutional
predictor over phonemes reading the frozen phoneme encoder output plus the predicted vector's
conditioning (through stage 1's frozen expansion) plus a projection of the token's context
state, so its loss also trains the context encoder. It predicts log(1 + frames) like the
backbone's, from whose stage-1 weights it starts, and is calibrated per symbol after training
as the baseline's duration pass is (``duration_bias``), so that the summed duration of each
symbol over the training split matches the recordings'.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from synthesis.models.layers import ConvPredictor, MaskedConv1d

SYNTAX_GROUPS = ("pos", "word_class", "noun_chunk", "punctuation")
INPUT_GROUPS = ("bert",) + SYNTAX_GROUPS
#: the ablations of the issue: BERT only, syntax only, both, and each syntax group left out
ABLATIONS: dict[str, tuple[str, ...]] = {
    "both": INPUT_GROUPS,
    "bert_only": ("bert",),
    "syntax_only": SYNTAX_GROUPS,
    **{f"no_{g}": tuple(x for x in INPUT_GROUPS if x != g) for g in SYNTAX_GROUPS},
}
MAX_COUNT = 15          # counts (positions, lengths, distances) are clipped to this before embedding
N_UPOS = 17             # len(synthesis.text.syntax.UPOS)
N_PUNCT = 10            # len(synthesis.text.tokens.PUNCT_CLASSES)
BERT_DIM = 384
INT_FEATURES = ("pos", "open_class", "chunk_pos", "chunk_from_end", "chunk_len", "chunk_head", "punct_self",
                "punct_after", "to_next_punct", "from_prev_punct", "sent_pos", "sent_from_end")
REQUIRED_KEYS = ("word_pos", "word_open_class", "word_chunk_id", "word_head", "word_punct_after",
                 "word_to_next_punct", "word_from_prev_punct", "word_sentence", "word_is_punct")


class MissingSyntaxError(ValueError):
    """The text features of a clip lack the syntax arrays CAMP's predictor reads."""


def word_features(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """CAMP's per-token inputs for one text (unpadded arrays as in the cache / ``text_item_arrays``).

    Args:
        arrays: ``word_*`` arrays ``[N]``, ``phoneme_ids`` and ``word_index`` ``[P]``.

    Returns:
        ``[N]`` int64 arrays named in ``INT_FEATURES`` (0 means "none / outside" wherever that
        applies, so padding with 0 is neutral) and ``sent_rel`` ``[N]`` float32 in [0, 1].

    Raises:
        MissingSyntaxError: a syntax array is absent.
    """
    from synthesis.text.phonemes import SYMBOL_TO_ID

    missing = [k for k in REQUIRED_KEYS if k not in arrays]
    if missing:
        raise MissingSyntaxError(f"no syntax features ({', '.join(missing)} missing)")
    n = len(arrays["word_pos"])
    clip = lambda a: np.minimum(np.asarray(a, np.int64), MAX_COUNT)
    chunk_id = np.asarray(arrays["word_chunk_id"], np.int64)
    head = np.asarray(arrays["word_head"], np.int64)
    chunk_pos = np.zeros(n, np.int64)
    chunk_from_end = np.zeros(n, np.int64)
    chunk_len = np.zeros(n, np.int64)
    chunk_head = np.zeros(n, np.int64)
    for c in np.unique(chunk_id[chunk_id >= 0]):
        members = np.flatnonzero(chunk_id == c)
        lo, hi = members.min(), members.max()
        chunk_pos[members] = members - lo + 1
        chunk_from_end[members] = hi - members + 1
        chunk_len[members] = len(members)
        outside = (head[members] < lo) | (head[members] > hi) | (head[members] == members)
        chunk_head[members] = np.where(outside, 2, 1)
    punct_first = SYMBOL_TO_ID["punct:,"]
    punct_self = np.zeros(n, np.int64)
    for pid, wi in zip(np.asarray(arrays["phoneme_ids"], np.int64), np.asarray(arrays["word_index"], np.int64)):
        if 0 <= wi < n and punct_first <= pid < punct_first + N_PUNCT:
            punct_self[wi] = pid - punct_first + 1
    is_word = ~np.asarray(arrays["word_is_punct"], bool)
    sentence = np.asarray(arrays["word_sentence"], np.int64)
    sent_pos = np.zeros(n, np.int64)
    sent_from_end = np.zeros(n, np.int64)
    sent_rel = np.zeros(n, np.float32)
    for s in np.unique(sentence):
        members = np.flatnonzero(sentence == s)
        words_before = np.cumsum(is_word[members]) - is_word[members]
        total = int(is_word[members].sum())
        sent_pos[members] = words_before
        sent_from_end[members] = total - words_before - is_word[members]
        sent_rel[members] = words_before / max(total - 1, 1)
    return {
        "pos": np.asarray(arrays["word_pos"], np.int64) + 1,          # 0 is padding
        "open_class": np.asarray(arrays["word_open_class"], np.int64) + 1,
        "chunk_pos": clip(chunk_pos), "chunk_from_end": clip(chunk_from_end), "chunk_len": clip(chunk_len),
        "chunk_head": chunk_head,
        "punct_self": punct_self, "punct_after": np.asarray(arrays["word_punct_after"], np.int64) + 1,
        "to_next_punct": clip(arrays["word_to_next_punct"]), "from_prev_punct": clip(arrays["word_from_prev_punct"]),
        "sent_pos": clip(sent_pos), "sent_from_end": clip(sent_from_end), "sent_rel": np.clip(sent_rel, 0.0, 1.0),
    }


def batch_word_features(batch: dict) -> dict[str, torch.Tensor]:
    """``word_features`` of every text of a collated batch, padded to ``[B, N]`` with zeros."""
    B, N = batch["word_pos"].shape
    device = batch["word_pos"].device
    out = {k: torch.zeros(B, N, dtype=torch.long) for k in INT_FEATURES}
    out["sent_rel"] = torch.zeros(B, N)
    for b in range(B):
        n, p = int(batch["word_lens"][b]), int(batch["phone_lens"][b])
        arrays = {k: batch[k][b, :n].cpu().numpy() for k in REQUIRED_KEYS}
        arrays["phoneme_ids"] = batch["phoneme_ids"][b, :p].cpu().numpy()
        arrays["word_index"] = batch["word_index"][b, :p].cpu().numpy()
        for k, v in word_features(arrays).items():
            out[k][b, :n] = torch.from_numpy(v)
    return {k: v.to(device) for k, v in out.items()}


def has_syntax(arrays: dict[str, np.ndarray]) -> bool:
    """False for text features made without the parser (``TextFrontend(with_syntax=False)``
    writes every dependency label as ROOT, every head as the token itself and no chunks)."""
    if any(k not in arrays for k in REQUIRED_KEYS + ("word_dep",)):
        return False
    n = len(arrays["word_pos"])
    return n == 1 or bool((np.asarray(arrays["word_head"]) != np.arange(n)).any())


def _defaults_if_missing(module, state_dict, prefix, *args) -> None:
    """Stage-2 files from before the gain and the duration calibration load without either."""
    if prefix + "vector_std" not in state_dict:
        return
    state_dict.setdefault(prefix + "vector_gain", torch.ones_like(module.vector_gain))
    state_dict.setdefault(prefix + "duration_bias", torch.zeros_like(module.duration_bias))


def prediction_gain(predicted: np.ndarray, max_gain: float = 3.0) -> np.ndarray:
    """Per-dimension gain ``[k]`` that gives standardised predictions ``[n, k]`` (over training
    tokens) the unit spread of the stage-1 vectors they stand for.

    A predictor trained with MSE shrinks its output towards the mean (by its correlation with
    the target); the frozen decoder only ever saw vectors with the recordings' spread and turns
    shrunken ones into flatter prosody. As the global variance of acoustic features is
    restored at synthesis (Toda and Tokuda 2007), this restores the vectors' spread. Clipped to
    [1, max_gain]: it never shrinks, and a near-constant dimension is not blown up.
    """
    std = np.asarray(predicted, np.float64).std(0)
    return np.clip(1.0 / np.maximum(std, 1e-6), 1.0, max_gain).astype(np.float32)


def lengths_mask(lengths: torch.Tensor, n: int) -> torch.Tensor:
    return torch.arange(n, device=lengths.device)[None, :] < lengths[:, None]


class WordInputs(nn.Module):
    """Embeds the enabled input groups of each token and concatenates them -> ``[B, N, in_dim]``."""

    EMBED: ClassVar[dict[str, tuple[str, int, int]]] = {  # feature -> (group, number of values, embedding size)
        "pos": ("pos", N_UPOS + 1, 16), "open_class": ("word_class", 3, 4),
        "chunk_pos": ("noun_chunk", MAX_COUNT + 1, 8), "chunk_from_end": ("noun_chunk", MAX_COUNT + 1, 8),
        "chunk_len": ("noun_chunk", MAX_COUNT + 1, 8), "chunk_head": ("noun_chunk", 3, 4),
        "punct_self": ("punctuation", N_PUNCT + 1, 8), "punct_after": ("punctuation", N_PUNCT + 1, 8),
        "to_next_punct": ("punctuation", MAX_COUNT + 1, 8), "from_prev_punct": ("punctuation", MAX_COUNT + 1, 8),
        "sent_pos": ("punctuation", MAX_COUNT + 1, 8), "sent_from_end": ("punctuation", MAX_COUNT + 1, 8),
    }

    def __init__(self, inputs: tuple[str, ...]):
        super().__init__()
        self.inputs = tuple(inputs)
        self.embeds = nn.ModuleDict({k: nn.Embedding(n, d) for k, (g, n, d) in self.EMBED.items() if g in self.inputs})
        self.in_dim = sum(e.embedding_dim for e in self.embeds.values())
        self.in_dim += BERT_DIM if "bert" in self.inputs else 0
        self.in_dim += 1 if "punctuation" in self.inputs else 0

    def forward(self, batch: dict, feats: dict[str, torch.Tensor]) -> torch.Tensor:
        parts = []
        if "bert" in self.inputs:
            parts.append(batch["word_vectors"].float())
        parts += [emb(feats[k]) for k, emb in self.embeds.items()]
        if "punctuation" in self.inputs:
            parts.append(feats["sent_rel"][..., None])
        return torch.cat(parts, dim=-1)


class CampPredictor(nn.Module):
    """Text -> standardised token prosody vectors ``[B, N, k]`` and phoneme log-durations ``[B, P]``.

    Args:
        d_model: backbone width C; bottleneck: k, the stage-1 vector size.
        inputs: enabled input groups (``INPUT_GROUPS``; an ablation of ``ABLATIONS``).
        hidden, conv_layers, conv_kernel, lstm_hidden, dropout: the context encoder.
        duration_hidden, duration_kernel, duration_dropout: the duration model (the backbone's
            duration predictor shape, so stage 2 can start from its weights).
    """

    def __init__(self, d_model: int, bottleneck: int, inputs: list[str] | tuple[str, ...] = INPUT_GROUPS,
                 hidden: int = 128, conv_layers: int = 3, conv_kernel: int = 3, lstm_hidden: int = 128,
                 dropout: float = 0.2, duration_hidden: int = 128, duration_kernel: int = 3,
                 duration_dropout: float = 0.3, n_symbols: int = 64):
        super().__init__()
        unknown = [g for g in inputs if g not in INPUT_GROUPS]
        if unknown or not inputs:
            raise ValueError(f"camp predictor inputs must be a non-empty subset of {', '.join(INPUT_GROUPS)}, "
                             f"got {list(inputs)}")
        self.inputs = tuple(g for g in INPUT_GROUPS if g in inputs)
        self.word_inputs = WordInputs(self.inputs)
        self.input_proj = nn.Linear(self.word_inputs.in_dim, hidden)
        self.convs = nn.ModuleList(MaskedConv1d(hidden, hidden, conv_kernel, padding=conv_kernel // 2)
                                   for _ in range(conv_layers))
        self.norms = nn.ModuleList(nn.LayerNorm(hidden) for _ in range(conv_layers))
        self.drop = nn.Dropout(dropout)
        self.lstm = nn.LSTM(hidden, lstm_hidden, batch_first=True, bidirectional=True)
        self.out = nn.Linear(2 * lstm_hidden, bottleneck)
        self.word_to_phone = nn.Linear(2 * lstm_hidden, d_model)
        self.duration = ConvPredictor(d_model, duration_hidden, duration_kernel, duration_dropout)
        # Standardisation of the stage-1 vectors over the training tokens (set by stage 2).
        self.register_buffer("vector_mean", torch.zeros(bottleneck))
        self.register_buffer("vector_std", torch.ones(bottleneck))
        # Variance restoration (set after stage 2, see ``prediction_gain``): per-dimension factor
        # on the standardised prediction before it conditions the decoder; files from before it
        # existed load with ones (no change).
        self.register_buffer("vector_gain", torch.ones(bottleneck))
        # Per-symbol log-duration offset added at synthesis, calibrated after stage 2 as the
        # baseline's duration pass does (synthesis.training.duration_stage); zeros: none.
        self.register_buffer("duration_bias", torch.zeros(n_symbols))
        self.register_load_state_dict_pre_hook(_defaults_if_missing)

    def encode_words(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Returns standardised vectors ``[B, N, k]``, context states ``[B, N, 2 * lstm_hidden]``
        and the token mask ``[B, N]``."""
        N = batch["word_pos"].shape[1]
        mask = lengths_mask(batch["word_lens"], N)
        feats = batch_word_features(batch)
        x = self.drop(F.relu(self.input_proj(self.word_inputs(batch, feats))))
        for conv, norm in zip(self.convs, self.norms):
            x = x + self.drop(norm(F.relu(conv(x, mask))))
        x = x * mask[..., None]
        packed = pack_padded_sequence(x, batch["word_lens"].clamp(min=1).cpu(), batch_first=True, enforce_sorted=False)
        h, _ = self.lstm(packed)
        h, _ = pad_packed_sequence(h, batch_first=True, total_length=N)
        h = h * mask[..., None]
        return self.out(h) * mask[..., None], h, mask

    def denormalise(self, vectors_n: torch.Tensor) -> torch.Tensor:
        return vectors_n * self.vector_std + self.vector_mean

    def log_durations(self, encoder_out: torch.Tensor, phone_mask: torch.Tensor, word_index: torch.Tensor,
                      conditioning: torch.Tensor, word_states: torch.Tensor) -> torch.Tensor:
        """``[B, P]`` log(1 + frames) from the encoder output ``[B, P, C]``, the vectors'
        conditioning ``[B, P, C]`` and the tokens' context states broadcast to their phonemes."""
        from synthesis.models.prosody.camp import broadcast_words

        x = encoder_out + conditioning + broadcast_words(self.word_to_phone(word_states), word_index)
        return self.duration(x * phone_mask[..., None], phone_mask)

    def forward(self, batch: dict, encoder_out: torch.Tensor, phone_mask: torch.Tensor, stage1) -> dict:
        """Text-only prediction through the frozen stage-1 module ``stage1`` (``CampProsody``).

        Returns ``vectors`` ``[B, N, k]`` (stage-1 scale), ``vectors_norm`` (standardised),
        ``log_durations`` ``[B, P]``, ``word_mask`` ``[B, N]``.
        """
        vectors_n, states, mask = self.encode_words(batch)
        # The duration model was trained on the predictions as they come; the decoder (stage 1)
        # on recordings' vectors, whose spread the gain restores.
        cond = stage1.condition(self.denormalise(vectors_n) * mask[..., None], batch["word_index"], phone_mask)
        log_dur = self.log_durations(encoder_out, phone_mask, batch["word_index"], cond, states)
        vectors = self.denormalise(vectors_n * self.vector_gain) * mask[..., None]
        return {"vectors": vectors, "vectors_norm": vectors_n, "log_durations": log_dur, "word_mask": mask,
                "calibrated_log_durations": log_dur + self.duration_bias[batch["phoneme_ids"]]}


class CampPredictorEnsemble(nn.Module):
    """``members`` predictors of one shape, each trained from its own seed with its own early
    stopping; their standardised vectors and raw log-durations are averaged.

    Why: on 423 training sentences a single predictor's validation error swings by +-0.05 from
    one validation pass to the next and by as much between seeds, so which weights early
    stopping keeps is largely chance (the 20-clip validation split cannot tell them apart).
    Averaging independently trained members removes that variance from the prediction. The
    gain and duration calibration are fitted on the averaged prediction (as for one predictor),
    so the members' own buffers stay neutral (gain 1, bias 0). Same interface as
    ``CampPredictor``.
    """

    def __init__(self, members: int, d_model: int, bottleneck: int, n_symbols: int = 64, **kwargs):
        super().__init__()
        if members < 2:
            raise ValueError(f"a camp predictor ensemble needs at least 2 members, got {members}")
        self.members = nn.ModuleList(CampPredictor(d_model=d_model, bottleneck=bottleneck, n_symbols=n_symbols, **kwargs)
                                     for _ in range(members))
        self.inputs = self.members[0].inputs
        self.register_buffer("vector_mean", torch.zeros(bottleneck))
        self.register_buffer("vector_std", torch.ones(bottleneck))
        self.register_buffer("vector_gain", torch.ones(bottleneck))
        self.register_buffer("duration_bias", torch.zeros(n_symbols))

    def denormalise(self, vectors_n: torch.Tensor) -> torch.Tensor:
        return vectors_n * self.vector_std + self.vector_mean

    def forward(self, batch: dict, encoder_out: torch.Tensor, phone_mask: torch.Tensor, stage1) -> dict:
        """As ``CampPredictor.forward``; ``vectors_norm`` and ``log_durations`` are the members' means."""
        outs = [m(batch, encoder_out, phone_mask, stage1) for m in self.members]
        vectors_n = torch.stack([o["vectors_norm"] for o in outs]).mean(0)
        log_dur = torch.stack([o["log_durations"] for o in outs]).mean(0)
        mask = outs[0]["word_mask"]
        vectors = self.denormalise(vectors_n * self.vector_gain) * mask[..., None]
        return {"vectors": vectors, "vectors_norm": vectors_n, "log_durations": log_dur, "word_mask": mask,
                "calibrated_log_durations": log_dur + self.duration_bias[batch["phoneme_ids"]]}


def build_predictor(d_model: int, bottleneck: int, members: int = 1, **kwargs) -> nn.Module:
    """One ``CampPredictor`` (``members`` = 1) or a ``CampPredictorEnsemble`` of ``members``."""
    if members == 1:
        return CampPredictor(d_model=d_model, bottleneck=bottleneck, **kwargs)
    return CampPredictorEnsemble(members, d_model=d_model, bottleneck=bottleneck, **kwargs)
