"""Pure evaluation functions against known answers and independent computations."""

from __future__ import annotations

import math

import numpy as np
import pytest

from synthesis.evaluation import metrics as M
from synthesis.evaluation.pauses import assign_to_gaps, pauses_at_punctuation, silent_runs
from synthesis.evaluation.stats import bootstrap_ci, paired_wilcoxon, ratio_of_sums
from synthesis.evaluation.text_norm import normalise_for_wer, script_words, word_key


def naive_dtw_cost(cost: np.ndarray) -> float:
    """Textbook O(n m) DTW total cost with steps (1,1), (1,0), (0,1): the independent reference."""
    n, m = cost.shape
    acc = np.full((n + 1, m + 1), np.inf)
    acc[0, 0] = 0.0
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            acc[i, j] = cost[i - 1, j - 1] + min(acc[i - 1, j - 1], acc[i - 1, j], acc[i, j - 1])
    return acc[n, m]


def naive_edit_distance(a: list[str], b: list[str]) -> int:
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i]
        for j, y in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y)))
        prev = cur
    return prev[-1]


# --- MCD and DTW -------------------------------------------------------------------------------

def test_frame_distances_match_the_kubichek_formula():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(5, 24)), rng.normal(size=(7, 24))
    got = M.mcd_frame_distances(a, b)
    for i in range(5):
        for j in range(7):
            want = 10.0 / math.log(10.0) * math.sqrt(2.0 * float(np.sum((a[i] - b[j]) ** 2)))
            assert got[i, j] == pytest.approx(want, rel=1e-9)


def test_mcd_of_a_constant_cepstral_offset_is_known():
    rng = np.random.default_rng(1)
    ref = rng.normal(size=(40, 24))
    sys = ref.copy()
    sys[:, 0] += 0.1  # c1 off by 0.1 in every frame
    mcd, path = M.mcd_dtw(sys, ref)
    assert mcd == pytest.approx(10.0 / math.log(10.0) * math.sqrt(2.0) * 0.1, rel=1e-6)
    assert np.array_equal(path, np.stack([np.arange(40), np.arange(40)], axis=1))
    assert M.mcd_dtw(ref, ref)[0] == pytest.approx(0.0, abs=1e-6)


def test_dtw_path_is_optimal_and_monotonic():
    rng = np.random.default_rng(2)
    cost = rng.random((13, 17))
    path = M.dtw_path(cost)
    assert tuple(path[0]) == (0, 0) and tuple(path[-1]) == (12, 16)
    steps = np.diff(path, axis=0)
    assert set(map(tuple, steps)) <= {(1, 1), (1, 0), (0, 1)}
    assert cost[path[:, 0], path[:, 1]].sum() == pytest.approx(naive_dtw_cost(cost))


