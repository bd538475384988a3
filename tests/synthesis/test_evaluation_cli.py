"""`synthesis evaluate` end to end on real clips, its bad-input cases, and the two models."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from synthesis.cli import main
from synthesis.corpus import Split, save_split
from synthesis.errors import SynthesisError
from tests.synthesis.conftest import make_mini_corpus

CLIPS = ["LJ001-0002", "LJ002-0020", "LJ001-0008", "LJ002-0035"]
TEST_CLIPS = ("LJ001-0008", "LJ002-0020")  # the shortest: WORLD analysis dominates the run time


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, corpus):
    """A four-clip corpus whose test subset is two short clips, and a shared evaluation cache."""
    root = tmp_path_factory.mktemp("eval")
    corpus_dir = make_mini_corpus(root / "mini", corpus, CLIPS)
    split = Split("mini", "-", 1, train=("LJ001-0002",), validation=("LJ002-0035",), test=TEST_CLIPS)
    split_file = root / "split.json"
    save_split(split, split_file)
    return {"corpus": corpus_dir, "split": split_file, "cache": root / "cache", "root": root, "test": split.test}


def run(tiny, out: Path, *extra: str) -> int:
    return main(["evaluate", "--out", str(out), "--corpus", str(tiny["corpus"]), "--split-file", str(tiny["split"]),
                 "--cache", str(tiny["cache"]), "--quiet", *extra])


@pytest.mark.parametrize("args,message", [
    (["--checkpoint", "missing.pt"], "missing.pt: checkpoint file does not exist"),
    (["--metrics", "mcd", "loudness"], "unknown metric 'loudness'"),
    (["--split", "dev"], "unknown split 'dev'"),
    (["--limit", "0"], "--limit must be at least 1"),
    (["--workers", "0"], "--workers must be at least 1"),
    (["--copy-vocoder", "nosuch"], "unknown vocoder 'nosuch' for copy synthesis"),
    (["--copy-vocoder", "hifigan"], "the hifigan vocoder needs an external HiFi-GAN generator file"),
])
def test_bad_input_is_one_line_exit_2_and_no_output(tiny, tmp_path, capsys, args, message):
    out = tmp_path / "result"
    assert run(tiny, out, *args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("synthesis: error: ") and message in err and "\n" not in err
    assert not out.exists()
    assert not any(p.name.startswith(".result") for p in tmp_path.iterdir())


def test_missing_corpus_and_occupied_out_are_refused(tiny, tmp_path, capsys):
    assert main(["evaluate", "--out", str(tmp_path / "r"), "--corpus", str(tmp_path / "nope"), "--quiet"]) == 2
    assert "corpus folder does not exist" in capsys.readouterr().err
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("mine")
    assert run(tiny, busy, "--metrics", "mcd") == 2
    assert "not empty" in capsys.readouterr().err
    assert (busy / "keep.txt").read_text() == "mine"


def test_a_corrupt_checkpoint_is_refused_in_one_line(tiny, tmp_path, capsys):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    out = tmp_path / "r"
    assert run(tiny, out, "--checkpoint", str(bad), "--metrics", "mcd") == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("synthesis: error: ") and "\n" not in err
    assert not out.exists()


def test_a_checkpoint_the_loader_rejects_is_one_line(tiny, tmp_path, capsys, monkeypatch):
    import sys
    import types

    class Refusing:
        @classmethod
        def from_checkpoint(cls, path):
            raise RuntimeError("PytorchStreamReader failed reading zip archive\nfailed finding central directory")

    module = types.ModuleType("synthesis.inference")
    module.Synthesizer = Refusing
    monkeypatch.setitem(sys.modules, "synthesis.inference", module)
    ckpt = tmp_path / "truncated.pt"
    ckpt.write_bytes(b"PK\x03\x04")
    out = tmp_path / "r"
    assert run(tiny, out, "--checkpoint", str(ckpt), "--metrics", "mcd") == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"synthesis: error: {ckpt}: cannot load checkpoint (RuntimeError: PytorchStreamReader "
                   "failed reading zip archive)")
    assert not out.exists()


def test_small_real_run_scores_recordings_and_copy_synthesis(tiny, tmp_path, capsys):
    out = tmp_path / "result"
    assert run(tiny, out, "--metrics", "mcd", "f0", "f0_phones", "duration", "phone_durations", "--workers", "2") == 0
    printed = capsys.readouterr().out
    assert "| MCD (DTW) | dB |" in printed
    res = json.loads((out / "results.json").read_text())
    assert res["format_version"] == 1
    assert res["clip_ids"] == list(tiny["test"])
    assert [s["name"] for s in res["systems"]] == ["recordings", "copy-griffinlim", "copy-world"]
    summ = res["summary"]
    assert summ["recordings"]["mcd"]["value"] == pytest.approx(0.0, abs=1e-6)
    assert summ["recordings"]["f0_std_ratio"]["value"] == pytest.approx(1.0)
    # WORLD re-synthesises the envelope it analysed; Griffin-Lim's phase leaves artefacts.
    assert 1.0 < summ["copy-world"]["mcd"]["value"] < summ["copy-griffinlim"]["mcd"]["value"] < 12.0
    # pocketsphinx times the phonemes of every output: identical for the recordings themselves,
    # within a frame or two for copy synthesis (same timing, other waveform)
    assert summ["recordings"]["phone_duration_error"]["value"] == 0.0
    # ... so the phone-aligned F0 of the recordings against themselves is exact, and copy
    # synthesis (same melody, same timing) is compared frame by frame with its recording
    assert summ["recordings"]["f0_rmse_phone_hz"]["value"] == 0.0
    assert summ["recordings"]["log_f0_corr_phone"]["value"] == pytest.approx(1.0)
    for name in ("copy-world", "copy-griffinlim"):
        assert 0.0 < summ[name]["phone_duration_error"]["value"] < 0.02
        assert 0.8 < summ[name]["log_f0_corr_phone"]["value"] < 1.0
        assert summ[name]["duration_ratio"]["value"] == pytest.approx(1.0, abs=0.05)
        assert 0.8 < summ[name]["log_f0_corr"]["value"] <= 1.0
        assert 0.8 < summ[name]["f0_std_ratio"]["value"] < 1.3
    assert {t["metric"] for t in res["paired_tests"]} >= {"mcd", "f0_rmse_hz"}
    assert (out / "f0_contours.png").stat().st_size > 10_000
    for name in ("recordings", "copy-world", "copy-griffinlim"):
        assert sorted(p.stem for p in (out / "wavs" / name).glob("*.wav")) == sorted(tiny["test"])
    assert "| metric | unit | better | recordings | copy-griffinlim | copy-world |" in (out / "results.md").read_text()

    # A re-run takes everything from the cache: nothing is computed again.
    again = tmp_path / "again"
    assert run(tiny, again, "--metrics", "mcd", "f0", "f0_phones", "duration", "phone_durations", "--no-wavs") == 0
    res2 = json.loads((again / "results.json").read_text())
    assert all(stages == {} for stages in res2["timings"].values())
    assert res2["summary"] == summ
    assert not (again / "wavs").exists()


def install_fake_synthesizer(monkeypatch) -> None:
    """Replace synthesis.inference by a stand-in whose 'checkpoint' file holds an output gain."""
    import sys
    import types

    class FakeSynthesizer:
        def __init__(self, gain):
            self.gain = gain

        @classmethod
        def from_checkpoint(cls, path, vocoder=None):
            # a replacement vocoder (`--vocoder NAME=VOCODER`) halves the gain
            synth = cls(float(Path(path).read_text()) * (0.5 if vocoder else 1.0))
            synth.vocoder_name = vocoder or "own"
            return synth

        def describe(self):
            return {"system": "fake", "gain": self.gain, "vocoder": {"name": self.vocoder_name}}

        def synthesise(self, texts):
            # stands in for TTS: a 1.2 s vowel-like buzz whose pitch falls, per text
            sr, t = 22_050, np.arange(int(1.2 * 22_050)) / 22_050
            f0 = 180 - 40 * t
            phase = 2 * np.pi * np.cumsum(f0) / sr
            wave = sum(np.sin(k * phase) / k for k in range(1, 12))
            return [(self.gain * 0.2 * wave).astype(np.float32) for _ in texts]

    module = types.ModuleType("synthesis.inference")
    module.Synthesizer = FakeSynthesizer
    monkeypatch.setitem(sys.modules, "synthesis.inference", module)


def test_checkpoint_systems_are_scored_and_compared(tiny, tmp_path, monkeypatch):
    """Two stand-in checkpoints through the Synthesizer interface: columns and Wilcoxon tests."""
    from synthesis.evaluation.pipeline import EvaluationRequest, run_evaluation

    install_fake_synthesizer(monkeypatch)
    ckpts = []
    for gain in ("1.0", "0.5"):
        p = tmp_path / f"fake{gain}.pt"
        p.write_text(gain)
        ckpts.append(p)
    req = EvaluationRequest(checkpoints=ckpts, out=tmp_path / "r", corpus=tiny["corpus"], split_file=tiny["split"],
                            cache=tiny["cache"], metrics=["mcd", "duration"], progress=False)
    ev, out = run_evaluation(req)
    names = [s["name"] for s in ev.systems]
    assert names == ["recordings", "copy-griffinlim", "copy-world", "fake", "fake-2"]
    assert {(t["a"], t["b"]) for t in ev.paired_tests} == {("fake", "fake-2")}
    assert ev.summary["fake"]["mcd"]["value"] > ev.summary["copy-world"]["mcd"]["value"]
    # MCD ignores level (c0 is excluded): the two fakes differ only in gain
    assert ev.summary["fake"]["mcd"]["value"] == pytest.approx(ev.summary["fake-2"]["mcd"]["value"], rel=0.02)
    assert "fake vs fake-2" in (out / "results.md").read_text()


def test_named_checkpoints_are_compared_to_one_of_them(tiny, tmp_path, monkeypatch, capsys):
    """`--checkpoint NAME=PATH` names the column; `--compare-to` tests each against that one only."""
    install_fake_synthesizer(monkeypatch)
    paths = {}
    for name, gain in (("base", "1.0"), ("quiet", "0.5"), ("loud", "1.5")):
        paths[name] = tmp_path / f"{name}.pt"
        paths[name].write_text(gain)
    args = [a for name in paths for a in ("--checkpoint", f"{name}={paths[name]}")]
    out = tmp_path / "r"
    assert run(tiny, out, *args, "--metrics", "mcd", "--compare-to", "base", "--no-wavs") == 0
    results = json.loads((out / "results.json").read_text())
    assert [s["name"] for s in results["systems"]][3:] == ["base", "quiet", "loud"]
    assert {(t["a"], t["b"]) for t in results["paired_tests"]} == {("quiet", "base"), ("loud", "base")}
    capsys.readouterr()
    assert run(tiny, tmp_path / "r2", *args, "--compare-to", "nobody") == 2
    assert "--compare-to 'nobody' is not one of the checkpoints" in capsys.readouterr().err
    assert run(tiny, tmp_path / "r3", "--checkpoint", f"recordings={paths['base']}") == 2
    assert "names a built-in column" in capsys.readouterr().err


def test_harvest_f0_of_a_tone_shifted_by_a_known_ratio():
    """Through the real analysis: a 200-cent shift of a harmonic tone is measured as 200 cents."""
    from synthesis.evaluation.features import analyse_utterance
    from synthesis.evaluation.metrics import f0_scores_on_path, mcd_dtw

    sr = 22_050
    t = np.arange(sr) / sr

    def tone(f0):
        return (0.3 * sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 8))).astype(np.float32)

    ref, sys = analyse_utterance(tone(150.0)), analyse_utterance(tone(150.0 * 2 ** (200 / 1200)))
    _, path = mcd_dtw(sys.mcep, ref.mcep)
    s = f0_scores_on_path(sys.f0, ref.f0, path)
    assert s.n_frames > 60
    assert s.rmse_cents == pytest.approx(200.0, abs=10.0)


def test_whisper_transcribes_a_recording(corpus):
    """The offline Whisper base loads and understands a corpus clip (WER < 30 %)."""
    from synthesis.audio.io import load_audio
    from synthesis.evaluation.asr import transcribe
    from synthesis.evaluation.metrics import word_errors
    from synthesis.evaluation.text_norm import normalise_for_wer

    clip = corpus.by_id()["LJ001-0002"]
    tr = transcribe(load_audio(clip.wav_path), 22_050)
    wer = word_errors(normalise_for_wer(clip.text), normalise_for_wer(tr.text)).wer
    assert wer < 0.3, (clip.text, tr.text)
    assert tr.words and all(w.end >= w.start for w in tr.words)
    assert tr.words[-1].end <= len(load_audio(clip.wav_path)) / 22_050 + 0.5


def test_distillmos_batches_like_the_package_and_separates_quality(corpus):
    """Batched crops give the package's own per-clip scores; a buzz scores far below speech."""
    import torch

    from synthesis.audio.io import load_audio
    from synthesis.evaluation.asr import to_whisper_rate
    from synthesis.evaluation.mos import distillmos_scores, load_distillmos

    speech = [load_audio(corpus.by_id()[c].wav_path) for c in ("LJ001-0002", "LJ001-0008")]
    long = np.concatenate([speech[0]] * 5)  # > 7.7 s: several crops
    t = np.arange(22_050 * 2) / 22_050
    buzz = (0.3 * np.sign(np.sin(2 * np.pi * 110 * t))).astype(np.float32)
    scores = distillmos_scores([*speech, long, buzz], 22_050)
    model = load_distillmos()
    model.segmenting_in_forward = True
    try:
        with torch.inference_mode():
            own = [float(model(torch.from_numpy(to_whisper_rate(w, 22_050))[None])) for w in (*speech, long)]
    finally:
        model.segmenting_in_forward = False
    assert scores[:3] == pytest.approx(own, abs=1e-4)
    assert min(scores[:2]) > 3.8 and scores[3] < 2.5
    assert not any(math.isnan(s) for s in scores)


