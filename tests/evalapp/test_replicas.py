"""Two app processes on different ports against one PostgreSQL database (how a deployment scales
past one machine), with a browser listener on each; trials and stimuli are served by either."""

from __future__ import annotations

import json
import urllib.request
from urllib.parse import parse_qs, urlparse

import pytest
import sqlalchemy as sa

from evalapp.flow import hash_token
from evalapp.storage import make_engine

from .conftest import new_pg_database

pytestmark = [pytest.mark.postgres, pytest.mark.browser]


def _post(url: str, token: str, body: dict) -> dict:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST", headers={
        "Content-Type": "application/json", "Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def _consent(browser, server_url: str) -> tuple[object, str]:
    page = browser.new_page()
    page.goto(server_url + "/")
    page.get_by_text("I have read the above and agree").click()
    page.get_by_role("button", name="Start").click()
    page.get_by_role("button", name="Continue").wait_for(timeout=20_000)
    return page, parse_qs(urlparse(page.url).query)["resume"][0]


def test_two_app_processes_share_one_postgres_database(browser, pg_server, tiny_set, start_server):
    db = new_pg_database(pg_server)
    a = start_server(tiny_set, db)
    b = start_server(tiny_set, db)  # both migrate and register the same test: exactly once
    page_a, token_a = _consent(browser, a.url)
    page_b, token_b = _consent(browser, b.url)

    # A stimulus URL minted by one process is served by the other (the HMAC key lives in the DB).
    page_a.get_by_role("button", name="Continue").click()
    src = page_a.locator("audio").first.get_attribute("src")
    assert src.startswith("/evalapp/audio/")
    for server in (a, b):
        with urllib.request.urlopen(server.url + src, timeout=10) as r:
            assert r.status == 200 and r.read(4) == b"RIFF"

    engine = make_engine(db)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM tests")).scalar_one() == 1
        assert conn.execute(sa.text("SELECT COUNT(*) FROM listeners")).scalar_one() == 2
        trials = conn.execute(sa.text(
            "SELECT l.resume_hash, t.position, t.stimulus_order FROM trials t JOIN listeners l "
            "ON l.id = t.listener_id ORDER BY t.position")).all()
    servers = [a, b]
    for token in (token_a, token_b):
        mine = [t for t in trials if t.resume_hash == hash_token(token)]
        for n, trial in enumerate(mine):  # alternate replicas trial by trial
            order = json.loads(trial.stimulus_order)
            answer = _post(servers[n % 2].url + "/evalapp/api/submit", token, {
                "position": trial.position, "time_on_page_s": 5.0,
                "ratings": {str(i): {"score": 100 if c == "reference" else 40, "played": True, "play_count": 1}
                            for i, c in enumerate(order)}})
            assert answer["ok"]
        assert answer["finished"]

    page_a.reload()
    page_a.get_by_role("heading", name="Thank you!").wait_for(timeout=20_000)
    page_b.reload()
    page_b.get_by_role("heading", name="Thank you!").wait_for(timeout=20_000)
    with engine.connect() as conn:
        n_ratings = conn.execute(sa.text("SELECT COUNT(*) FROM tidy_ratings")).scalar_one()
        finished = conn.execute(sa.text("SELECT COUNT(*) FROM listeners WHERE finished_at IS NOT NULL")).scalar_one()
    engine.dispose()
    assert finished == 2 and n_ratings == 2 * 4 * 3
    page_a.close()
    page_b.close()
