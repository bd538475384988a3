"""Reference-based metrics of one synthesised utterance against its recording (pure numpy).

Every function takes frame-level features already computed (``features.analyse_utterance``)
or plain word lists, and returns plain floats, so each can be tested against an independent
computation. Frames are at the shared rate (hop 256 at 22,050 Hz).

References:
    Kubichek, R. (1993). Mel-cepstral distance measure for objective speech quality
    assessment. IEEE PACRIM, 125-128. (MCD; with DTW as in most TTS papers since.)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: 10 / ln(10) * sqrt(2): turns a Euclidean distance between mel-cepstra into decibels.
MCD_DB_FACTOR = 10.0 / np.log(10.0) * np.sqrt(2.0)


def mcd_frame_distances(mcep_a: np.ndarray, mcep_b: np.ndarray) -> np.ndarray:
    """Pairwise per-frame mel-cepstral distortion in dB.

    Args:
        mcep_a: ``[Ta, D]`` mel-cepstra without c0 (energy is excluded from MCD).
        mcep_b: ``[Tb, D]`` likewise.

    Returns:
        ``[Ta, Tb]``: ``10/ln10 * sqrt(2 * sum_d (a_d - b_d)^2)`` for every frame pair.
    """
    a = np.asarray(mcep_a, dtype=np.float64)
    b = np.asarray(mcep_b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"mel-cepstra must be [T, D] with equal D, got {list(a.shape)} and {list(b.shape)}")
    if len(a) == 0 or len(b) == 0:
        raise ValueError("mel-cepstra must have at least one frame")
    sq = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return MCD_DB_FACTOR * np.sqrt(np.maximum(sq, 0.0))


def dtw_path(cost: np.ndarray) -> np.ndarray:
    """Minimum-cost monotonic alignment through a cost matrix.

    Steps (1, 1), (1, 0), (0, 1) with equal weights, from (0, 0) to (Ta-1, Tb-1)
    (librosa.sequence.dtw).

    Args:
        cost: ``[Ta, Tb]`` local costs.

    Returns:
        ``[L, 2]`` int index pairs ``(i, j)`` in increasing order.
    """
    import librosa

    _, path = librosa.sequence.dtw(C=np.asarray(cost, dtype=np.float64), backtrack=True)
    return np.ascontiguousarray(path[::-1]).astype(np.int64)


def mcd_dtw(mcep_sys: np.ndarray, mcep_ref: np.ndarray) -> tuple[float, np.ndarray]:
    """Mel-cepstral distortion (dB) after dynamic time warping, and the warping path.

    The path minimises the summed frame MCD; the score is the mean frame MCD along it.

    Args:
        mcep_sys: ``[Ts, D]`` mel-cepstra (c1..cD) of the system's output.
        mcep_ref: ``[Tr, D]`` mel-cepstra of the recording.

    Returns:
        ``(mcd_db, path [L, 2])`` with path rows ``(system frame, recording frame)``.
    """
    cost = mcd_frame_distances(mcep_sys, mcep_ref)
    path = dtw_path(cost)
    return float(cost[path[:, 0], path[:, 1]].mean()), path


#: a frame whose F0 is off by more than 20 % is a gross pitch error (Chu & Alwan 2009), which
#: catches octave jumps of the F0 tracker rather than a different melody
GROSS_ERROR_RATIO = 0.2


@dataclass(frozen=True)
class F0Scores:
    rmse_hz: float
    rmse_cents: float
    log_f0_corr: float
    n_frames: int
    gross_error_rate: float = float("nan")
    fine_rmse_cents: float = float("nan")
    level_offset_cents: float = float("nan")
    shape_rmse_cents: float = float("nan")


def f0_scores_on_path(f0_sys: np.ndarray, f0_ref: np.ndarray, path: np.ndarray) -> F0Scores:
    """F0 errors over the frame pairs of a warping path that are voiced in both signals.

    Args:
        f0_sys: ``[Ts]`` F0 in Hz, 0 where unvoiced.
        f0_ref: ``[Tr]`` likewise for the recording.
        path: ``[L, 2]`` pairs ``(system frame, recording frame)``.

    Returns:
        RMSE in Hz and in cents (1200 log2 of the ratio), and the Pearson correlation of
        log-F0; NaN where fewer than two frames are voiced in both (correlation needs spread).
        Also the share of gross pitch errors (off by more than 20 %) and the RMSE in cents over
        the other frames: Harvest halves or doubles F0 on a few percent of the frames of
        resynthesised speech, and a few such frames dominate the plain RMSE.
        And the split of the RMSE in cents into pitch level and contour shape
        (``rmse_cents**2 == level_offset_cents**2 + shape_rmse_cents**2``): the mean log-ratio
        over the frames (signed, system above the recording > 0) and the RMSE left after
        removing it. A voice pitched an octave away everywhere has a large level offset and no
        shape error; a flat melody at the right level the reverse.
    """
    fs = np.asarray(f0_sys, dtype=np.float64)[path[:, 0]]
    fr = np.asarray(f0_ref, dtype=np.float64)[path[:, 1]]
    both = (fs > 0) & (fr > 0)
    n = int(both.sum())
    if n == 0:
        return F0Scores(float("nan"), float("nan"), float("nan"), 0)
    fs, fr = fs[both], fr[both]
    rmse_hz = float(np.sqrt(np.mean((fs - fr) ** 2)))
    cents = 1200.0 * np.log2(fs / fr)
    rmse_cents = float(np.sqrt(np.mean(cents ** 2)))
    ls, lr = np.log(fs), np.log(fr)
    if n < 2 or ls.std() < 1e-12 or lr.std() < 1e-12:  # a flat track (up to rounding) has no correlation
        corr = float("nan")
    else:
        corr = float(np.corrcoef(ls, lr)[0, 1])
    gross = np.abs(fs / fr - 1.0) > GROSS_ERROR_RATIO
    fine = float(np.sqrt(np.mean(cents[~gross] ** 2))) if (~gross).any() else float("nan")
    offset = float(cents.mean())
    shape = float(np.sqrt(np.mean((cents - offset) ** 2)))
    return F0Scores(rmse_hz, rmse_cents, corr, n, float(gross.mean()), fine, offset, shape)


def phone_aligned_path(durations_sys, durations_ref, offset_sys: int = 0, offset_ref: int = 0,
                       n_sys: int | None = None, n_ref: int | None = None) -> np.ndarray:
    """Frame pairs that match each phoneme's frames in two signals, proportionally within it.

    Both signals are forced-aligned to the same phoneme sequence (``durations_*``: frames per
    phoneme, from the start of each waveform). Phoneme i spans ``d_s`` system frames and
    ``d_r`` recording frames; its ``max(d_s, d_r)`` pairs step through both spans at their own
    rates, so the k-th tenth of a vowel is compared with the k-th tenth of the same vowel. A
    phoneme missing from either side (0 frames) contributes nothing. Unlike DTW on spectra, the
    path cannot be pulled off course by a spectrum that resembles the recording's nowhere.

    Args:
        offset_sys, offset_ref: frames to subtract from the alignments' positions, for frame
            features computed on a trimmed part of the waveform (``UtteranceAnalysis``).
        n_sys, n_ref: number of frames of those features; pairs outside are dropped.

    Returns:
        ``[L, 2]`` int pairs ``(system frame, recording frame)``; empty when the phoneme
        sequences differ in length or either is missing.
    """
    if durations_sys is None or durations_ref is None or len(durations_sys) != len(durations_ref):
        return np.zeros((0, 2), dtype=np.int64)
    ds = np.asarray(durations_sys, dtype=np.int64)
    dr = np.asarray(durations_ref, dtype=np.int64)
    starts_s = np.concatenate([[0], np.cumsum(ds)[:-1]]) - offset_sys
    starts_r = np.concatenate([[0], np.cumsum(dr)[:-1]]) - offset_ref
    pairs = []
    for s0, r0, a, b in zip(starts_s, starts_r, ds, dr):
        if a <= 0 or b <= 0:
            continue
        m = max(a, b)
        k = (np.arange(m) + 0.5) / m
        pairs.append(np.stack([s0 + np.floor(k * a), r0 + np.floor(k * b)], axis=1))
    if not pairs:
        return np.zeros((0, 2), dtype=np.int64)
    path = np.concatenate(pairs).astype(np.int64)
    keep = (path[:, 0] >= 0) & (path[:, 1] >= 0)
    if n_sys is not None:
        keep &= path[:, 0] < n_sys
    if n_ref is not None:
        keep &= path[:, 1] < n_ref
    return path[keep]


#: interquartile range of a normal distribution in standard deviations (2 * 0.6745)
IQR_PER_STD = 1.3490


def log_f0_std(f0: np.ndarray) -> float:
    """Robust standard deviation of log-F0 over voiced frames: IQR / 1.349; NaN with < 2 voiced.

    The interquartile range equals the standard deviation for normally distributed values but
    ignores the F0 tracker's octave jumps and voicing-edge spikes, which on vocoded speech
    dominate the plain standard deviation: re-synthesised monotone speech had a plain-std ratio
    of 0.50 to its recording and an IQR ratio of 0.03 (benchmarks/results/evaluation_sensitivity.md).
    """
    f0 = np.asarray(f0, dtype=np.float64)
    voiced = f0[f0 > 0]
    if len(voiced) < 2:
        return float("nan")
    q1, q3 = np.percentile(np.log(voiced), [25, 75])
    return float((q3 - q1) / IQR_PER_STD)


def f0_std_ratio(f0_sys: np.ndarray, f0_ref: np.ndarray) -> float:
    """Pitch range of the system relative to the recording: robust std of log-F0, system / recording.

    Measured in the log domain (i.e. in semitones) so that a voice pitched higher overall is
    not counted as livelier, and robustly (``log_f0_std``) so that F0-tracking errors are not
    counted as range. Flat prosody gives < 1; needs no alignment.
    """
    ref = log_f0_std(f0_ref)
    if not ref > 0:
        return float("nan")
    return log_f0_std(f0_sys) / ref


def duration_ratio(seconds_sys: float, seconds_ref: float) -> float:
    """Speaking time of the system over the recording's (both trimmed of edge silence)."""
    if seconds_ref <= 0:
        raise ValueError(f"reference duration must be positive, got {seconds_ref}")
    return float(seconds_sys) / float(seconds_ref)


