"""`evalapp serve` refuses bad input before anything listens; `evalapp export` writes both layouts."""

from __future__ import annotations

import csv
import json
import socket

import pytest

from evalapp.cli import main
from evalapp.config import TestConfig, fit_to_set
from evalapp.storage import make_engine, migrate
from evalapp.storage import repository as repo
from synthesis.listening_set import read_set

from .conftest import ADMIN_TOKEN, free_port


def _serve(capsys, set_dir, *extra, db=None, token=ADMIN_TOKEN, port=None):
    port = port or free_port()
    argv = ["serve", "--set", str(set_dir), "--db", db or "sqlite:///:memory:", "--port", str(port),
            "--address", "127.0.0.1", *extra]
    if token:
        argv += ["--admin-token", token]
    code = main(argv)
    err = capsys.readouterr().err.strip()
    with socket.socket() as s:  # nothing was left listening
        assert s.connect_ex(("127.0.0.1", port)) != 0
    return code, err


def _check_one_line_error(code, err, *needles):
    assert code == 2
    assert err.startswith("evalapp: error: ") and "\n" not in err, err
    for needle in needles:
        assert needle in err, err


def test_refuses_a_set_with_an_altered_file(capsys, set_copy, monkeypatch):
    monkeypatch.delenv("EVALAPP_ADMIN_TOKEN", raising=False)
    victim = min(set_copy.glob("*.wav"))
    data = bytearray(victim.read_bytes())
    data[-1] ^= 0xFF
    victim.write_bytes(bytes(data))
    _check_one_line_error(*_serve(capsys, set_copy), victim.name, "checksum mismatch")


def test_refuses_an_unknown_manifest_version(capsys, set_copy):
    path = set_copy / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["format_version"] = 99
    path.write_text(json.dumps(manifest))
    _check_one_line_error(*_serve(capsys, set_copy), "manifest.json", "format_version 99")


def test_refuses_more_than_12_stimuli_on_a_page(capsys, set_copy):
    path = set_copy / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["conditions"] += [{"id": f"sys{i}", "role": "system", "kind": "copy_synthesis"} for i in range(10)]
    path.write_text(json.dumps(manifest))
    _check_one_line_error(*_serve(capsys, set_copy), "at most 12")


def test_refuses_without_admin_token(capsys, tiny_set, monkeypatch):
    monkeypatch.delenv("EVALAPP_ADMIN_TOKEN", raising=False)
    _check_one_line_error(*_serve(capsys, tiny_set, token=None), "no admin token")
    _check_one_line_error(*_serve(capsys, tiny_set, token="short"), "at least 12 characters")


def test_refuses_an_unreachable_database(capsys, tiny_set):
    code, err = _serve(capsys, tiny_set, db="postgresql+psycopg://u:hunter2@127.0.0.1:9/none?connect_timeout=2")
    _check_one_line_error(code, err, "cannot connect")
    assert "hunter2" not in err  # the password is masked


def test_refuses_bad_configs_folders_and_busy_ports(capsys, tiny_set, tmp_path):
    config = tmp_path / "test.toml"
    config.write_text('items = ["LJ999-9999"]\n')
    _check_one_line_error(*_serve(capsys, tiny_set, "--config", str(config)), "test.toml", "LJ999-9999")
    _check_one_line_error(*_serve(capsys, tmp_path / "nowhere"), "does not exist")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["serve", "--set", str(tiny_set), "--port", str(port), "--address", "127.0.0.1",
                     "--admin-token", ADMIN_TOKEN]) == 2
    assert "cannot listen" in capsys.readouterr().err


@pytest.fixture
def rated_db(tiny_set, tmp_path):
    url = f"sqlite:///{tmp_path / 'ratings.db'}"
    manifest = read_set(tiny_set)
    config = TestConfig()
    design = fit_to_set(config, manifest)
    engine = make_engine(url)
    migrate(engine)
    test = repo.ensure_test(engine, design, manifest, config)
    for n in range(3):
        listener, token = repo.create_listener(engine, test, design, config, participant_id=f"P{n}")
        for trial in listener.trials:
            repo.save_trial(engine, test, token, {
                "position": trial.position, "time_on_page_s": 30.25,
                "ratings": {str(i): {"score": 100 if c == "reference" else 20 + 30 * (c == "anchor70") + n,
                                     "played": True, "play_count": 1} for i, c in enumerate(trial.order)}},
                config.rules)
    engine.dispose()
    return url, design


def test_export_tidy_is_the_analysis_contract(rated_db, tmp_path, capsys):
    from analysis.data import read_csv

    url, design = rated_db
    out = tmp_path / "tidy.csv"
    assert main(["export", "--db", url, "--test", "tiny", "--format", "tidy", "--out", str(out)]) == 0
    rows = list(csv.DictReader(out.open()))
    assert list(rows[0]) == ["test", "listener", "item", "condition", "role", "score", "time_spent_s",
                             "all_played", "is_training"]
    assert len(rows) == 3 * (1 + len(design.items)) * len(design.conditions)
    tidy, layout = read_csv(out)
    assert layout == "tidy" and len(tidy) == len(rows)
    assert tidy.groupby("condition")["score"].mean()["reference"] == 100


def test_export_webmushra_layout_reads_back(rated_db, tmp_path):
    from analysis.data import read_csv

    url, design = rated_db
    out = tmp_path / "mushra.csv"
    assert main(["export", "--db", url, "--test", "tiny", "--format", "webmushra", "--out", str(out)]) == 0
    rows = list(csv.DictReader(out.open()))
    assert list(rows[0]) == ["session_test_id", "participant_id", "session_uuid", "trial_id", "rating_stimulus",
                             "rating_score", "rating_time", "rating_comment"]
    assert len(rows) == 3 * len(design.items) * len(design.conditions)  # no training rows
    assert {r["rating_time"] for r in rows} == {"30250"}  # milliseconds, like webMUSHRA
    tidy, layout = read_csv(out)
    assert layout == "webmushra"
    assert dict(tidy.groupby("condition")["role"].first()) == {
        "anchor35": "anchor", "anchor70": "anchor", "reference": "hidden_reference"}


def test_export_errors(rated_db, tmp_path, capsys):
    url, _ = rated_db
    assert main(["export", "--db", url, "--test", "nope"]) == 2
    assert "no such test" in capsys.readouterr().err
    assert main(["export", "--db", url, "--test", "tiny", "--out", str(tmp_path / "no" / "x.csv")]) == 2
    assert not (tmp_path / "no").exists()
    assert main(["migrate", "--db", url]) == 0
    assert "revision 0001" in capsys.readouterr().out
