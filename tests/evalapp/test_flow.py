"""Pure listener logic: orders, tokens, submission checks (no server, no database)."""

from __future__ import annotations

import pytest

from evalapp.config import Rules, TestDesign
from evalapp.errors import SubmitRejected
from evalapp.flow import (
    TrialPlan,
    check_submission,
    completion_link,
    condition_for_slot,
    parse_stimulus_token,
    plan_trials,
    stimulus_token,
)

DESIGN = TestDesign(name="t", items=("i1", "i2", "i3", "i4"), conditions=("ref", "a35", "a70", "sysA"),
                    reference="ref", roles={"ref": "hidden_reference", "a35": "anchor", "a70": "anchor",
                                            "sysA": "system"})
SECRET = "ab" * 32


def test_plan_is_seeded_and_a_permutation():
    plans = plan_trials(DESIGN, seed=5, training_items=1)
    assert plans == plan_trials(DESIGN, seed=5, training_items=1)
    assert [p.position for p in plans] == list(range(5))
    assert [p.is_training for p in plans] == [True, False, False, False, False]
    assert sorted(p.item_id for p in plans[1:]) == sorted(DESIGN.items)
    assert plans[0].item_id == plans[1].item_id  # training item is then scored
    for p in plans:
        assert sorted(p.order) == sorted(DESIGN.conditions)
    orders = {tuple(p.item_id for p in plan_trials(DESIGN, s, 0)) for s in range(40)}
    slots = {plan_trials(DESIGN, s, 0)[0].order.index("ref") for s in range(40)}
    assert len(orders) > 10 and slots == {0, 1, 2, 3}  # items and the hidden reference move around


def test_stimulus_token_round_trip_and_forgery():
    token = stimulus_token(SECRET, "listenerAAAA", 3, 2)
    assert parse_stimulus_token(SECRET, token) == ("listenerAAAA", 3, "2")
    assert parse_stimulus_token(SECRET, token + ".wav") == ("listenerAAAA", 3, "2")
    ref = stimulus_token(SECRET, "listenerAAAA", 3, "R")
    assert ref != token and "ref" not in ref.lower().replace(".r.", "")
    forged = token[:-1] + ("0" if token[-1] != "0" else "1")
    for bad in (forged, stimulus_token("cd" * 32, "listenerAAAA", 3, 2), "../manifest.json",
                "listenerAAAA.3.2", token.replace(".3.", ".4."), "", "x" * 500):
        with pytest.raises(SubmitRejected) as err:
            parse_stimulus_token(SECRET, bad)
        assert err.value.status == 404


def test_condition_for_slot():
    plan = TrialPlan(0, "i1", False, ("a35", "ref", "sysA", "a70"))
    assert condition_for_slot(plan, "R", "ref") == "ref"
    assert condition_for_slot(plan, "2", "ref") == "sysA"
    with pytest.raises(SubmitRejected):
        condition_for_slot(plan, "9", "ref")


def _payload(scores, played=True, position=0, **extra):
    return {"position": position, "time_on_page_s": 12.0,
            "ratings": {str(i): {"score": s, "played": played, "play_count": 1} for i, s in enumerate(scores)},
            **extra}


PLAN = TrialPlan(0, "i1", False, ("a35", "ref", "sysA", "a70"))


def test_check_submission_maps_slots_to_conditions():
    clean = check_submission(PLAN, _payload([10, 100, 55, 40]), Rules())
    assert {r.condition_id: r.score for r in clean.ratings} == {"a35": 10, "ref": 100, "sysA": 55, "a70": 40}
    assert clean.all_played and clean.time_on_page_s == 12.0


@pytest.mark.parametrize("mutate, message", [
    (lambda p: p["ratings"]["0"].update(score=101), "within 0-100"),
    (lambda p: p["ratings"]["0"].update(score=-1), "within 0-100"),
    (lambda p: p["ratings"]["0"].update(score=50.5), "whole number"),
    (lambda p: p["ratings"]["0"].update(score=float("nan")), "whole number"),
    (lambda p: p["ratings"]["0"].update(score=True), "must be a number"),
    (lambda p: p["ratings"]["0"].update(score="90"), "must be a number"),
    (lambda p: p["ratings"].update({"7": {"score": 1, "played": True}}), "unknown stimulus"),
    (lambda p: p["ratings"].update({"sysA": {"score": 1, "played": True}}), "unknown stimulus"),
    (lambda p: p["ratings"].pop("3"), "has no rating"),
    (lambda p: p.update(ratings=[1, 2]), "keyed by slot"),
    (lambda p: p.update(time_on_page_s=-3), "non-negative"),
])
def test_check_submission_rejects(mutate, message):
    payload = _payload([10, 100, 55, 40])
    mutate(payload)
    with pytest.raises(SubmitRejected, match=message) as err:
        check_submission(PLAN, payload, Rules())
    assert err.value.status == 400


def test_rules_are_enforced_and_can_be_switched_off():
    with pytest.raises(SubmitRejected, match="not played"):
        check_submission(PLAN, _payload([10, 100, 55, 40], played=False), Rules())
    with pytest.raises(SubmitRejected, match="rated 100"):
        check_submission(PLAN, _payload([10, 90, 55, 40]), Rules())
    lax = Rules(all_played=False, one_rated_100=False)
    assert not check_submission(PLAN, _payload([10, 90, 55, 40], played=False), lax).all_played


def test_completion_link_quotes_placeholders():
    url = completion_link("https://app.prolific.com/submissions/complete?cc={code}&p={participant}",
                          "AB12", "x&y=1")
    assert url == "https://app.prolific.com/submissions/complete?cc=AB12&p=x%26y%3D1"
    assert completion_link("", "AB12", None) == ""