# ---------------------------------------------------------------------------------------------
# Word-level alignment: edit distance


def align_words(ref: list[str], hyp: list[str]) -> list[tuple[int | None, int | None]]:
    """Levenshtein alignment of two word lists (substitution, deletion, insertion cost 1).

    Returns:
        Pairs ``(ref index or None, hyp index or None)`` in order: both set for a match or a
        substitution, ref only for a deletion, hyp only for an insertion. Among alignments of
        equal cost, matches and substitutions are preferred over insertion + deletion.
    """
    n, m = len(ref), len(hyp)
    dist = np.zeros((n + 1, m + 1), dtype=np.int64)
    dist[:, 0] = np.arange(n + 1)
    dist[0, :] = np.arange(m + 1)
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            sub = dist[i - 1, j - 1] + (ref[i - 1] != hyp[j - 1])
            dist[i, j] = min(sub, dist[i - 1, j] + 1, dist[i, j - 1] + 1)
    pairs: list[tuple[int | None, int | None]] = []
    i, j = n, m
    while i > 0 or j > 0:
        if i > 0 and j > 0 and dist[i, j] == dist[i - 1, j - 1] + (ref[i - 1] != hyp[j - 1]):
            pairs.append((i - 1, j - 1))
            i, j = i - 1, j - 1
        elif i > 0 and dist[i, j] == dist[i - 1, j] + 1:
            pairs.append((i - 1, None))
            i -= 1
        else:
            pairs.append((None, j - 1))
            j -= 1
    return pairs[::-1]


