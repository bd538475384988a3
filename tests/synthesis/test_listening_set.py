import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from synthesis.audio.loudness import measure_lufs
from synthesis.cli import main
from synthesis.corpus import make_split, save_split
from synthesis.errors import ConfigError, CorpusError, ListeningSetError
from synthesis.listening_set import read_set, verify_set
from synthesis.listening_set.builder import build_set
from synthesis.listening_set.config import load_set_config, parse_set_config
from synthesis.listening_set.manifest import parse_manifest

from .conftest import SHORT_CLIPS, write

TINY = """
name = "tiny"
items = ["LJ002-0020", "LJ001-0002", "LJ001-0078"]
workers = {workers}
corpus = "{corpus}"
[[conditions]]
id = "reference"
kind = "recording"
[[conditions]]
id = "anchor35"
kind = "lowpass_anchor"
cutoff_hz = 3500
[[conditions]]
id = "anchor70"
kind = "lowpass_anchor"
cutoff_hz = 7000
[[conditions]]
id = "copy_world"
kind = "copy_synthesis"
vocoder = "world"
[[conditions]]
id = "copy_griffinlim"
kind = "copy_synthesis"
vocoder = "griffinlim"
"""


def tiny_config(tmp_path, corpus_root, workers=1, **edits) -> Path:
    text = TINY.format(workers=workers, corpus=corpus_root)
    for old, new in edits.items():
        text = text.replace(old, new)
    path = tmp_path / f"tiny-{workers}-{len(edits)}.toml"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def built(tmp_path_factory, corpus_root):
    tmp = tmp_path_factory.mktemp("set")
    out = tmp / "set"
    manifest = build_set(load_set_config(tiny_config(tmp, corpus_root)), out, progress=False)
    return out, manifest


def leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if ".partial-" in p.name or ".old-" in p.name)


def test_built_set_is_valid_and_complete(built):
    out, manifest = built
    assert verify_set(out) == []
    assert [c.role for c in manifest.conditions] == ["hidden_reference", "anchor", "anchor", "system", "system"]
    assert [i.id for i in manifest.items] == sorted(["LJ002-0020", "LJ001-0002", "LJ001-0078"])
    assert len(list(out.glob("*.wav"))) == 15
    assert read_set(out) == manifest


def test_file_names_reveal_nothing(built):
    out, manifest = built
    names = [p.name for p in out.glob("*.wav")]
    for name in names:
        assert len(name) == 24
        for word in ("reference", "anchor", "copy", "world", "griffin", "LJ0"):
            assert word not in name


def test_stimuli_are_loudness_aligned_and_equally_long(built):
    out, manifest = built
    for item in manifest.items:
        lengths, levels = set(), []
        for stim in item.stimuli.values():
            wave, sr = sf.read(out / stim.file, dtype="float32")
            assert sr == 22_050
            lengths.add(len(wave))
            levels.append(measure_lufs(wave, sr))
            assert np.abs(wave).max() < 10 ** (-1 / 20) + 1e-3  # -1 dBTP limit, no clipping
        assert len(lengths) == 1, "sample-aligned conditions share the recording's trim"
        assert max(levels) - min(levels) < 0.3
        assert abs(np.mean(levels) - item.loudness_lufs) < 0.3


def test_build_is_deterministic_across_runs_and_workers(built, tmp_path, corpus_root):
    out, _ = built
    other = tmp_path / "again"
    build_set(load_set_config(tiny_config(tmp_path, corpus_root, workers=2)), other, progress=False)
    assert (out / "manifest.json").read_bytes() == (other / "manifest.json").read_bytes()


def test_existing_set_needs_force(built, tmp_path, corpus_root):
    out = tmp_path / "s"
    shutil.copytree(built[0], out)
    cfg = load_set_config(tiny_config(tmp_path, corpus_root,
                                      **{'items = ["LJ002-0020", "LJ001-0002", "LJ001-0078"]': 'items = ["LJ002-0020", "LJ002-0035"]'}))
    with pytest.raises(ListeningSetError, match="already holds a listening set"):
        build_set(cfg, out, progress=False)
    assert verify_set(out) == [] and len(read_set(out).items) == 3
    build_set(cfg, out, force=True, progress=False)
    assert len(read_set(out).items) == 2 and verify_set(out) == []
    assert leftovers(tmp_path) == []


def test_foreign_folder_is_never_overwritten(tmp_path, corpus_root):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("precious")
    with pytest.raises(ListeningSetError, match="not empty and holds no listening set"):
        build_set(load_set_config(tiny_config(tmp_path, corpus_root)), out, force=True, progress=False)
    assert (out / "notes.txt").read_text() == "precious"


def test_altered_file_is_detected(built, tmp_path, capsys):
    out = tmp_path / "copy"
    shutil.copytree(built[0], out)
    victim = sorted(out.glob("*.wav"))[0]
    data = bytearray(victim.read_bytes())
    data[-10] ^= 0xFF
    victim.write_bytes(bytes(data))
    (out / "extra.wav").write_bytes(b"x")
    problems = verify_set(out)
    assert any(victim.name in p and "checksum mismatch" in p for p in problems)
    assert any("extra.wav: file is not listed" in p for p in problems)
    assert main(["validate-set", str(out)]) == 1
    assert "checksum mismatch" in capsys.readouterr().err
    (out / "extra.wav").unlink()
    victim.unlink()
    assert any("file is missing" in p for p in verify_set(out))


