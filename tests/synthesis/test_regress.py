"""`synthesis regress`: a degraded checkpoint fails (exit 1), an identical one passes (exit 0),
bad input is one line and exit 2; the committed sentence set; the comparison logic.

The release is a tiny baseline trained for a few dozen steps on four real clips (through the
library's training loop); the degraded candidate is the same file with Gaussian noise added to
its weights. Whisper and DistillMOS are left out of the metric set to keep this under 2 minutes
(their code paths are the evaluation package's, tested there).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from synthesis.cli import main
from synthesis.regression.compare import compare_metric
from synthesis.regression.config import Tolerance, parse_regress_config
from synthesis.regression.sentences import DEFAULT_SENTENCES, load_sentences, parse_sentences

TRAIN_CLIPS = ["LJ002-0020", "LJ002-0035", "LJ001-0008", "LJ001-0002"]
TINY = {"d_model": 32, "enc_layers": 1, "enc_heads": 2, "enc_ff": 64, "dec_layers": 2, "dec_hidden": 64,
            "dec_dilations": (1, 2), "postnet_layers": 2, "postnet_channels": 16, "predictor_hidden": 32}
FAST_METRICS = """
[metrics.f0_range]
max_worse = 0.4
[metrics.speech_rate]
max_worse = 0.25
[metrics.pause_per_punct]
max_worse = 0.05
[metrics.mcd]
max_worse = 0.3
[metrics.f0_rmse]
max_worse = 40
[metrics.log_f0_corr]
max_worse = 0.05
[metrics.duration_error]
max_worse = 5
"""


def train_tiny_checkpoint(out: Path, steps: int = 60, clip_ids=TRAIN_CLIPS) -> Path:
    """A tiny baseline trained on real clips through ``synthesis.training.loop.train``, exported
    like a release (``out/model.pt``). Features are computed in-process (no cache)."""
    from synthesis.audio.io import load_audio
    from synthesis.corpus import default_corpus_path, load_corpus
    from synthesis.features.acoustic import AcousticConfig, extract_acoustic
    from synthesis.models.backbone import ModelConfig
    from synthesis.text.frontend import TextFrontend
    from synthesis.training.config import TrainConfig, TrainSettings
    from synthesis.training.data import WORLD_LF0_DIM, ClipItem, text_item_arrays
    from synthesis.training.export import export_checkpoint
    from synthesis.training.loop import train

    clips = load_corpus(default_corpus_path()).by_id()
    frontend = TextFrontend(with_vectors=False, with_syntax=False)  # the baseline reads phonemes only
    acoustic = AcousticConfig()
    items = []
    for cid in clip_ids:
        a = extract_acoustic(load_audio(clips[cid].wav_path), acoustic)
        arrays = text_item_arrays(frontend.analyse(clips[cid].text).to_arrays())
        arrays.update(mel=a["log_mel"].astype(np.float32), target=a["world"].astype(np.float32),
                      lf0=a["world"][:, WORLD_LF0_DIM].astype(np.float32), energy=a["energy"].astype(np.float32))
        items.append(ClipItem(cid, arrays))
    torch.manual_seed(0)
    cfg = TrainConfig(model=ModelConfig(system="baseline", enc_dropout=0.0, predictor_dropout=0.0, **TINY),
                      train=TrainSettings(max_steps=steps, lr=5e-3, warmup_steps=2, eval_every=10_000,
                                          log_every=10, max_frames=4000, threads=1),
                      loss={**TrainConfig().loss, "binarization_start": 20})
    train(cfg, out / "run", progress=False, resume=False, items=(items, items[:1]))
    export_checkpoint(out / "run", out, which="last")
    shutil.rmtree(out / "run")
    return out / "model.pt"


def degrade(src: Path, dst: Path, noise: float = 0.5, seed: int = 0) -> Path:
    """A broken version of ``src``: Gaussian noise of ``noise`` x each tensor's std on every weight."""
    from synthesis.training.checkpoint import load_checkpoint, save_checkpoint

    ckpt = load_checkpoint(src)
    gen = torch.Generator().manual_seed(seed)
    state = {}
    # Buffers are left alone (the duration offsets and GV too: a new key would shift every later draw).
    buffers = ("_mean", "_std", "var_stats", "duration_bias", "target_gv")
    for k, v in ckpt["state_dict"].items():
        if v.is_floating_point() and v.numel() > 1 and not k.endswith(buffers):
            w = v.float()
            v = (w + noise * w.std() * torch.randn(w.shape, generator=gen)).to(v.dtype)
        state[k] = v
    payload = {k: x for k, x in ckpt.items() if k not in ("format", "format_version")}
    payload["state_dict"] = state
    save_checkpoint(dst, payload)
    return dst


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> Path:
    return train_tiny_checkpoint(tmp_path_factory.mktemp("release"))


