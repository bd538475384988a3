import numpy as np
import pytest

from synthesis.corpus import chapter_of
from synthesis.features.pitch_levels import chapter_pitch_levels, clip_median_f0, pitch_warnings


def test_clip_median_ignores_unvoiced_frames():
    assert clip_median_f0(np.array([0, 0, 200.0, 220.0, 210.0])) == pytest.approx(210.0)
    assert clip_median_f0(np.zeros(5)) is None


def test_chapter_from_ljspeech_ids():
    assert chapter_of("LJ003-0016") == "LJ003"
    assert chapter_of("clip7") == "clip7"


def test_ids_without_chapters_are_never_flagged():
    """Another corpus's ids without a dash are one-clip chapters: no level to compare."""
    levels = chapter_pitch_levels({"a": 100.0, "b": 200.0, "c": 400.0})
    assert len(levels) == 3 and pitch_warnings(levels) == []


def test_a_chapter_an_octave_down_is_flagged_and_ordinary_spread_is_not():
    medians = {f"LJ001-{i:04d}": 212 * 2 ** (d / 12) for i, d in enumerate([-2, 0, 1, 2, -1])}
    medians.update({f"LJ002-{i:04d}": 180.0 for i in range(5)})
    medians.update({f"LJ003-{i:04d}": 105.0 for i in range(6)})
    levels = {c.chapter: c for c in chapter_pitch_levels(medians)}
    assert levels["LJ001"].median_hz == pytest.approx(212.0)
    assert levels["LJ003"].n_clips == 6
    # the typical chapter is LJ002 (median of 212, 180, 105); LJ001 is < 3 semitones above it
    assert levels["LJ002"].semitones_from_typical == pytest.approx(0.0)
    assert not levels["LJ001"].outlier
    assert levels["LJ003"].semitones_from_typical == pytest.approx(12 * np.log2(105 / 180))
    assert levels["LJ003"].outlier
    warnings = pitch_warnings(list(levels.values()))
    assert len(warnings) == 1 and warnings[0].startswith("chapter LJ003: median F0 105 Hz over 6 clips")


def test_no_clips_or_no_voiced_clips_give_no_summary():
    assert chapter_pitch_levels({}) == []
    assert chapter_pitch_levels({"LJ001-0001": None}) == []