def test_manifest_schema_errors(built):
    data = json.loads((built[0] / "manifest.json").read_text())
    with pytest.raises(ListeningSetError, match="unknown manifest format_version 2"):
        parse_manifest({**data, "format_version": 2})
    broken = json.loads(json.dumps(data))
    del broken["items"][1]["stimuli"]["anchor35"]["sha256"]
    with pytest.raises(ListeningSetError, match="items/1/stimuli/anchor35: 'sha256' is a required property"):
        parse_manifest(broken)
    broken = json.loads(json.dumps(data))
    broken["items"][0]["stimuli"]["reference"]["file"] = "reference.wav"
    with pytest.raises(ListeningSetError, match="items/0/stimuli/reference/file"):
        parse_manifest(broken)
    broken = json.loads(json.dumps(data))
    broken["conditions"][1]["role"] = "hidden_reference"
    with pytest.raises(ListeningSetError, match="exactly one hidden_reference"):
        parse_manifest(broken)


@pytest.mark.parametrize("edit, message", [
    ({'kind = "copy_synthesis"\nvocoder = "world"': 'kind = "tacotron"'}, "conditions[3]: unknown condition kind 'tacotron'"),
    ({'vocoder = "world"': 'vocoder = "hifigan9"'}, "unknown vocoder 'hifigan9'"),
    ({"cutoff_hz = 3500": "cutoff_hz = 3500\nq = 2"}, "unknown setting 'q' for kind 'lowpass_anchor'"),
    ({'kind = "recording"': 'kind = "lowpass_anchor"'}, "exactly one condition of kind 'recording'"),
    ({'id = "anchor70"': 'id = "anchor35"'}, "condition id 'anchor35' appears twice"),
    ({'name = "tiny"': 'name = "tiny"\ncolour = "red"'}, "unknown setting 'colour'"),
    ({"workers = 1": 'workers = "two"'}, "'workers' must be int"),
    ({'"LJ001-0078"]': '"LJ009-9999"]'}, "item 'LJ009-9999' is not in the corpus"),
])
def test_bad_configs(tmp_path, corpus_root, edit, message):
    out = tmp_path / "out"
    with pytest.raises((ConfigError, ListeningSetError), match=message.replace("[", r"\[").replace("]", r"\]")):
        build_set(load_set_config(tiny_config(tmp_path, corpus_root, **edit)), out, progress=False)
    assert not out.exists() and leftovers(tmp_path) == []


def test_more_items_than_the_test_split_holds(tmp_path, corpus_root):
    cfg = tiny_config(tmp_path, corpus_root, **{'items = ["LJ002-0020", "LJ001-0002", "LJ001-0078"]': "n_items = 41"})
    with pytest.raises(ConfigError, match="asks for 41 items but the test split holds only 40"):
        build_set(load_set_config(cfg), tmp_path / "out", progress=False)


def test_invalid_toml_names_the_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("name = \n")
    with pytest.raises(ConfigError, match="bad.toml: invalid TOML"):
        load_set_config(bad)
    with pytest.raises(ConfigError, match="no \\[\\[conditions\\]\\]"):
        parse_set_config({"name": "x"}, "x.toml")


def test_corrupt_clip_leaves_no_partial_set(tmp_path, corpus, mini_corpus):
    from .conftest import make_mini_corpus  # noqa: F401  (mini_corpus built from SHORT_CLIPS)

    split = make_split(SHORT_CLIPS, seed=1, n_test=3, n_validation=1, corpus_name="mini")
    save_split(split, tmp_path / "split.json")
    victim = sorted(split.test)[-1]
    (mini_corpus / "wavs" / f"{victim}.wav").write_bytes(b"RIFF....WAVEfmt garbage")
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'name="m"\nn_items=3\ncorpus="{mini_corpus}"\nsplit="{tmp_path / "split.json"}"\nworkers=1\n'
                   '[[conditions]]\nid="reference"\nkind="recording"\n[[conditions]]\nid="a"\nkind="lowpass_anchor"\n')
    out = tmp_path / "out"
    assert main(["build-set", "--config", str(cfg), "--out", str(out), "--quiet"]) == 2
    assert not out.exists() and leftovers(tmp_path) == []
    write(mini_corpus / "wavs" / f"{victim}.wav", np.zeros((5000, 2), np.float32))
    with pytest.raises(Exception, match="2 channels, expected mono"):
        build_set(load_set_config(cfg), out, progress=False)
    assert not out.exists() and leftovers(tmp_path) == []


def test_missing_corpus_is_one_line(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'corpus="{tmp_path / "nowhere"}"\n[[conditions]]\nid="reference"\nkind="recording"\n'
                   '[[conditions]]\nid="a"\nkind="lowpass_anchor"\n')
    assert main(["build-set", "--config", str(cfg), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"synthesis: error: {tmp_path / 'nowhere'}: corpus folder does not exist"]
    with pytest.raises(CorpusError):
        build_set(load_set_config(cfg), tmp_path / "o", progress=False)


def test_cli_build_and_validate(tmp_path, corpus_root, capsys):
    cfg = tiny_config(tmp_path, corpus_root, **{'[[conditions]]\nid = "copy_world"\nkind = "copy_synthesis"\nvocoder = "world"\n': ""})
    out = tmp_path / "cli"
    assert main(["build-set", "--config", str(cfg), "--out", str(out), "--quiet"]) == 0
    assert "3 items x 4 conditions" in capsys.readouterr().out
    assert main(["validate-set", str(out)]) == 0
    assert main(["build-set", "--config", str(cfg), "--out", str(out), "--quiet"]) == 2
    assert "already holds a listening set (use --force" in capsys.readouterr().err