def test_a_checkpoint_is_scored_through_another_vocoder(tiny, tmp_path, monkeypatch, capsys):
    """`--vocoder NAME=VOCODER`: the same file twice, once through its own vocoder, once another."""
    install_fake_synthesizer(monkeypatch)
    ckpt = tmp_path / "model.pt"
    ckpt.write_text("1.0")
    out = tmp_path / "r"
    assert run(tiny, out, "--checkpoint", f"own={ckpt}", "--checkpoint", f"other={ckpt}", "--vocoder", "other=world",
               "--metrics", "duration", "--no-wavs", "--copy-vocoder", "world") == 0
    results = json.loads((out / "results.json").read_text())
    models = {s["name"]: s.get("model", {}) for s in results["systems"]}
    assert models["own"]["gain"] == 1.0 and models["other"]["gain"] == 0.5
    assert models["other"]["vocoder"] == {"name": "world"}
    capsys.readouterr()
    for args, message in [(["--vocoder", "nobody=world"], "no checkpoint is named 'nobody'"),
                          (["--vocoder", "own=nosuch"], "unknown vocoder"),
                          (["--vocoder", "own"], "expected NAME=VOCODER")]:
        assert run(tiny, tmp_path / "bad", "--checkpoint", f"own={ckpt}", *args) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and "\n" not in err, err
        assert not (tmp_path / "bad").exists()