def test_dtw_undoes_a_time_stretch():
    rng = np.random.default_rng(3)
    ref = np.cumsum(rng.normal(size=(50, 24)), axis=0)  # a smooth trajectory
    stretched = np.repeat(ref, 2, axis=0)              # the same utterance spoken at half speed
    mcd, path = M.mcd_dtw(stretched, ref)
    assert mcd == pytest.approx(0.0, abs=1e-6)
    assert np.all(path[:, 0] // 2 == path[:, 1])


def test_mcd_refuses_mismatched_orders():
    with pytest.raises(ValueError, match="equal D"):
        M.mcd_frame_distances(np.zeros((3, 24)), np.zeros((3, 12)))


# --- F0 ----------------------------------------------------------------------------------------

def test_f0_shifted_by_a_known_ratio():
    t = np.linspace(0, 1, 100)
    ref = 120 + 30 * np.sin(2 * np.pi * 2 * t)
    ref[::10] = 0.0                      # unvoiced frames in the reference
    sys = ref * 2 ** (100 / 1200)        # a hundred cents higher
    sys[5::10] = 0.0                     # and other unvoiced frames in the system
    path = np.stack([np.arange(100), np.arange(100)], axis=1)
    s = M.f0_scores_on_path(sys, ref, path)
    both = (ref > 0) & (sys > 0)
    assert s.n_frames == both.sum() == 80
    assert s.rmse_cents == pytest.approx(100.0, rel=1e-9)
    assert s.rmse_hz == pytest.approx(np.sqrt(np.mean((ref[both] * (2 ** (1 / 12) - 1)) ** 2)), rel=1e-9)
    assert s.log_f0_corr == pytest.approx(1.0, abs=1e-12)
    assert s.gross_error_rate == 0.0 and s.fine_rmse_cents == pytest.approx(100.0, rel=1e-9)
    # a pure level shift: all of the error is level, none is contour
    assert s.level_offset_cents == pytest.approx(100.0, rel=1e-9)
    assert s.shape_rmse_cents == pytest.approx(0.0, abs=1e-6)


def test_f0_error_splits_into_level_and_contour():
    t = np.linspace(0, 1, 200)
    ref = 200 * 2 ** (300 * np.sin(2 * np.pi * 3 * t) / 1200)    # +-300 cents of melody
    flat_low = np.full(200, 200 * 2 ** (-1200 / 1200))           # monotone an octave down
    path = np.stack([np.arange(200), np.arange(200)], axis=1)
    s = M.f0_scores_on_path(flat_low, ref, path)
    assert s.level_offset_cents == pytest.approx(-1200.0, abs=1.0)   # signed: the system is lower
    assert s.shape_rmse_cents == pytest.approx(300 / np.sqrt(2), rel=0.01)  # the melody it lacks
    assert s.rmse_cents ** 2 == pytest.approx(s.level_offset_cents ** 2 + s.shape_rmse_cents ** 2, rel=1e-9)
    assert np.isnan(s.log_f0_corr)   # a flat contour has no correlation


def test_octave_errors_are_counted_apart_from_the_melody():
    ref = np.full(100, 200.0)
    sys = ref * 2 ** (50 / 1200)     # fifty cents sharp throughout
    sys[:5] = ref[:5] / 2            # and five frames an octave low (a tracker error)
    path = np.stack([np.arange(100), np.arange(100)], axis=1)
    s = M.f0_scores_on_path(sys, ref, path)
    assert s.gross_error_rate == pytest.approx(0.05)
    assert s.fine_rmse_cents == pytest.approx(50.0, rel=1e-9)
    assert s.rmse_cents == pytest.approx(np.sqrt(0.95 * 50 ** 2 + 0.05 * 1200 ** 2), rel=1e-9)


def test_f0_scores_without_common_voiced_frames_are_nan():
    path = np.stack([np.arange(4), np.arange(4)], axis=1)
    s = M.f0_scores_on_path(np.array([0, 100, 0, 100.0]), np.array([100, 0, 100, 0.0]), path)
    assert s.n_frames == 0 and math.isnan(s.rmse_hz) and math.isnan(s.log_f0_corr)


def test_f0_std_ratio_sees_compressed_and_flat_prosody():
    rng = np.random.default_rng(4)
    ref = np.exp(np.log(150) + 0.2 * rng.normal(size=300))
    mean = np.log(ref).mean()
    half_range = np.exp(mean + 0.5 * (np.log(ref) - mean))
    assert M.f0_std_ratio(half_range, ref) == pytest.approx(0.5, rel=1e-9)
    assert M.f0_std_ratio(ref * 1.5, ref) == pytest.approx(1.0, rel=1e-9)  # register, not range
    assert M.f0_std_ratio(np.full(300, 150.0), ref) == pytest.approx(0.0, abs=1e-12)
    assert math.isnan(M.f0_std_ratio(ref, np.zeros(300)))


def test_f0_std_is_robust_to_octave_errors():
    rng = np.random.default_rng(7)
    ref = np.exp(np.log(150) + 0.15 * rng.normal(size=400))
    q1, q3 = np.percentile(np.log(ref), [25, 75])
    assert M.log_f0_std(ref) == pytest.approx((q3 - q1) / 1.349)
    assert M.log_f0_std(ref) == pytest.approx(0.15, rel=0.15)  # the IQR estimates sigma
    flat = np.full(400, 150.0)
    flat[::20] = 300.0   # 5 % octave jumps of the tracker on monotone speech
    flat[10::20] = 75.0
    assert M.f0_std_ratio(flat, ref) == pytest.approx(0.0, abs=1e-12)
    assert np.log(flat).std() / np.log(ref).std() > 1.0  # the plain std would call it lively


def test_duration_ratio():
    assert M.duration_ratio(3.0, 2.0) == 1.5
    with pytest.raises(ValueError):
        M.duration_ratio(1.0, 0.0)


# --- words ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("ref,hyp,subs,dels,ins", [
    ("the cat sat on the mat", "the cat sat on the mat", 0, 0, 0),
    ("the cat sat on the mat", "the cat sit on mat", 1, 1, 0),
    ("a b c", "x a b c y", 0, 0, 2),
    ("a b c d", "", 0, 4, 0),
])
def test_word_errors_known_strings(ref, hyp, subs, dels, ins):
    r, h = ref.split(), hyp.split()
    e = M.word_errors(r, h)
    assert (e.substitutions, e.deletions, e.insertions) == (subs, dels, ins)
    assert e.errors == naive_edit_distance(r, h)
    assert e.wer == pytest.approx(e.errors / len(r))


