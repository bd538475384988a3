"""Storage on SQLite and PostgreSQL: migrations, the tidy_ratings contract, idempotent submits."""

from __future__ import annotations

import json
import threading

import pytest
import sqlalchemy as sa

from evalapp.config import TestConfig, fit_to_set, parse_test_config
from evalapp.errors import StorageError, SubmitRejected
from evalapp.storage import make_engine, migrate
from evalapp.storage import repository as repo
from evalapp.storage.db import current_revision, head_revision
from synthesis.listening_set import read_set


@pytest.fixture
def stored(db_url, tiny_set):
    manifest = read_set(tiny_set)
    config = TestConfig()
    design = fit_to_set(config, manifest)
    engine = make_engine(db_url)
    migrate(engine)
    test = repo.ensure_test(engine, design, manifest, config)
    yield engine, test, design, config, manifest
    engine.dispose()


def _payload(trial, score_of=lambda c: 100 if c == "reference" else 30):
    return {"position": trial.position, "time_on_page_s": 20.5,
            "ratings": {str(i): {"score": score_of(c), "played": True, "play_count": 2}
                        for i, c in enumerate(trial.order)}}


def _count(engine, table="ratings"):
    with engine.connect() as conn:
        return conn.execute(sa.text(f"SELECT COUNT(*) FROM {table}")).scalar_one()


def test_migrations_are_idempotent_and_make_the_tidy_view(stored):
    engine = stored[0]
    assert migrate(engine) == head_revision() == current_revision(engine)
    with engine.connect() as conn:
        cols = list(conn.execute(sa.text("SELECT * FROM tidy_ratings")).keys())
    assert cols == ["test", "listener", "item", "condition", "role", "score", "time_spent_s", "all_played",
                    "is_training"]


def test_a_full_listener_lands_in_tidy_ratings(stored):
    engine, test, design, config, _ = stored
    listener, token = repo.create_listener(engine, test, design, config, "PROLIFIC-1", "pytest")
    assert len(listener.trials) == 1 + len(design.items)
    for trial in listener.trials:
        result = repo.save_trial(engine, test, token, _payload(trial), config.rules)
    assert result.finished and result.next_position is None
    rows = repo.tidy_rows(engine, test.name)
    assert len(rows) == len(listener.trials) * len(design.conditions)
    training = [r for r in rows if r[8]]
    assert len(training) == len(design.conditions)
    roles = {r[3]: r[4] for r in rows}
    assert roles == {"reference": "hidden_reference", "anchor35": "anchor", "anchor70": "anchor"}
    assert {r[5] for r in rows if r[3] == "reference"} == {100}
    assert all(r[1] == listener.public_id and r[6] == pytest.approx(20.5) and r[7] for r in rows)
    state = repo.find_listener(engine, test, token)
    assert state.finished and state.participant_id == "PROLIFIC-1"


def test_resubmit_updates_and_never_duplicates(stored):
    engine, test, design, config, _ = stored
    listener, token = repo.create_listener(engine, test, design, config)
    trial = listener.trials[0]
    repo.save_trial(engine, test, token, _payload(trial), config.rules)
    again = repo.save_trial(engine, test, token, _payload(trial, lambda c: 100 if c == "reference" else 61),
                            config.rules)
    assert again.n_submits == 2
    assert _count(engine) == len(design.conditions)
    assert {r[5] for r in repo.tidy_rows(engine, test.name) if r[3] != "reference"} == {61}


def test_concurrent_replays_of_one_trial_store_it_once(stored):
    engine, test, design, config, _ = stored
    listener, token = repo.create_listener(engine, test, design, config)
    trial = listener.trials[0]
    errors = []

    def submit():
        try:
            repo.save_trial(engine, test, token, _payload(trial), config.rules)
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=submit) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert _count(engine) == len(design.conditions)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT n_submits FROM trials WHERE position = 0")).scalar_one() == 12


def test_listeners_cannot_touch_each_others_trials(stored):
    engine, test, design, config, _ = stored
    alice, alice_token = repo.create_listener(engine, test, design, config)
    bob, bob_token = repo.create_listener(engine, test, design, config)
    repo.save_trial(engine, test, alice_token, _payload(alice.trials[0]), config.rules)
    # Bob's token only ever reaches Bob's own trials, whatever ids he sends.
    repo.save_trial(engine, test, bob_token, _payload(bob.trials[0], lambda c: 100 if c == "reference" else 0),
                    config.rules)
    alice_rows = [r for r in repo.tidy_rows(engine, test.name) if r[1] == alice.public_id]
    assert {r[5] for r in alice_rows if r[3] != "reference"} == {30}
    for bad in ("x" * 32, alice.public_id * 2, "", "' OR 1=1 --" + "x" * 10):
        with pytest.raises(SubmitRejected) as err:
            repo.save_trial(engine, test, bad, _payload(alice.trials[1]), config.rules)
        assert err.value.status == 403
    assert repo.find_listener(engine, test, "x" * 32) is None


def test_order_and_finished_tests_are_enforced(stored):
    engine, test, design, config, _ = stored
    listener, token = repo.create_listener(engine, test, design, config)
    with pytest.raises(SubmitRejected, match="not open yet") as err:
        repo.save_trial(engine, test, token, _payload(listener.trials[2]), config.rules)
    assert err.value.status == 409
    with pytest.raises(SubmitRejected, match="no trial 99"):
        repo.save_trial(engine, test, token, dict(_payload(listener.trials[0]), position=99), config.rules)
    for trial in listener.trials:
        repo.save_trial(engine, test, token, _payload(trial), config.rules)
    with pytest.raises(SubmitRejected, match="already finished") as err:
        repo.save_trial(engine, test, token, _payload(listener.trials[0]), config.rules)
    assert err.value.status == 409
    assert _count(engine) == len(listener.trials) * len(design.conditions)


def test_hostile_strings_are_stored_verbatim(stored):
    engine, test, design, config, _ = stored
    evil = "x'); DROP TABLE ratings; --"
    listener, token = repo.create_listener(engine, test, design, config, participant_id=evil, user_agent=evil)
    repo.save_trial(engine, test, token, _payload(listener.trials[0]), config.rules)
    assert repo.find_listener(engine, test, token).participant_id == evil
    assert _count(engine) == len(design.conditions)


def test_a_test_name_is_bound_to_its_listening_set(stored):
    engine, test, _design, _config, manifest = stored
    narrower = parse_test_config({"conditions": ["anchor35"]})
    with pytest.raises(StorageError, match="already exists in the database with a different"):
        repo.ensure_test(engine, fit_to_set(narrower, manifest), manifest, narrower)
    renamed = parse_test_config({"conditions": ["anchor35"], "name": "tiny-subset"})
    other = repo.ensure_test(engine, fit_to_set(renamed, manifest), manifest, renamed)
    assert other.id != test.id and other.secret != test.secret
    with engine.connect() as conn:
        stored_design = json.loads(conn.execute(sa.text("SELECT design_json FROM tests WHERE name = 'tiny-subset'"))
                                   .scalar_one())
    assert stored_design["conditions"] == ["reference", "anchor35"]


def test_bad_database_urls():
    with pytest.raises(StorageError, match="not a database URL"):
        make_engine("not a url")
    with pytest.raises(StorageError, match="does not exist"):
        make_engine("sqlite:////no/such/folder/x.db")
    with pytest.raises(StorageError, match="cannot connect"):
        migrate(make_engine("postgresql+psycopg://nobody:secret@127.0.0.1:9/none?connect_timeout=2"))