def _checkpoint_trained_on(tmp_path: Path, tiny, train: tuple[str, ...], validation: tuple[str, ...]) -> Path:
    """A checkpoint file whose config names a cache of the tiny corpus and a split file."""
    from synthesis.features.cache import CACHE_FORMAT_VERSION
    from synthesis.training.checkpoint import save_checkpoint

    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "manifest.json").write_text(json.dumps(
        {"format_version": CACHE_FORMAT_VERSION, "corpus": {"root": str(tiny["corpus"])}}))
    split_file = tmp_path / "training_split.json"
    save_split(Split("mini", "-", 1, train=train, validation=validation, test=()), split_file)
    ckpt = tmp_path / "model.pt"
    save_checkpoint(ckpt, {"system": "baseline", "config": {"train": {"cache": str(cache), "split": str(split_file)}},
                           "state_dict": {}, "step": 0, "metrics": {}})
    return ckpt


def test_a_checkpoint_trained_on_a_test_clip_is_refused(tiny, tmp_path, capsys):
    """A model whose training split holds a test clip (e.g. evaluated on a split that leaves a
    chapter out) is refused in one line, with its own split named; nothing is written."""
    ckpt = _checkpoint_trained_on(tmp_path, tiny, train=("LJ001-0002", "LJ002-0020"), validation=())
    out = tmp_path / "r"
    assert run(tiny, out, "--checkpoint", str(ckpt), "--metrics", "mcd") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "trained or tuned on 1 of the 2 test clips (first LJ002-0020" in err[0]
    assert "training_split.json" in err[0] and not out.exists()


