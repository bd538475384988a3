"""`synthesis pipeline`: reuse checkpoints, leave out missing ones with a note, skip stages
that are up to date and redo those whose inputs changed, train when asked (prepare -> train
-> export on a mini corpus), serve the set, and refuse bad configs with one line (exit 2)."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch

from synthesis.cli import main
from synthesis.corpus import make_split, save_split
from synthesis.models.backbone import ModelConfig, build_model
from synthesis.training.checkpoint import save_checkpoint
from synthesis.training.config import TrainConfig, TrainSettings, dump_toml
from tests.synthesis.conftest import SHORT_CLIPS, make_mini_corpus
from tests.synthesis.test_regress import TINY

REPO = Path(__file__).resolve().parents[2]


def tiny_config(steps: int = 2) -> TrainConfig:
    return TrainConfig(model=ModelConfig(system="baseline", **TINY),
                       train=TrainSettings(max_steps=steps, lr=5e-3, warmup_steps=2, eval_every=10, log_every=5,
                                           max_frames=3000, threads=1))


def write_stage1(path: Path, cfg: TrainConfig) -> Path:
    path.write_text(dump_toml(cfg.to_dict()), encoding="utf-8")
    return path


def mean_checkpoint(path: Path, cfg: TrainConfig, corpus, step: int = 0) -> Path:
    """An untrained model whose output is the mean WORLD frame of a real clip (a steady voiced
    vowel-like sound): a valid checkpoint in seconds."""
    from synthesis.audio.io import load_audio
    from synthesis.features.acoustic import AcousticConfig

    feats = AcousticConfig().vocoder("world").analyse(load_audio(corpus.by_id()["LJ001-0002"].wav_path))
    torch.manual_seed(0)
    model = build_model(cfg.model)
    model.set_stats(feats.mean(0), feats.std(0), np.zeros(80), np.ones(80))
    with torch.no_grad():
        model.out.weight.zero_()
        model.out.bias.zero_()
        model.out.bias[61] = 5.0
        model.postnet[-1].weight.zero_()
        model.postnet[-1].bias.zero_()
        model.duration.out.weight.zero_()
        model.duration.out.bias.fill_(float(np.log1p(6.0)))  # 6 frames (70 ms) per phoneme
    save_checkpoint(path, {"system": "baseline", "config": cfg.to_dict(), "state_dict": model.state_dict(),
                           "step": step, "metrics": {}})
    return path


def pipeline_toml(tmp: Path, systems: str, items: list[str], extra: str = "", db: bool = True) -> Path:
    path = tmp / "pipeline.toml"
    serve = f'[serve]\ndb = "sqlite:///{tmp / "ratings.db"}"' if db else ""
    path.write_text(f"""
name = "t"
work = "{tmp / 'work'}"
cache = "{tmp / 'cache'}"
prepare_workers = 1
{extra}
{systems}
[set]
out = "{tmp / 'set'}"
items = {json.dumps(items)}
workers = 1
{serve}
""", encoding="utf-8")
    return path


@pytest.fixture
def baseline_files(tmp_path, corpus):
    cfg = tiny_config()
    stage1 = write_stage1(tmp_path / "stage1.toml", cfg)
    ckpt = mean_checkpoint(tmp_path / "ckpt" / "model.pt", cfg, corpus)
    return stage1, ckpt


def _run(capsys, argv) -> tuple[int, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_reuses_checkpoints_leaves_out_missing_ones_and_resumes(tmp_path, baseline_files, corpus, capsys):
    stage1, ckpt = baseline_files
    systems = f"""