@pytest.fixture
def fast_config(tmp_path) -> Path:
    path = tmp_path / "regress.toml"
    path.write_text('ids = ["q03", "l01", "r01", "r05"]\n' + FAST_METRICS, encoding="utf-8")
    return path


def test_identical_candidate_passes(release, fast_config, tmp_path, capsys, monkeypatch):
    candidate = tmp_path / "candidate.pt"
    shutil.copy(release, candidate)
    step_summary = tmp_path / "github_summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step_summary))
    out = tmp_path / "out"
    code = main(["regress", "--candidate", str(candidate), "--release", str(release), "--out", str(out),
                 "--config", str(fast_config), "--quiet"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "PASS" in printed and "**worse**" not in printed
    results = json.loads((out / "results.json").read_text())
    assert results["passed"] is True and len(results["sentences"]) == 4
    assert all(r["verdict"] == "ok" and r["worsening"] == 0 for r in results["comparison"])
    assert sorted(p.name for p in (out / "wavs" / "candidate").glob("*.wav")) == ["l01.wav", "q03.wav", "r01.wav",
                                                                                   "r05.wav"]
    # identical audio: one condition for both versions, every recorded sentence in the set
    assert main(["validate-set", str(out / "set")]) == 0
    manifest = json.loads((out / "set" / "manifest.json").read_text())
    assert [c["id"] for c in manifest["conditions"]] == ["reference", "anchor35", "anchor70", "release"]
    assert sorted(i["id"] for i in manifest["items"]) == ["LJ001-0016", "LJ002-0040"]
    assert step_summary.read_text() == (out / "summary.md").read_text()
    assert (out / "summary.md").read_text().startswith("## TTS regression check: PASS")


def test_degraded_candidate_fails_with_a_diff_table(release, fast_config, tmp_path, capsys):
    candidate = degrade(release, tmp_path / "degraded.pt")
    out = tmp_path / "out"
    code = main(["regress", "--candidate", str(candidate), "--release", str(release), "--out", str(out),
                 "--config", str(fast_config), "--quiet"])
    printed = capsys.readouterr().out
    assert code == 1, printed
    assert "| metric |" in printed and "**worse**" in printed and "FAIL" in printed
    results = json.loads((out / "results.json").read_text())
    failed = {r["metric"] for r in results["comparison"] if r["fails"]}
    # Not MCD: both versions are synthesised with the spectral enhancement, whose variance
    # scaling gives the noisy candidate and the barely trained release the same spectral spread.
    assert "speech_rate" in failed and len(failed & {"f0_range", "log_f0_corr", "f0_rmse", "duration_error"}) >= 2, \
        results["comparison"]
    for r in results["comparison"]:
        if r["fails"]:
            assert r["worsening"] > r["tolerance"]
    # the listening set holds both versions beside the reference and anchors, and is valid
    assert main(["validate-set", str(out / "set")]) == 0
    manifest = json.loads((out / "set" / "manifest.json").read_text())
    assert [c["id"] for c in manifest["conditions"]] == ["reference", "anchor35", "anchor70", "release", "candidate"]
    assert manifest["conditions"][4]["provenance"]["about"]["checkpoint"] == str(candidate)
    summary = (out / "summary.md").read_text()
    assert summary.startswith("## TTS regression check: FAIL") and "Sentences where the candidate lost most" in summary


def _one_line_error(capsys, argv) -> str:
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert err.startswith("synthesis: error: ") and "\n" not in err
    return err


def test_bad_inputs_exit_2_and_write_nothing(release, fast_config, tmp_path, capsys):
    out = tmp_path / "out"
    base = ["regress", "--out", str(out), "--config", str(fast_config), "--quiet"]
    err = _one_line_error(capsys, base + ["--candidate", str(release), "--release", str(tmp_path / "gone.pt")])
    assert "release checkpoint" in err and "does not exist" in err
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    err = _one_line_error(capsys, base + ["--candidate", str(foreign), "--release", str(release)])
    assert "candidate checkpoint" in err and "not a prosody-tts-checkpoint file" in err
    newer = tmp_path / "newer.pt"
    ckpt = torch.load(release, weights_only=True)
    torch.save({**ckpt, "format_version": 99}, newer)
    err = _one_line_error(capsys, base + ["--candidate", str(newer), "--release", str(release)])
    assert "format version 99" in err
    text = tmp_path / "notes.pt"
    text.write_text("not a checkpoint")
    _one_line_error(capsys, base + ["--candidate", str(text), "--release", str(release)])
    bad_metric = tmp_path / "bad.toml"
    bad_metric.write_text("[metrics.mcd]\nmax_worse = 0.3\n[metrics.naturalness]\nmax_worse = 1\n")
    err = _one_line_error(capsys, ["regress", "--candidate", str(release), "--release", str(release), "--out",
                                   str(out), "--config", str(bad_metric)])
    assert "unknown metric 'naturalness'" in err and "bad.toml" in err
    bad_id = tmp_path / "bad_id.toml"
    bad_id.write_text('ids = ["q03", "zz9"]\n' + FAST_METRICS)
    err = _one_line_error(capsys, ["regress", "--candidate", str(release), "--release", str(release), "--out",
                                   str(out), "--config", str(bad_id)])
    assert "'zz9'" in err
    assert not out.exists()
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("mine")
    err = _one_line_error(capsys, ["regress", "--candidate", str(release), "--release", str(release), "--out",
                                   str(busy), "--config", str(fast_config)])
    assert "not empty" in err and (busy / "keep.txt").read_text() == "mine"


@pytest.mark.parametrize("toml, message", [
    ("", "no [metrics.<name>] tables"),
    ("[metrics.wer]\n", "needs max_worse"),
    ("[metrics.wer]\nmax_worse = -1\n", "max_worse must be >= 0"),
    ("[metrics.wer]\nmax_worse = 1\nstrict = true\n", "unknown setting 'strict'"),
    ("[metrics.wer]\nmax_worse = 1\ngate = 'yes'\n", "gate must be true or false"),
    ("colour = 1\n[metrics.wer]\nmax_worse = 1\n", "unknown setting 'colour'"),
    ("[metrics.wer]\nmax_worse = 1\n[set]\nworkers = 2\n", "[set] unknown setting 'workers'"),
    ("[metrics.wer]\nmax_worse = 1\n[set]\nanchors_hz = [100]\n", "anchors_hz must be cut-off frequencies"),
])
def test_config_errors(toml, message):
    import tomllib

    from synthesis.errors import ConfigError

    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_regress_config(tomllib.loads(toml), "x.toml")


def test_committed_config_and_sentences(corpus):
    from synthesis.regression.config import load_regress_config

    config = load_regress_config()
    assert {"wer", "distillmos", "mcd", "f0_rmse", "f0_range"} <= set(config.metrics)
    sentences = load_sentences(DEFAULT_SENTENCES, corpus)  # clips exist and their scripts match
    assert len(sentences) >= 30
    categories = {s.category for s in sentences}
    assert {"question", "list", "parenthetical", "quotation", "numbers", "long", "recording"} <= categories
    recorded = [s for s in sentences if s.has_recording]
    assert len(recorded) >= 8
    from synthesis.corpus import default_split_path, load_split

    test_ids = set(load_split(default_split_path(corpus.root), corpus).test)
    assert all(s.clip in test_ids for s in recorded), "recordings must come from the test split"


@pytest.mark.parametrize("raw, message", [
    ("id\ttext\n", "header must be"),
    ("id\tcategory\ttext\tclip\na1\tq\t\t\n", "line 2: empty text"),
    ("id\tcategory\ttext\tclip\na1\tq\tHello.\t\na1\tq\tAgain.\t\n", "line 3: id 'a1' already used on line 2"),
    ("id\tcategory\ttext\tclip\na 1\tq\tHello.\t\n", "line 2: id 'a 1'"),
    ("id\tcategory\ttext\tclip\na1\tq\tHello.\tLJ1\textra\n", "line 2: expected 4 tab-separated fields"),
])
def test_sentence_file_errors(raw, message):
    from synthesis.errors import ConfigError

    with pytest.raises(ConfigError, match=message):
        parse_sentences(raw, "s.tsv")


def test_sentence_whose_text_differs_from_its_recording(tmp_path, corpus):
    from synthesis.errors import ConfigError

    path = tmp_path / "s.tsv"
    path.write_text("id\tcategory\ttext\tclip\nr1\trecording\tSomething else entirely.\tLJ001-0016\n")
    with pytest.raises(ConfigError, match="differs from the script of clip 'LJ001-0016'"):
        load_sentences(path, corpus)
    path.write_text("id\tcategory\ttext\tclip\nr1\trecording\tHello.\tLJ999-0001\n")
    with pytest.raises(ConfigError, match="not in corpus"):
        load_sentences(path, corpus)


def _values(name, numbers):
    return {f"s{i}": {name: v} for i, v in enumerate(numbers)}


def test_compare_lower_higher_and_natural_metrics():
    ids = ["s0", "s1", "s2"]
    tol = Tolerance(0.3)
    # lower is better: MCD up by 0.5 dB -> worse; up by 0.2 -> ok; down by 0.5 -> better
    for delta, verdict in ((0.5, "worse"), (0.2, "ok"), (-0.5, "better")):
        r = compare_metric("mcd", ids, _values("mcd", [5, 6, 7]), _values("mcd", [5 + delta, 6 + delta, 7 + delta]),
                           tol)
        assert r.verdict == verdict and r.worsening == pytest.approx(delta)
    # higher is better
    r = compare_metric("log_f0_corr", ids, _values("log_f0_corr", [0.8] * 3), _values("log_f0_corr", [0.6] * 3),
                       Tolerance(0.05))
    assert r.verdict == "worse" and r.worsening == pytest.approx(0.2)
    # natural: the recordings' F0 range is 4; the release 3.5 (0.5 off), a candidate at 4.6 is 0.6 off
    rec = _values("f0_range", [4.0, 4.0, 4.0])
    r = compare_metric("f0_range", ids, _values("f0_range", [3.5] * 3), _values("f0_range", [4.6] * 3),
                       Tolerance(0.05), rec)
    assert r.target == pytest.approx(4.0) and r.worsening == pytest.approx(0.1) and r.verdict == "worse"
    r = compare_metric("f0_range", ids, _values("f0_range", [3.5] * 3), _values("f0_range", [4.4] * 3),
                       Tolerance(0.05), rec)
    assert r.verdict == "better"  # wider, but closer to the speaker's own range
    # a metric that only reports
    r = compare_metric("mcd", ids, _values("mcd", [5] * 3), _values("mcd", [9] * 3), Tolerance(0.3, gate=False))
    assert r.verdict == "worse" and not r.fails


def test_compare_wer_is_a_ratio_and_lost_values_fail():
    ids = ["s0", "s1"]
    release = {"s0": {"wer": [1, 10]}, "s1": {"wer": [0, 30]}}      # 1 / 40 = 2.5 %
    candidate = {"s0": {"wer": [3, 10]}, "s1": {"wer": [1, 30]}}    # 4 / 40 = 10 %
    r = compare_metric("wer", ids, release, candidate, Tolerance(3.0))
    assert r.release == pytest.approx(2.5) and r.candidate == pytest.approx(10.0) and r.verdict == "worse"
    # a candidate without voiced frames on one sentence loses its F0 range there: undefined, fails
    r = compare_metric("f0_rmse", ids, _values("f0_rmse", [100, 120]), {"s0": {"f0_rmse": 100}, "s1": {}},
                       Tolerance(40))
    assert r.verdict == "undefined" and r.fails