def test_word_errors_agree_with_naive_edit_distance_on_random_lists():
    rng = np.random.default_rng(5)
    vocab = list("abcde")
    for _ in range(50):
        r = list(rng.choice(vocab, size=rng.integers(0, 9)))
        h = list(rng.choice(vocab, size=rng.integers(0, 9)))
        assert M.word_errors(r, h).errors == naive_edit_distance(r, h)


def test_word_duration_error_uses_identical_words_only():
    ref = [("the", 0.0, 0.1), ("cat", 0.1, 0.5), ("sat", 0.5, 0.9)]
    sys = [("the", 0.0, 0.2), ("dog", 0.2, 0.5), ("sat", 0.5, 0.8)]
    err, n = M.word_duration_error(ref, sys)
    assert n == 2 and err == pytest.approx((0.1 + 0.1) / 2)
    assert math.isnan(M.word_duration_error(ref, [])[0])


# --- text normalisation ---------------------------------------------------------------------------

@pytest.mark.parametrize("a,b", [
    ("The Middle Ages, brought calligraphy!", "the middle ages brought calligraphy"),
    ("Mr. Smith paid in 1853.", "Mister Smith paid in eighteen fifty-three"),
    ("the honour of the colour", "the honor of the color"),
    ("it won't do", "it will not do"),
    ("twenty-five men", "25 men"),
    ("natural therefore...", "natural therefore"),
    ("The male debtors' side", "the male debtor's side"),  # one spoken form, two spellings
    ("it's the felon's cell", "it is the felons cell"),
])
def test_whisper_normaliser_makes_equivalent_writings_equal(a, b):
    assert normalise_for_wer(a) == normalise_for_wer(b)


def test_normaliser_keeps_real_differences():
    assert normalise_for_wer("there for") != normalise_for_wer("therefore")
    assert normalise_for_wer("...") == []


def test_script_words_mark_punctuation_junctions():
    keys, punct = script_words('black letter, i.e. the "press work" -- or (so) Mr. Smith said; done.')
    assert keys == ["black", "letter", "ie", "the", "press", "work", "or", "so", "mr", "smith", "said", "done"]
    assert punct == [False, True, False, False, False, True, True, True, False, False, True, True]
    assert word_key("John's,") == "johns"


# --- pauses ----------------------------------------------------------------------------------------

def test_silent_runs_skip_edges_and_short_gaps():
    frame = 0.01
    e = np.full(300, -10.0)
    e[:20] = -80       # leading silence: not a pause
    e[100:130] = -70   # 0.30 s pause
    e[200:205] = -70   # 0.05 s (a stop closure): too short
    e[280:] = -80      # trailing silence
    assert silent_runs(e, frame) == [pytest.approx((1.0, 1.3))]


def test_pauses_credited_to_punctuation_through_the_alignment():
    # script: "one, two three. four" -> junctions after one (comma), two, three (full stop)
    keys, punct = script_words("one, two three. four")
    # the recogniser heard "won two three four": one substitution keeps positions aligned
    hyp = ["won", "two", "three", "four"]
    spans = [(0.0, 0.4), (0.9, 1.2), (1.2, 1.6), (2.1, 2.5)]
    runs = [(0.45, 0.85), (1.65, 2.05), (3.5, 3.6)]  # after "one", after "three", one far away
    gaps, unassigned = assign_to_gaps(runs, spans)
    assert gaps == pytest.approx([0.4, 0.0, 0.4]) and unassigned == pytest.approx(0.1)
    s = pauses_at_punctuation(runs, hyp, spans, keys, punct)
    assert s.at_punctuation == pytest.approx(0.8)
    assert s.elsewhere == pytest.approx(0.1)
    assert s.total == pytest.approx(0.9)
    assert (s.n_punct_junctions, s.n_punct_paused) == (2, 2)


# --- statistics ------------------------------------------------------------------------------------

def test_bootstrap_ci_contains_the_mean_and_is_reproducible():
    rng = np.random.default_rng(6)
    x = rng.normal(3.0, 1.0, size=40)
    a, b = bootstrap_ci(x), bootstrap_ci(x)
    assert a == b
    assert a.value == pytest.approx(x.mean())
    assert a.ci_low < a.value < a.ci_high
    # the interval is about +-1.96 standard errors wide
    se = x.std(ddof=1) / np.sqrt(len(x))
    assert (a.ci_high - a.ci_low) / (2 * 1.96 * se) == pytest.approx(1.0, abs=0.15)
    const = bootstrap_ci(np.full(10, 2.0))
    assert (const.ci_low, const.ci_high) == (2.0, 2.0)