[[systems]]
id = "baseline"
label = "Baseline"
checkpoint = "{ckpt}"
stage1 = "{stage1}"
[[systems]]
id = "kathaka"
checkpoint = "{tmp_path / 'none' / 'model.pt'}"
stage1 = "{REPO / 'configs' / 'kathaka_stage1.toml'}"
stage2 = "{REPO / 'configs' / 'kathaka_stage2.toml'}"
"""
    config = pipeline_toml(tmp_path, systems, ["LJ001-0016", "LJ002-0040"], db=False)
    code, out = _run(capsys, ["pipeline", "--config", str(config), "--quiet"])
    assert code == 0, out
    db_first = re.search(r"--db (sqlite:///\S+/set-[0-9a-f]{8}\.db)", out).group(1)  # one database per set
    assert "prepare: not needed" in out and "baseline: reusing" in out
    assert "kathaka: left out" in out and "--train kathaka" in out and "evaluate: off" in out
    manifest = json.loads((tmp_path / "set" / "manifest.json").read_text())
    assert [c["id"] for c in manifest["conditions"]] == ["reference", "anchor35", "anchor70", "baseline"]
    assert manifest["conditions"][3]["provenance"]["checkpoint_hash"]
    assert main(["validate-set", str(tmp_path / "set")]) == 0
    capsys.readouterr()
    stamp = json.loads((tmp_path / "work" / "stamps" / "build-set.json").read_text())
    assert stamp["stage"] == "build-set" and len(stamp["inputs_hash"]) == 16

    # a second run does nothing
    code, out = _run(capsys, ["pipeline", "--config", str(config), "--quiet"])
    assert code == 0 and "build-set: up to date" in out and db_first in out
    # a new checkpoint (another file content) rebuilds the set
    mean_checkpoint(ckpt, tiny_config(), corpus, step=7)
    code, out = _run(capsys, ["pipeline", "--config", str(config), "--quiet"])
    assert code == 0 and "build-set: " in out and "up to date" not in out.split("[4/4]")[1]
    manifest = json.loads((tmp_path / "set" / "manifest.json").read_text())
    assert manifest["conditions"][3]["provenance"]["step"] == 7
    assert db_first not in out  # another set, another ratings database
    # a damaged set is rebuilt even though the stamp matches
    victim = next((tmp_path / "set").glob("*.wav"))
    victim.write_bytes(b"RIFF broken")
    code, out = _run(capsys, ["pipeline", "--config", str(config), "--quiet"])
    assert code == 0 and "up to date" not in out.split("[4/4]")[1]
    assert main(["validate-set", str(tmp_path / "set")]) == 0


def test_a_checkpoint_of_another_architecture_is_used_with_a_warning(tmp_path, corpus, capsys):
    cfg = tiny_config()
    stage1 = write_stage1(tmp_path / "stage1.toml", cfg)
    other = TrainConfig(model=ModelConfig(system="baseline", **{**TINY, "d_model": 48}))
    ckpt = mean_checkpoint(tmp_path / "ckpt" / "model.pt", other, corpus)
    systems = f'[[systems]]\nid = "baseline"\ncheckpoint = "{ckpt}"\nstage1 = "{stage1}"\n'
    code, out = _run(capsys, ["pipeline", "--config", str(pipeline_toml(tmp_path, systems, ["LJ001-0016"])),
                              "--quiet"])
    assert code == 0, out
    assert "WARNING" in out and "model.d_model: 32 in the config, 48 in the checkpoint" in out


def test_settings_added_after_a_checkpoint_was_saved_are_not_differences():
    """A model setting added later (with a default that keeps the old behaviour) is not in older
    checkpoints; they still match a config that leaves it at its default, not one that sets it."""
    from synthesis.models.backbone import with_defaults
    from synthesis.pipeline import architecture_differences

    config = ModelConfig(system="baseline", **TINY).to_dict()
    old_file = {k: v for k, v in config.items() if k != "phone_position"}
    assert architecture_differences(config, with_defaults(old_file)) == []
    assert architecture_differences({**config, "phone_position": True}, with_defaults(old_file)) == [
        "model.phone_position: True in the config, False in the checkpoint"]


def test_trains_when_asked_then_resumes(tmp_path, corpus, capsys):
    """prepare (mini corpus) -> train 30 steps -> export -> build-set; the second run skips all."""
    mini = make_mini_corpus(tmp_path / "mini", corpus, SHORT_CLIPS)
    split_file = tmp_path / "split.json"
    save_split(make_split(SHORT_CLIPS, seed=1, n_test=2, n_validation=1, corpus_name="mini"), split_file)
    stage1 = write_stage1(tmp_path / "stage1.toml", tiny_config(steps=30))
    ckpt = tmp_path / "trained" / "model.pt"
    systems = f'[[systems]]\nid = "baseline"\ncheckpoint = "{ckpt}"\nstage1 = "{stage1}"\ntrain = "missing"\n'
    test_ids = sorted(json.loads(split_file.read_text())["test"])[:1]
    config = pipeline_toml(tmp_path, systems, test_ids, f'corpus = "{mini}"\nsplit = "{split_file}"')
    code, out = _run(capsys, ["pipeline", "--config", str(config), "--quiet"])
    assert code == 0, out
    assert "prepare: feature cache" in out and "baseline: training stage 1" in out and "exported" in out
    assert ckpt.is_file() and (tmp_path / "cache" / "manifest.json").is_file()
    from synthesis.training.checkpoint import load_checkpoint

    assert load_checkpoint(ckpt, "baseline")["step"] in (10, 20, 30)  # the best validation pass
    manifest = json.loads((tmp_path / "set" / "manifest.json").read_text())
    assert [c["id"] for c in manifest["conditions"]][-1] == "baseline"
    # the checkpoint exists now: the "missing" policy reuses it, nothing runs
    code, out = _run(capsys, ["pipeline", "--config", str(config), "--quiet"])
    assert code == 0, out
    assert "prepare: not needed" in out and "baseline: reusing" in out and "build-set: up to date" in out
    # asked to train again with the same recipe: every stamp matches, nothing is redone
    code, out = _run(capsys, ["pipeline", "--config", str(config), "--quiet", "--train", "baseline"])
    assert code == 0, out
    assert "prepare: up to date" in out and "baseline: up to date" in out and "build-set: up to date" in out

    # a two-stage system on the same cache: CAMP stage 1 + stage 2 -> export in predicted mode
    from synthesis.inference import Synthesizer
    from synthesis.pipeline import SystemSpec, train_system

    camp = SystemSpec(id="camp", checkpoint=str(tmp_path / "camp" / "model.pt"),
                      stage1=str(REPO / "configs" / "camp_stage1.toml"), stage2=str(REPO / "configs" / "camp_stage2.toml"),
                      mode="predicted", max_steps=2, stage2_max_steps=3)
    path = train_system(camp, tmp_path / "cache", tmp_path / "work", progress=False, split=str(split_file))
    stage2_run = tmp_path / "work" / "runs" / "camp" / "stage2"  # configs/camp_stage2.toml: an ensemble of 5
    assert (stage2_run / "best.pt").is_file() and (stage2_run / "member-4" / "last.pt").is_file()
    info = Synthesizer.from_checkpoint(path).describe()
    assert info["system"].startswith("camp") and info["mode"] == "predicted"

    # the baseline with its duration pass as stage 2, as the committed checkpoint was made
    base = SystemSpec(id="base", checkpoint=str(tmp_path / "base" / "model.pt"),
                      stage1=str(REPO / "configs" / "baseline_cpu.toml"),
                      stage2=str(REPO / "configs" / "baseline_durations.toml"), max_steps=2, stage2_max_steps=3)
    path = train_system(base, tmp_path / "cache", tmp_path / "work", progress=False, split=str(split_file))
    exported = load_checkpoint(path, "baseline")
    assert exported["stage"] == 2 and "calibration" in exported["metrics"]
    assert exported["stage1"]["path"] == str(tmp_path / "work" / "runs" / "base" / "stage1" / "best.pt")


def test_stage2_config_takes_the_pipeline_settings(tmp_path):
    from synthesis.pipeline import SystemSpec, stage2_config

    spec = SystemSpec(id="k", checkpoint="x.pt", stage1=str(REPO / "configs" / "kathaka_stage1.toml"),
                      stage2=str(REPO / "configs" / "kathaka_stage2.toml"), sampler="bert", stage2_max_steps=7,
                      stage2_max_minutes=1.5)
    cfg = stage2_config("kathaka", spec, tmp_path / "s1.pt", tmp_path / "cache", "split.json")
    s = cfg.stage2
    assert (s.stage1, s.sampler, s.cache, s.split, s.max_steps, s.max_minutes) == (
        str(tmp_path / "s1.pt"), "bert", str(tmp_path / "cache"), "split.json", 7, 1.5)
    spec = SystemSpec(id="c", checkpoint="x.pt", stage1=str(REPO / "configs" / "camp_stage1.toml"),
                      stage2=str(REPO / "configs" / "camp_stage2.toml"))
    cfg = stage2_config("camp", spec, tmp_path / "s1.pt", tmp_path / "cache")
    assert cfg.stage1 == str(tmp_path / "s1.pt") and cfg.train.cache == str(tmp_path / "cache")
    spec = SystemSpec(id="b", checkpoint="x.pt", stage1=str(REPO / "configs" / "baseline_cpu.toml"),
                      stage2=str(REPO / "configs" / "baseline_durations.toml"), stage2_max_steps=5)
    cfg = stage2_config("baseline", spec, tmp_path / "s1.pt", tmp_path / "cache")
    assert (cfg.stage1, cfg.train.cache, cfg.train.max_steps) == (str(tmp_path / "s1.pt"), str(tmp_path / "cache"), 5)


@pytest.mark.parametrize("body, argv_extra, message", [
    ("colour = 1\n", [], "unknown setting 'colour'"),
    ('[[systems]]\nid = "b"\ncheckpoint = "x.pt"\n', [], "needs stage1"),
    ('[[systems]]\nid = "b"\ncheckpoint = "x.pt"\nstage1 = "configs/baseline_cpu.toml"\ntrain = "always"\n', [],
     "train must be one of never, missing, stale"),
    ('[[systems]]\nid = "b"\ncheckpoint = "x.pt"\nstage1 = "nowhere.toml"\n', [], "nowhere.toml: config file does not exist"),
    ('[[systems]]\nid = "reference"\ncheckpoint = "x.pt"\nstage1 = "configs/baseline_cpu.toml"\n', [], "are taken by the set"),
    ('[[systems]]\nid = "b"\ncheckpoint = "x.pt"\nstage1 = "configs/baseline_cpu.toml"\nmode = "mean"\n', [],
     "baseline has no inference modes"),
    ("[evaluate]\nmetrics = ['wer', 'charm']\n", [], "unknown metric 'charm'"),
    ("", ["--train", "camp"], "--train 'camp': no such system"),
])
def test_bad_configs_exit_2_with_one_line(tmp_path, capsys, body, argv_extra, message):
    path = tmp_path / "p.toml"
    path.write_text(f'work = "{tmp_path / "w"}"\n' + body + f'[set]\nout = "{tmp_path / "set"}"\n')
    code = main(["pipeline", "--config", str(path), "--quiet", *argv_extra])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("synthesis: error: ") and "\n" not in err
    assert message in err
    assert not (tmp_path / "set").exists()


@pytest.mark.parametrize("set_body, message", [
    ('items = ["LJ999-0001"]', "item 'LJ999-0001' is not in the corpus"),
    ("anchors_hz = [100]", "cutoff_hz must be a number of Hz in 500..10000"),
    ("n_items = 500", "asks for 500 items but the test split holds only 40"),
    ("subset = 'dev'", "subset must be train, validation or test"),
])
def test_bad_set_settings_are_refused_before_any_stage(tmp_path, capsys, set_body, message):
    path = tmp_path / "p.toml"
    path.write_text(f'work = "{tmp_path / "w"}"\n[set]\nout = "{tmp_path / "set"}"\n{set_body}\n')
    code = main(["pipeline", "--config", str(path), "--quiet"])
    captured = capsys.readouterr()
    assert code == 2 and message in captured.err, captured.err
    assert "[1/4]" not in captured.out and not (tmp_path / "set").exists()


def test_evaluate_stage_runs_and_then_is_up_to_date(tmp_path, baseline_files, capsys):
    stage1, ckpt = baseline_files
    systems = f'[[systems]]\nid = "baseline"\ncheckpoint = "{ckpt}"\nstage1 = "{stage1}"\n'
    extra = f'[evaluate]\nlimit = 1\nmetrics = ["duration"]\ncache = "{tmp_path / "ev-cache"}"\n'
    config = pipeline_toml(tmp_path, systems, ["LJ001-0016"], extra)
    code, out = _run(capsys, ["pipeline", "--config", str(config), "--quiet", "--evaluate"])
    assert code == 0, out
    assert "[3/4] evaluate: 1 checkpoint, recordings" in out
    results = json.loads((tmp_path / "work" / "evaluation" / "results.json").read_text())
    assert {s["name"] for s in results["systems"]} >= {"recordings", "baseline"}
    assert "duration_ratio" in results["summary"]["baseline"]
    code, out = _run(capsys, ["pipeline", "--config", str(config), "--quiet", "--evaluate"])
    assert code == 0 and "evaluate: up to date" in out


def test_corrupt_checkpoint_is_one_line(tmp_path, capsys):
    bad = tmp_path / "model.pt"
    bad.write_bytes(b"not a checkpoint")
    path = tmp_path / "p.toml"
    path.write_text(f'[[systems]]\nid = "b"\ncheckpoint = "{bad}"\nstage1 = "configs/baseline_cpu.toml"\n'
                    f'[set]\nout = "{tmp_path / "set"}"\n')
    assert main(["pipeline", "--config", str(path), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "system 'b'" in err and "not a readable checkpoint" in err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_execs_evalapp_on_the_set(tmp_path, baseline_files):
    """--serve: the same process becomes `evalapp serve` on the set, with the printed token."""
    stage1, ckpt = baseline_files
    systems = f'[[systems]]\nid = "baseline"\ncheckpoint = "{ckpt}"\nstage1 = "{stage1}"\n'
    config = pipeline_toml(tmp_path, systems, ["LJ001-0016"])
    port = _free_port()
    log = tmp_path / "serve.log"
    with open(log, "w") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "synthesis", "pipeline", "--config", str(config), "--quiet",
                                 "--serve", "--port", str(port)], stdout=fh, stderr=subprocess.STDOUT, cwd=REPO,
                                env={k: v for k, v in os.environ.items() if k != "EVALAPP_ADMIN_TOKEN"})
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, log.read_text()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1):
                    break
            except OSError:
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.3)
        text = log.read_text()
        line = next(x for x in text.splitlines() if x.startswith("serving the MUSHRA test"))
        token = line.rsplit("admin token: ", 1)[1].strip()
        assert len(token) >= 20 and f"http://localhost:{port}/admin" in line
        # the exec'd process is evalapp serving this set on this database
        cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes().split(b"\0")
        assert b"evalapp" in cmdline and str(tmp_path / "set").encode() in cmdline
        assert token.encode() not in b" ".join(cmdline)  # the token is not visible in `ps`
        assert (tmp_path / "ratings.db").is_file()
    finally:
        proc.terminate()
        proc.wait(30)
