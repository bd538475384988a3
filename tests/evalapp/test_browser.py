"""A real `evalapp serve` driven by Playwright with Debian's Chromium: a listener goes through
consent, training and every trial with mouse and keyboard, reloads mid-test and resumes; the
database then holds each rating exactly once. Also: switching keeps the playback position,
submit is blocked until the rules hold, nothing in the page reveals conditions, admin needs the token.
"""

from __future__ import annotations

import json
import os
import re
import time

import pytest
import sqlalchemy as sa

from synthesis.listening_set import read_set

from .conftest import ADMIN_TOKEN

pytestmark = pytest.mark.browser

CONFIG = """
title = "Browser test"
training_items = 1
[rules]
min_listen_s = 0.3
[crowdsourcing]
completion_url = "https://example.org/done?cc={code}&who={participant}"
"""
SECRET_WORDS = ("anchor", "hidden_reference")


def _mushra(page, position: int):
    # During a rerun Streamlit may still show the previous trial for a moment: pick ours.
    return page.locator(f".mushra[data-position='{position}']")


def _wait_trial(page, heading: str, position: int):
    page.get_by_role("heading", name=heading).wait_for(timeout=20_000)
    page.wait_for_selector(f".mushra[data-loaded=true][data-position='{position}']", timeout=20_000)


def _do_trial(page, scores_out: dict, position: int, check_switch=False, check_loop=False):
    root = _mushra(page, position)
    submit = root.locator(".mushra-submit")
    assert submit.is_disabled()
    assert "play every version (3 not played yet)" in root.locator(".mushra-reason").inner_text()
    if check_loop:  # drag on the waveform: loop 30-60 % of the file
        box = root.locator(".mushra-wave").bounding_box()
        y = box["y"] + box["height"] / 2
        page.mouse.move(box["x"] + 0.3 * box["width"], y)
        page.mouse.down()
        page.mouse.move(box["x"] + 0.45 * box["width"], y, steps=4)
        page.mouse.move(box["x"] + 0.6 * box["width"], y, steps=4)
        page.mouse.up()
        start, end = map(float, re.findall(r"(\d+\.\d+)", root.locator(".mushra-loop").inner_text())[:2])
        assert 0 < start < end
    root.locator(".mushra-play").nth(0).click()           # mouse: play A
    page.wait_for_timeout(450)
    pressed = time.monotonic()
    page.keyboard.press("2")                               # keyboard: switch to B while playing
    switch = json.loads(root.get_attribute("data-last-switch"))
    assert switch["from"] == "A" and switch["to"] == "B"
    if check_switch:
        # Sample-aligned switching: B starts where A was, and keeps running from there. The
        # playhead moves with the wall clock; on a loaded machine more than the 200 ms waited
        # may pass, so the upper bound is the time measured since the key press.
        assert switch["before"] > 0.3
        assert abs(switch["offset"] - switch["before"]) < 0.03
        page.wait_for_timeout(200)
        playhead = float(root.get_attribute("data-playhead"))
        elapsed = time.monotonic() - pressed
        assert switch["before"] + 0.2 - 0.12 <= playhead <= switch["before"] + elapsed + 0.12
    page.wait_for_timeout(450)
    page.keyboard.press("3")
    page.wait_for_timeout(450)
    if check_loop:
        playhead = float(root.get_attribute("data-playhead"))
        assert start - 0.05 <= playhead <= end + 0.05
    page.keyboard.press("r")                               # reference
    assert root.get_attribute("data-active") == "R"
    page.wait_for_timeout(150)
    page.keyboard.press(" ")                               # stop
    assert root.get_attribute("data-playing") == "false"
    assert root.get_attribute("data-played") == "111"
    assert "rate at least one version 100" in root.locator(".mushra-reason").inner_text()
    assert submit.is_disabled()
    sliders = root.locator(".mushra-slider")
    sliders.nth(0).focus()
    page.keyboard.press("End")                             # A -> 100
    box = sliders.nth(1).bounding_box()                     # B: a mouse click on the track
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] * 0.6)
    sliders.nth(2).focus()
    for _ in range(7 + position):                          # C: arrow keys
        page.keyboard.press("ArrowUp")
    shown = [int(o) for o in root.locator(".mushra-score").all_inner_texts()]
    assert shown[0] == 100 and 5 < shown[1] < 95 and shown[2] == 7 + position
    scores_out[position] = shown
    assert submit.is_enabled()
    submit.click()