def test_bootstrap_of_a_ratio_of_sums_and_nan_rows():
    rows = np.array([[1, 10], [3, 10], [np.nan, np.nan]])
    est = bootstrap_ci(rows, ratio_of_sums)
    assert est.value == pytest.approx(0.2) and est.n == 2


def test_wilcoxon_exact_p_value():
    # six differences, all positive: exact two-sided p = 2 / 2^6
    a = np.array([1.0, 2, 3, 4, 5, 6]) + np.array([0.1, 0.3, 0.2, 0.6, 0.5, 0.4])
    b = np.array([1.0, 2, 3, 4, 5, 6])
    t = paired_wilcoxon(a, b)
    assert t.p_value == pytest.approx(2 / 64)
    assert t.median_difference == pytest.approx(0.35)
    assert math.isnan(paired_wilcoxon(b, b).p_value)


def test_results_json_writes_undefined_values_as_null():
    import json

    from synthesis.evaluation.runner import Evaluation

    ev = Evaluation(systems=[{"name": "s"}], clip_ids=["c"], groups=["f0", "wer"],
                    per_clip={"s": {"c": {"f0_rmse_hz": float("nan"), "wer": [np.int64(2), 0],
                                          "log_f0_corr": np.float32(0.5), "x": float("inf")}}})
    data = json.loads(json.dumps(ev.to_json(), allow_nan=False))
    assert data["per_clip"]["s"]["c"] == {"f0_rmse_hz": None, "wer": [2, 0], "log_f0_corr": 0.5, "x": None}


def test_phone_duration_error_compares_equal_length_alignments_only():
    from synthesis.evaluation.metrics import phone_duration_error

    err, n = phone_duration_error([4, 10, 6], [5, 8, 6], frame_seconds=0.01)
    assert n == 3 and err == pytest.approx(0.01)
    assert np.isnan(phone_duration_error([4, 10], [4, 10, 1], 0.01)[0])
    assert phone_duration_error(None, [1], 0.01)[1] == 0
    assert phone_duration_error([], [], 0.01)[1] == 0


def test_phone_aligned_path_steps_through_each_phoneme_at_both_rates():
    from synthesis.evaluation.metrics import phone_aligned_path

    # phoneme 0: 2 system frames against 4 recording frames; phoneme 1 is missing on the
    # system side (0 frames) and contributes nothing; phoneme 2: 3 against 3
    path = phone_aligned_path([2, 0, 3], [4, 2, 3])
    assert path.tolist() == [[0, 0], [0, 1], [1, 2], [1, 3], [2, 6], [3, 7], [4, 8]]
    # both sides monotonic, every frame of a phoneme used
    assert (np.diff(path, axis=0) >= 0).all()


def test_phone_aligned_path_places_trimmed_features_and_drops_what_falls_outside():
    from synthesis.evaluation.metrics import phone_aligned_path

    # the features start 2 frames into the system's wave and 1 into the recording's; the
    # recording's features hold 5 frames
    path = phone_aligned_path([3, 4], [2, 5], offset_sys=2, offset_ref=1, n_ref=5)
    assert path[:, 0].min() >= 0 and path[:, 1].max() < 5
    # phoneme 0 (3 against 2 frames) keeps its last pair only, (0, 0); phoneme 1 (4 against 5)
    # steps through frames 1-4 of each, its pair on recording frame 5 is dropped
    assert path.tolist() == [[0, 0], [1, 1], [2, 2], [3, 3], [3, 4]]
    # different phoneme sequences or a failed alignment: no pairs (the F0 scores become NaN)
    assert phone_aligned_path([1, 2], [1, 2, 3]).shape == (0, 2)
    assert phone_aligned_path(None, [1]).shape == (0, 2)
    from synthesis.evaluation.metrics import f0_scores_on_path

    assert np.isnan(f0_scores_on_path(np.ones(3), np.ones(3), phone_aligned_path(None, [1])).rmse_hz)


def test_phone_aligned_f0_is_exact_where_dtw_on_spectra_has_nothing_to_hold_on_to():
    from synthesis.evaluation.metrics import f0_scores_on_path, phone_aligned_path

    # the same rising-then-falling melody spoken at two tempos, phoneme by phoneme
    ref_d, sys_d = [10, 20, 10], [20, 10, 20]
    ref = np.concatenate([np.linspace(100, 200, 10), np.linspace(200, 150, 20), np.linspace(150, 100, 10)])
    sys_ = np.concatenate([np.linspace(100, 200, 20), np.linspace(200, 150, 10), np.linspace(150, 100, 20)])
    scores = f0_scores_on_path(sys_, ref, phone_aligned_path(sys_d, ref_d))
    assert scores.log_f0_corr > 0.98 and scores.rmse_hz < 6.0 and scores.gross_error_rate == 0.0
