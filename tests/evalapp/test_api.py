"""The HTTP routes (stimuli, submit) on a plain Starlette app with a real context and database."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from starlette.applications import Starlette
from starlette.testclient import TestClient

from evalapp.api import AUDIO_PREFIX, SUBMIT_PATH, make_routes
from evalapp.context import ServeSettings, prepare
from evalapp.flow import stimulus_token
from evalapp.storage import repository as repo


@pytest.fixture
def app(tiny_set, tmp_path):
    ctx = prepare(ServeSettings(set_dir=str(tiny_set), db_url=f"sqlite:///{tmp_path / 'r.db'}"))
    client = TestClient(Starlette(routes=make_routes(lambda: ctx)))
    listener, token = repo.create_listener(ctx.engine, ctx.test, ctx.design, ctx.config)
    yield ctx, client, listener, token
    ctx.engine.dispose()


def _url(ctx, listener, position, slot):
    return AUDIO_PREFIX + stimulus_token(ctx.test.secret, listener.public_id, position, slot)


def _body(trial, score=lambda c: 100 if c == "reference" else 25, position=None):
    return {"position": trial.position if position is None else position, "time_on_page_s": 9.5,
            "ratings": {str(i): {"score": score(c), "played": True, "play_count": 1}
                        for i, c in enumerate(trial.order)}}


def test_stimuli_are_served_from_the_set_under_opaque_names(app):
    ctx, client, listener, _ = app
    trial = listener.trials[0]
    hidden_slot = trial.order.index("reference")
    ref = client.get(_url(ctx, listener, 0, "R"))
    hidden = client.get(_url(ctx, listener, 0, hidden_slot))
    assert ref.status_code == hidden.status_code == 200
    assert ref.headers["content-type"] == "audio/wav"
    expected = ctx.stimulus_path(trial.item_id, "reference").read_bytes()
    assert ref.content == hidden.content == expected
    # Nothing in the headers ties the hidden reference to the reference button.
    assert ref.headers["etag"] != hidden.headers["etag"]
    assert "last-modified" not in ref.headers
    for slot, condition in enumerate(trial.order):
        got = client.get(_url(ctx, listener, 0, slot))
        assert got.content == ctx.stimulus_path(trial.item_id, condition).read_bytes()
    ranged = client.get(_url(ctx, listener, 0, 0), headers={"Range": "bytes=0-43"})
    assert ranged.status_code == 206 and len(ranged.content) == 44


@pytest.mark.parametrize("path", [
    "../manifest.json", "..%2Fmanifest.json", "%2e%2e%2fmanifest.json", "..%2F..%2F..%2Fetc%2Fpasswd",
    "manifest.json", "f398cee8f3a391a17ae1.wav", "AAAAAAAAAAAA.0.0.000000000000000000000000",
])
def test_path_traversal_and_guessed_names_fail(app, path):
    _ctx, client, _, _ = app
    response = client.get(AUDIO_PREFIX + path)
    assert response.status_code == 404
    assert b"RIFF" not in response.content and b"conditions" not in response.content


def test_forged_tokens_of_unknown_listeners_or_trials_fail(app):
    ctx, client, listener, _ = app
    assert client.get(AUDIO_PREFIX + stimulus_token("00" * 32, listener.public_id, 0, 0)).status_code == 404
    assert client.get(AUDIO_PREFIX + stimulus_token(ctx.test.secret, "nobodyNOBODY", 0, 0)).status_code == 404
    assert client.get(AUDIO_PREFIX + stimulus_token(ctx.test.secret, listener.public_id, 99, 0)).status_code == 404
    assert client.get(AUDIO_PREFIX + stimulus_token(ctx.test.secret, listener.public_id, 0, 7)).status_code == 404


def test_submit_stores_at_once_and_replays_are_harmless(app):
    ctx, client, listener, token = app
    headers = {"Authorization": f"Bearer {token}"}
    first = client.post(SUBMIT_PATH, json=_body(listener.trials[0]), headers=headers)
    assert first.status_code == 200, first.text
    assert first.json() == {"ok": True, "position": 0, "finished": False, "next_position": 1, "n_submits": 1}
    replay = client.post(SUBMIT_PATH, json=_body(listener.trials[0]), headers=headers)
    assert replay.json()["n_submits"] == 2
    with ctx.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM ratings")).scalar_one() == len(ctx.design.conditions)


@pytest.mark.parametrize("change, status, message", [
    (lambda b, h: h.pop("Authorization"), 403, "missing resume token"),
    (lambda b, h: h.update(Authorization="Bearer " + "z" * 32), 403, "unknown listener"),
    (lambda b, h: b["ratings"]["0"].update(score=150), 400, "within 0-100"),
    (lambda b, h: b["ratings"].update({"5": {"score": 3, "played": True}}), 400, "unknown stimulus"),
    (lambda b, h: b.update(position=2), 409, "not open yet"),
    (lambda b, h: b.update(position="0"), 400, "'position'"),
])
def test_submit_rejects(app, change, status, message):
    ctx, client, listener, token = app
    body, headers = _body(listener.trials[0]), {"Authorization": f"Bearer {token}"}
    change(body, headers)
    response = client.post(SUBMIT_PATH, json=body, headers=headers)
    assert response.status_code == status
    assert message in response.json()["error"]
    with ctx.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM ratings")).scalar_one() == 0


def test_submit_rejects_malformed_requests(app):
    _ctx, client, listener, token = app
    auth = {"Authorization": f"Bearer {token}"}
    r = client.post(SUBMIT_PATH, content=b"{not json", headers={**auth, "Content-Type": "application/json"})
    assert r.status_code == 400 and "not valid JSON" in r.json()["error"]
    r = client.post(SUBMIT_PATH, content=json.dumps(_body(listener.trials[0])),
                    headers={**auth, "Content-Type": "text/plain"})
    assert r.status_code == 415
    r = client.post(SUBMIT_PATH, content=b"[" + b"1," * 40_000 + b"1]",
                    headers={**auth, "Content-Type": "application/json"})
    assert r.status_code == 413
    assert client.get(SUBMIT_PATH).status_code == 405