@dataclass(frozen=True)
class WordErrors:
    substitutions: int
    deletions: int
    insertions: int
    n_ref: int

    @property
    def errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions

    @property
    def wer(self) -> float:
        """Word error rate as a fraction (may exceed 1 with many insertions)."""
        if self.n_ref == 0:
            return 0.0 if self.errors == 0 else float("inf")
        return self.errors / self.n_ref


def word_errors(ref: list[str], hyp: list[str]) -> WordErrors:
    """Substitutions, deletions and insertions of ``hyp`` against ``ref`` (already normalised)."""
    s = d = ins = 0
    for r, h in align_words(ref, hyp):
        if r is None:
            ins += 1
        elif h is None:
            d += 1
        elif ref[r] != hyp[h]:
            s += 1
    return WordErrors(s, d, ins, len(ref))


def word_duration_error(ref_spans: list[tuple[str, float, float]],
                        sys_spans: list[tuple[str, float, float]]) -> tuple[float, int]:
    """Mean absolute difference of word durations, over words recognised identically in both.

    Args:
        ref_spans: ``(normalised word, start s, end s)`` of the recording, in order.
        sys_spans: the same for the system's output.

    Returns:
        ``(mean |duration difference| in seconds, number of matched words)``; NaN with none.
    """
    pairs = align_words([w for w, _, _ in ref_spans], [w for w, _, _ in sys_spans])
    diffs = [abs((sys_spans[h][2] - sys_spans[h][1]) - (ref_spans[r][2] - ref_spans[r][1]))
             for r, h in pairs if r is not None and h is not None and ref_spans[r][0] == sys_spans[h][0]]
    if not diffs:
        return float("nan"), 0
    return float(np.mean(diffs)), len(diffs)


def phone_duration_error(ref_durations, sys_durations, frame_seconds: float) -> tuple[float, int]:
    """Mean absolute difference of the spoken phonemes' durations (frames of ``frame_seconds``),
    both forced-aligned to the same phoneme sequence.

    Returns:
        ``(mean |difference| in seconds, number of phonemes)``; NaN and 0 when either side has
        no alignment or the sequences differ in length.
    """
    if ref_durations is None or sys_durations is None or len(ref_durations) != len(sys_durations) \
            or len(ref_durations) == 0:
        return float("nan"), 0
    diff = np.abs(np.asarray(sys_durations, float) - np.asarray(ref_durations, float)) * frame_seconds
    return float(diff.mean()), int(diff.size)
