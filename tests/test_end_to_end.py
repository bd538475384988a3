"""End to end: build a small set and serve it (`synthesis pipeline --serve`, the demo's path),
let simulated listeners take the test through the real app, run `analysis report` on the
database, and check its numbers against ones computed here from the raw tables.

The listeners do what the browser does (as ``benchmarks/evalapp_load.py``): each is registered
as the consent page registers one (``repository.create_listener``: the listener and their
seeded presentation order in one transaction), fetches every stimulus of each trial from
``/evalapp/audio/<token>`` and posts the ratings to ``/evalapp/api/submit`` with its resume
token, exactly as the MUSHRA component does. Two careless listeners rate the hidden reference
low: post-screening (BS.1534-3) must drop them and only them.

The independent numbers are computed with plain SQL over the base tables (not the
``tidy_ratings`` view the report reads) and pandas: screening, per-listener means, per-condition
means, medians and counts, and a Wilcoxon signed-rank test from scipy.
"""

from __future__ import annotations

import json
import os
import random
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from tests.synthesis.test_pipeline import mean_checkpoint, tiny_config, write_stage1

REPO = Path(__file__).resolve().parents[1]
ITEMS = ["LJ001-0016", "LJ002-0040", "LJ002-0087"]   # test-split clips
N_GOOD, N_CARELESS = 6, 2
# condition -> (typical score, listener spread): what a plausible panel gives each condition
TYPICAL = {"anchor35": (22, 6), "anchor70": (55, 8), "baseline": (38, 10)}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(proc: subprocess.Popen, url: str, log: Path, seconds: float = 150) -> None:
    deadline = time.monotonic() + seconds
    while True:
        if proc.poll() is not None:
            raise AssertionError(f"server exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise AssertionError(f"server not healthy after {seconds} s:\n{log.read_text()[-3000:]}") from None
            time.sleep(0.3)


def listener_scores(number: int, careless: bool, order: tuple[str, ...], position: int) -> dict:
    """One trial's submission body ``ratings``: deterministic per (listener, trial)."""
    rng = random.Random(number * 1000 + position)
    ratings = {}
    for slot, condition in enumerate(order):
        if condition == "reference":
            score = rng.randint(40, 80) if careless else (100 if rng.random() < 0.9 else rng.randint(92, 99))
        else:
            mean, spread = TYPICAL[condition]
            score = int(np.clip(round(rng.gauss(mean + (number % 3 - 1) * spread / 2, spread)), 0, 99))
        ratings[str(slot)] = {"score": score, "played": True, "play_count": 1 + rng.randint(0, 2)}
    if not any(r["score"] == 100 for r in ratings.values()):  # the app's rule: one stimulus at 100
        ratings[str(order.index("baseline"))]["score"] = 100
    return ratings


def run_listeners(base: str, db_url: str, set_dir: Path) -> list[str]:
    """Register the panel, take every trial through the HTTP API; returns careless listeners' ids."""
    from evalapp.config import fit_to_set, load_test_config
    from evalapp.flow import REFERENCE_SLOT, stimulus_token
    from evalapp.storage import make_engine
    from evalapp.storage import repository as repo
    from synthesis.listening_set import read_set

    config = load_test_config(None)            # the defaults `evalapp serve` runs with
    design = fit_to_set(config, read_set(set_dir))
    engine = make_engine(db_url)
    test = repo.get_test(engine, design.name)
    assert test is not None, "evalapp serve did not register the test"
    careless_ids = []
    with httpx.Client(base_url=base, timeout=30) as client:
        for number in range(N_GOOD + N_CARELESS):
            careless = number >= N_GOOD
            state, token = repo.create_listener(engine, test, design, config, participant_id=f"e2e-{number}")
            if careless:
                careless_ids.append(state.public_id)
            for trial in state.trials:
                plan = trial.plan()
                for slot in [REFERENCE_SLOT, *range(len(plan.order))]:
                    r = client.get(f"/evalapp/audio/{stimulus_token(test.secret, state.public_id, plan.position, slot)}")
                    assert r.status_code == 200 and r.content[:4] == b"RIFF", r.text[:200]
                body = {"position": plan.position, "time_on_page_s": 20.0 + number,
                        "ratings": listener_scores(number, careless, plan.order, plan.position)}
                r = client.post("/evalapp/api/submit", json=body, headers={"Authorization": f"Bearer {token}"})
                assert r.status_code == 200, r.text
            assert r.json()["finished"] is True
    engine.dispose()
    return careless_ids


def independent_numbers(db_file: Path, test_name: str) -> dict:
    """Screening and per-condition statistics from the base tables, without the analysis package."""
    with sqlite3.connect(db_file) as conn:
        raw = pd.read_sql_query(
            """SELECT l.public_id AS listener, tr.item_id AS item, r.condition_id AS condition, c.role AS role,
                      r.score AS score, tr.is_training AS is_training
               FROM ratings r, trials tr, listeners l, tests t, conditions c
               WHERE r.trial_id = tr.id AND tr.listener_id = l.id AND l.test_id = t.id AND t.name = ?
                 AND c.test_id = t.id AND c.condition_id = r.condition_id""", conn, params=(test_name,))
    scored = raw[raw.is_training == 0]
    ref = scored[scored.role == "hidden_reference"]
    below = (ref.score < 90).groupby(ref.listener).mean()
    excluded = set(below[below > 0.15].index)
    kept = scored[~scored.listener.isin(excluded)]
    per_listener = kept.groupby(["condition", "listener"]).score.mean().unstack("listener")
    conditions = {}
    for cond, group in kept.groupby("condition"):
        conditions[cond] = {"mean": float(per_listener.loc[cond].mean()), "median": float(group.score.median()),
                            "n_listeners": int(group.listener.nunique()), "n_ratings": len(group),
                            "n_items": int(group.item.nunique())}
    return {"excluded": excluded, "n_listeners": int(scored.listener.nunique()), "n_scored": len(scored),
            "n_training": int((raw.is_training == 1).sum()), "conditions": conditions, "per_listener": per_listener}


@pytest.mark.slow
def test_build_serve_rate_report(tmp_path):
    from synthesis.corpus import default_corpus_path, load_corpus

    t_start = time.monotonic()
    corpus = load_corpus(default_corpus_path())
    cfg = tiny_config()
    stage1 = write_stage1(tmp_path / "stage1.toml", cfg)
    ckpt = mean_checkpoint(tmp_path / "ckpt" / "model.pt", cfg, corpus)
    db_file = tmp_path / "ratings.db"
    db_url = f"sqlite:///{db_file}"
    config = tmp_path / "e2e.toml"
    config.write_text(f"""
name = "e2e"
work = "{tmp_path / 'work'}"
[[systems]]
id = "baseline"
label = "Baseline"
checkpoint = "{ckpt}"
stage1 = "{stage1}"
[set]
out = "{tmp_path / 'set'}"
name = "e2e"
items = {json.dumps(ITEMS)}
workers = 1
[serve]
db = "{db_url}"
""", encoding="utf-8")
    port = _free_port()
    log = tmp_path / "serve.log"
    with open(log, "w") as fh:
        server = subprocess.Popen([sys.executable, "-m", "synthesis", "pipeline", "--config", str(config), "--quiet",
                                   "--serve", "--port", str(port)], cwd=REPO, stdout=fh, stderr=subprocess.STDOUT,
                                  env={**os.environ, "EVALAPP_ADMIN_TOKEN": "e2e-admin-token-0123456789"})
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_healthy(server, base, log)
        careless = run_listeners(base, db_url, tmp_path / "set")
    finally:
        server.terminate()
        server.wait(30)

    out = tmp_path / "report"
    done = subprocess.run([sys.executable, "-m", "analysis", "report", "--db", db_url, "--test", "e2e", "--out",
                           str(out), "--no-plots", "--n-boot", "200"], cwd=REPO, capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    report = json.loads((out / "report.json").read_text())
    expected = independent_numbers(db_file, "e2e")

    # what went in
    assert report["input"]["test"] == "e2e"
    assert report["input"]["n_listeners"] == expected["n_listeners"] == N_GOOD + N_CARELESS
    assert report["input"]["n_ratings"] == expected["n_scored"] == (N_GOOD + N_CARELESS) * len(ITEMS) * 4
    assert report["input"]["n_training_rows_ignored"] == expected["n_training"] == (N_GOOD + N_CARELESS) * 4
    # post-screening: exactly the careless listeners
    screening = report["screening"]
    assert {x["listener"] for x in screening["listeners"] if x["excluded"]} == expected["excluded"] == set(careless)
    assert screening["n_listeners_after"] == N_GOOD
    # per-condition numbers
    got = {d["condition"]: d for d in report["descriptives"]}
    assert set(got) == set(expected["conditions"]) == {"reference", "anchor35", "anchor70", "baseline"}
    for cond, exp in expected["conditions"].items():
        assert got[cond]["mean"] == pytest.approx(exp["mean"], abs=1e-9), cond
        assert got[cond]["median"] == pytest.approx(exp["median"], abs=1e-9), cond
        for key in ("n_listeners", "n_ratings", "n_items"):
            assert got[cond][key] == exp[key], (cond, key)
    assert got["reference"]["role"] == "hidden_reference" and got["anchor35"]["role"] == "anchor"
    # a pairwise test, recomputed with scipy on the per-listener means
    from scipy.stats import wilcoxon

    pair = report["inference"]["wilcoxon"][0]
    a, b = expected["per_listener"].loc[pair["condition_a"]], expected["per_listener"].loc[pair["condition_b"]]
    assert pair["n"] == N_GOOD
    assert pair["mean_a"] == pytest.approx(a.mean()) and pair["mean_b"] == pytest.approx(b.mean())
    assert pair["p_unc"] == pytest.approx(wilcoxon(a.to_numpy(), b.to_numpy()).pvalue)
    assert time.monotonic() - t_start < 90, f"took {time.monotonic() - t_start:.0f} s"