def test_export_records_the_seen_clips_and_the_check_uses_them(tiny, tmp_path, capsys):
    """An exported file carries its training split's train + validation ids (plus its stage 1's),
    so the check still refuses it when its config's split no longer says so: the default split
    changed, or the cache is on another machine."""
    from synthesis.evaluation.pipeline import check_held_out
    from synthesis.training.checkpoint import load_checkpoint, save_checkpoint
    from synthesis.training.export import export_checkpoint

    (tmp_path / "s1").mkdir()
    (tmp_path / "s2").mkdir()
    stage1 = _checkpoint_trained_on(tmp_path / "s1", tiny, train=("LJ002-0020",), validation=())
    run = tmp_path / "run"
    run.mkdir()
    ckpt = load_checkpoint(_checkpoint_trained_on(tmp_path / "s2", tiny, ("LJ001-0002",), ("LJ002-0035",)))
    save_checkpoint(run / "best.pt", {**ckpt, "stage1": {"path": str(stage1), "hash": "-", "step": 0}})
    export_checkpoint(run, tmp_path / "export")
    exported = tmp_path / "export" / "model.pt"
    assert load_checkpoint(exported)["seen_clips"] == ["LJ001-0002", "LJ002-0020", "LJ002-0035"]

    for cache in (tmp_path / "s1" / "cache", tmp_path / "s2" / "cache"):  # now nothing says it but the file
        (cache / "manifest.json").unlink()
    with pytest.raises(SynthesisError, match=r"trained or tuned on 1 of the 2 test clips \(first LJ002-0020; "
                                             r"the clips recorded in the checkpoint\)"):
        check_held_out(exported, list(TEST_CLIPS))
    check_held_out(exported, ["LJ001-0001"])


def test_held_out_check_passes_a_disjoint_split_and_an_unknown_cache(tiny, tmp_path):
    from synthesis.evaluation.pipeline import check_held_out

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    check_held_out(_checkpoint_trained_on(tmp_path / "a", tiny, ("LJ001-0002",), ("LJ002-0035",)), list(TEST_CLIPS))
    ckpt = _checkpoint_trained_on(tmp_path / "b", tiny, TEST_CLIPS, ())
    (tmp_path / "b" / "cache" / "manifest.json").unlink()  # trained elsewhere: cannot be checked here
    check_held_out(ckpt, list(TEST_CLIPS))
