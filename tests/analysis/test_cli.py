"""The `analysis` command end to end: outputs, determinism, gates, exit codes, bad input."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from analysis.cli import main

SMALL = ["--listeners", "14", "--items", "8", "--careless-share", "0"]
CONDS = "rec:hidden_reference:100,anc:anchor:20,base:system:50,better:system:70,worse:system:35"


@pytest.fixture(scope="module")
def sim_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("sim") / "ratings.csv"
    assert main(["simulate", "--out", str(path), "--seed", "1", "--conditions", CONDS, *SMALL]) == 0
    return path


def _report(csv, out, *extra):
    return main(
        ["report", "--csv", str(csv), "--out", str(out), "--n-boot", "300", "--no-plots", *extra]
    )


def test_report_writes_all_outputs(sim_csv, tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(
        [
            "report",
            "--csv",
            str(sim_csv),
            "--out",
            str(out),
            "--baseline",
            "base",
            "--n-boot",
            "300",
            "--pair-level-extras",
        ]
    )
    assert rc == 0
    names = {p.name for p in out.iterdir()}
    assert {
        "report.md",
        "report.html",
        "report.json",
        "boxplot.png",
        "means_ci.png",
        "item_means.png",
    } <= names
    rep = json.loads((out / "report.json").read_text())
    assert rep["schema"] == "prosody-mushra/analysis-report" and rep["schema_version"] == "1.0"
    assert rep["inference"]["family"] == ["base", "better", "worse"]
    assert rep["inference"]["mixed_model"]["formulation"] == "crossed"
    assert {g["system"] for g in rep["gains"]["systems"]} == {"better", "worse"}
    assert "(M_S - M_B) / (M_R - M_B)" in rep["gains"]["formulas"]["gap_closure"]
    assert "NOT THE ANALYSIS" in rep["extras"]["warning"]
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 3
    md = (out / "report.md").read_text()
    assert "Gap closure" in md and "Holm" in md and "agree" in md
    assert "wrote report.md" in capsys.readouterr().out


def test_same_data_and_seed_same_numbers(sim_csv, tmp_path):
    assert _report(sim_csv, tmp_path / "a", "--baseline", "base") == 0
    assert _report(sim_csv, tmp_path / "b", "--baseline", "base") == 0
    a = json.loads((tmp_path / "a" / "report.json").read_text())
    b = json.loads((tmp_path / "b" / "report.json").read_text())
    assert a == b


def test_gates(sim_csv, tmp_path, capsys):
    assert _report(sim_csv, tmp_path / "g1", "--expect", "better>base") == 0
    capsys.readouterr()
    assert _report(sim_csv, tmp_path / "g2", "--baseline", "base", "--fail-if-worse") == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("analysis: gate failed: worse is significantly")
    assert (tmp_path / "g2" / "report.json").exists()  # the report is still written
    assert _report(sim_csv, tmp_path / "g3", "--expect", "base>better") == 1
    assert "expectation base>better failed" in capsys.readouterr().err


def _rows(sim_csv):
    return pd.read_csv(sim_csv)


BAD = {
    "empty": lambda d: d.iloc[0:0],
    "one_listener": lambda d: d[d.listener == d.listener.iat[0]],
    "no_reference": lambda d: d[d.role != "hidden_reference"],
    "score_range": lambda d: d.assign(score=d.score.where(d.index != 9, 101)),
    "score_missing": lambda d: d.assign(score=d.score.where(d.index != 9)),
    "duplicate": lambda d: pd.concat([d, d.iloc[[3]]]),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_exits_2_with_one_line_and_no_files(sim_csv, tmp_path, capsys, case):
    path = tmp_path / "bad.csv"
    BAD[case](_rows(sim_csv)).to_csv(path, index=False)
    out = tmp_path / "out"
    assert _report(path, out) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("analysis: error: ")
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["bad.csv"]


def test_unknown_baseline_and_layout(sim_csv, tmp_path, capsys):
    assert _report(sim_csv, tmp_path / "o", "--baseline", "nope") == 2
    assert "unknown condition 'nope'" in capsys.readouterr().err
    odd = tmp_path / "odd.csv"
    odd.write_text("x,y\n1,2\n")
    assert _report(odd, tmp_path / "o") == 2
    assert "unknown CSV layout" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_argparse_errors_are_one_line(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["report", "--csv", "x.csv"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--out" in err[0]


def test_database_round_trip(tmp_path):
    url = f"sqlite:///{tmp_path / 'app.db'}"
    assert main(["simulate", "--db", url, "--test", "t1", "--seed", "2", *SMALL]) == 0
    assert main(["simulate", "--db", url, "--test", "t1", *SMALL]) == 2  # exists: no --replace
    assert (
        main(
            [
                "report",
                "--db",
                url,
                "--test",
                "t1",
                "--out",
                str(tmp_path / "r"),
                "--baseline",
                "baseline",
                "--n-boot",
                "300",
                "--no-plots",
            ]
        )
        == 0
    )
    rep = json.loads((tmp_path / "r" / "report.json").read_text())
    assert rep["input"]["layout"] == "database" and rep["input"]["test"] == "t1"
    assert main(["report", "--db", url, "--test", "t2", "--out", str(tmp_path / "x")]) == 2


def test_subset_design_and_webmushra(tmp_path):
    csv = tmp_path / "subset.csv"
    assert (
        main(
            [
                "simulate",
                "--out",
                str(csv),
                "--listeners",
                "24",
                "--items",
                "12",
                "--items-per-listener",
                "6",
                "--training-items",
                "1",
                "--seed",
                "3",
            ]
        )
        == 0
    )
    assert _report(csv, tmp_path / "s", "--baseline", "baseline") == 0
    rep = json.loads((tmp_path / "s" / "report.json").read_text())
    assert rep["input"]["ratings_per_listener_item"]["subset_design"]
    assert rep["input"]["n_training_rows_ignored"] == 24 * 5

    # the same ratings in webMUSHRA's layout
    d = pd.read_csv(csv)
    d = d[~d.is_training]
    web = pd.DataFrame(
        {
            "session_test_id": "web",
            "email": d.listener + "@x.org",
            "age": 30,
            "session_uuid": d.listener,
            "trial_id": d["item"],
            "rating_stimulus": d.condition.replace({"recording": "reference"}),
            "rating_score": d.score.astype(int),
            "rating_time": 1234,
            "rating_comment": "",
        }
    )
    path = tmp_path / "mushra.csv"
    web.to_csv(path, index=False)
    assert _report(path, tmp_path / "w", "--baseline", "baseline") == 0
    rep_w = json.loads((tmp_path / "w" / "report.json").read_text())
    assert rep_w["input"]["layout"] == "webmushra"
    assert [g["gap_closure_pct"] for g in rep_w["gains"]["systems"]] == pytest.approx(
        [g["gap_closure_pct"] for g in rep["gains"]["systems"]]
    )


def test_internal_error_is_exit_3_not_a_gate_failure(monkeypatch, sim_csv, tmp_path, capsys):
    import analysis.report as report_pkg

    def boom(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(report_pkg, "build_report", boom)
    assert _report(sim_csv, tmp_path / "o") == 3
    assert "internal error" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