def _assert_nothing_revealed(page, frames, manifest):
    secret_strings = [w for w in SECRET_WORDS]
    secret_strings += [c.id for c in manifest.conditions if c.role != "hidden_reference"]
    for item in manifest.items:
        for stim in item.stimuli.values():
            secret_strings += [stim.file[:-4], stim.sha256]
    dom = page.evaluate("""() => {
        const parts = [document.documentElement.outerHTML];
        const walk = (root) => root.querySelectorAll('*').forEach((el) => {
            if (el.shadowRoot) { parts.push(el.shadowRoot.innerHTML); walk(el.shadowRoot); }
        });
        walk(document);
        return parts.join('\\n');
    }""")
    wire = b"\n".join(f if isinstance(f, bytes) else f.encode() for f in frames)
    for s in secret_strings:
        # Whole words only: Streamlit's own DOM has ids such as "iframeresizeranchor".
        pattern = r"(?<![a-z0-9])" + re.escape(s.lower())
        assert not re.search(pattern, dom.lower()), f"page reveals {s!r}"
        assert not re.search(pattern.encode(), wire.lower()), f"websocket traffic reveals {s!r}"


def test_listener_walkthrough_resume_and_exactly_once(browser, tiny_set, tmp_path, start_server):
    config = tmp_path / "test.toml"
    config.write_text(CONFIG)
    db = f"sqlite:///{tmp_path / 'ratings.db'}"
    server = start_server(tiny_set, db, config)
    manifest = read_set(tiny_set)
    context = browser.new_context(viewport={"width": 1200, "height": 950})
    page = context.new_page()
    frames: list = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: frames.append(payload)))
    errors: list = []
    page.on("pageerror", lambda e: errors.append(str(e)))

    page.goto(server.url + "/?PROLIFIC_PID=pw-listener-1")
    start = page.get_by_role("button", name="Start")
    assert start.is_disabled()                                         # consent must be accepted
    page.get_by_text("I have read the above and agree").click()
    start.click()
    page.get_by_role("button", name="Continue").click()
    assert "resume=" in page.url
    page.get_by_text("My headphones are on").click()
    page.locator("audio").first.wait_for(state="attached")
    page.get_by_role("button", name="Start the test").click()

    scores: dict[int, list[int]] = {}
    _wait_trial(page, "Training", 0)
    _assert_nothing_revealed(page, frames, manifest)
    _do_trial(page, scores, 0, check_switch=True)
    _wait_trial(page, "Trial 1 of 3", 1)
    _do_trial(page, scores, 1, check_loop=True)
    _wait_trial(page, "Trial 2 of 3", 2)
    if os.environ.get("EVALAPP_SCREENSHOT"):
        page.screenshot(path=os.environ["EVALAPP_SCREENSHOT"], full_page=True)
    page.reload()                                                      # reload mid-test: resumes
    _wait_trial(page, "Trial 2 of 3", 2)
    resume_url = page.url
    page.close()
    page = context.browser.new_context(viewport={"width": 1200, "height": 950}).new_page()
    page.goto(resume_url)                                              # fresh browser session, same link
    _wait_trial(page, "Trial 2 of 3", 2)
    _do_trial(page, scores, 2)
    _wait_trial(page, "Trial 3 of 3", 3)
    _do_trial(page, scores, 3)

    page.get_by_role("heading", name="Thank you!").wait_for(timeout=20_000)
    code = page.locator("code").first.inner_text().strip()
    link = page.get_by_role("link", name="Return to the study platform").get_attribute("href")
    assert link == f"https://example.org/done?cc={code}&who=pw-listener-1"
    assert errors == []

    engine = sa.create_engine(db)
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT tr.position, r.slot, r.condition_id, r.score, r.played FROM ratings r "
            "JOIN trials tr ON tr.id = r.trial_id ORDER BY tr.position, r.slot")).all()
        tidy = conn.execute(sa.text("SELECT * FROM tidy_ratings")).all()
        listener = conn.execute(sa.text("SELECT participant_id, finished_at FROM listeners")).one()
    engine.dispose()
    assert len(rows) == len(tidy) == 4 * 3                       # 1 training + 3 trials, 3 stimuli each
    assert len({(r.position, r.condition_id) for r in rows}) == len(rows)
    assert {(r.position, r.slot): r.score for r in rows} == {
        (p, s): v for p, shown in scores.items() for s, v in enumerate(shown)}
    assert all(r.played for r in rows)
    assert listener.participant_id == "pw-listener-1" and listener.finished_at is not None


def test_admin_page_needs_the_token(browser, tiny_set, tmp_path, start_server):
    server = start_server(tiny_set, f"sqlite:///{tmp_path / 'ratings.db'}")
    page = browser.new_page()
    page.goto(server.url + "/admin")
    page.get_by_label("Admin token").fill("wrong-token-wrong-token")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_text("Wrong admin token.").wait_for(timeout=10_000)
    assert page.get_by_text("Per condition").count() == 0
    assert page.get_by_role("button", name=re.compile("Download")).count() == 0
    page.get_by_label("Admin token").fill(ADMIN_TOKEN)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_text("Per condition (scored trials)").wait_for(timeout=10_000)
    page.get_by_role("button", name=re.compile(r"Download tidy CSV \(0 rows\)")).wait_for(timeout=10_000)
    page.close()
