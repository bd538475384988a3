"""Pure listener logic: presentation orders, opaque stimulus tokens, submission checks. No I/O.

Nothing here imports Streamlit or SQLAlchemy; the storage and the HTTP API call these functions.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import random
import re
import secrets
import string
from dataclasses import dataclass
from urllib.parse import quote

from evalapp.config import Rules, TestDesign
from evalapp.errors import SubmitRejected

SLOT_LABELS = string.ascii_uppercase  # stimuli are shown as A, B, C, ... (never by condition)
REFERENCE_SLOT = "R"                  # the open reference button
VOLUME_SLOT = "V"                     # the volume-check page's sample
MAX_TIME_ON_PAGE_S = 6 * 3600.0       # longer is a tab left open, not listening time
_TOKEN_RE = re.compile(r"^([A-Za-z0-9_\-]{8,64})\.(\d{1,4})\.([0-9]{1,2}|R|V)\.([0-9a-f]{24})$")


@dataclass(frozen=True)
class TrialPlan:
    """One page of a listener's test: which item, training or not, conditions in slot order."""

    position: int
    item_id: str
    is_training: bool
    order: tuple[str, ...]   # order[slot] = condition id


def plan_trials(design: TestDesign, seed: int, training_items: int) -> list[TrialPlan]:
    """A listener's seeded random order of items and of the stimuli within each trial.

    The first ``training_items`` items of the shuffled order are shown first for familiarisation
    (``is_training``; stored but not scored) and then again as scored trials, each time with
    a freshly shuffled stimulus order.
    """
    rng = random.Random(seed)
    items = list(design.items)
    rng.shuffle(items)
    plans: list[TrialPlan] = []
    for item in items[:training_items]:
        order = list(design.conditions)
        rng.shuffle(order)
        plans.append(TrialPlan(len(plans), item, True, tuple(order)))
    for item in items:
        order = list(design.conditions)
        rng.shuffle(order)
        plans.append(TrialPlan(len(plans), item, False, tuple(order)))
    return plans


def new_listener_seed() -> int:
    return secrets.randbits(31)


def new_public_id() -> str:
    """An opaque listener id: shown in URLs and exports, grants nothing by itself."""
    return secrets.token_urlsafe(12)


def new_resume_token() -> str:
    """The listener's secret (192 bits): their link to resume and their key to submit trials."""
    return secrets.token_urlsafe(24)


def hash_token(token: str) -> str:
    """What the database stores instead of the resume token itself."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_completion_code() -> str:
    return secrets.token_hex(4).upper()


def new_test_secret() -> str:
    return secrets.token_hex(32)


def _mac(secret: str, message: str) -> str:
    return hmac.new(bytes.fromhex(secret), message.encode("utf-8"), hashlib.sha256).hexdigest()[:24]


def stimulus_token(secret: str, listener_public_id: str, position: int, slot: int | str) -> str:
    """An opaque, unguessable URL name for one stimulus slot of one listener's trial.

    The reference button (slot ``R``) and the hidden reference get different tokens although they
    play the same file, so the page source does not give the hidden reference away. Every app
    process that shares the database shares ``secret`` and can resolve the token.
    """
    message = f"{listener_public_id}.{position}.{slot}"
    return f"{message}.{_mac(secret, message)}"


def parse_stimulus_token(secret: str, token: str) -> tuple[str, int, str]:
    """(listener public id, trial position, slot) of a token minted by :func:`stimulus_token`.

    Raises:
        SubmitRejected(404): malformed or forged tokens (compared in constant time).
    """
    token = token.removesuffix(".wav")
    m = _TOKEN_RE.fullmatch(token)
    if not m:
        raise SubmitRejected("no such stimulus", status=404)
    listener, position, slot, mac = m.groups()
    if not hmac.compare_digest(mac, _mac(secret, f"{listener}.{position}.{slot}")):
        raise SubmitRejected("no such stimulus", status=404)
    return listener, int(position), slot


def condition_for_slot(plan: TrialPlan, slot: str, reference: str) -> str:
    """The condition a slot plays (``R`` and ``V`` play the reference)."""
    if slot in (REFERENCE_SLOT, VOLUME_SLOT):
        return reference
    index = int(slot)
    if not 0 <= index < len(plan.order):
        raise SubmitRejected("no such stimulus", status=404)
    return plan.order[index]


@dataclass(frozen=True)
class RatedStimulus:
    condition_id: str
    slot: int
    score: int
    played: bool
    play_count: int


@dataclass(frozen=True)
class CleanSubmission:
    position: int
    ratings: tuple[RatedStimulus, ...]
    time_on_page_s: float
    all_played: bool


def _int(value, what: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SubmitRejected(f"{what} must be a number, got {type(value).__name__}")
    if isinstance(value, float) and (not math.isfinite(value) or value != int(value)):
        raise SubmitRejected(f"{what} must be a whole number, got {value!r}")
    if not lo <= value <= hi:
        raise SubmitRejected(f"{what} must be within {lo}-{hi}, got {value!r}")
    return int(value)


def check_submission(plan: TrialPlan, payload: dict, rules: Rules) -> CleanSubmission:
    """Validate one trial's submission against the listener's plan and the test rules.

    ``payload``: ``{"position": int, "time_on_page_s": float, "ratings": {"<slot>": {"score": 0-100,
    "played": bool, "play_count": int}}}`` with exactly one entry per slot of the trial.

    Raises:
        SubmitRejected(400): unknown or missing slots, scores outside 0-100, broken rules.
    """
    if not isinstance(payload, dict):
        raise SubmitRejected("the submission must be a JSON object")
    ratings = payload.get("ratings")
    if not isinstance(ratings, dict):
        raise SubmitRejected("'ratings' must be an object keyed by slot")
    expected = {str(s) for s in range(len(plan.order))}
    unknown = sorted(set(ratings) - expected)
    if unknown:
        raise SubmitRejected(f"unknown stimulus {unknown[0][:20]!r} in this trial")
    missing = sorted(expected - set(ratings), key=int)
    if missing:
        raise SubmitRejected(f"stimulus {SLOT_LABELS[int(missing[0])]} has no rating")
    seconds = payload.get("time_on_page_s", 0.0)
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not math.isfinite(seconds) \
            or seconds < 0:
        raise SubmitRejected("'time_on_page_s' must be a non-negative number")
    rated: list[RatedStimulus] = []
    for slot_key in sorted(ratings, key=int):
        entry = ratings[slot_key]
        label = SLOT_LABELS[int(slot_key)]
        if not isinstance(entry, dict):
            raise SubmitRejected(f"rating of stimulus {label} must be an object")
        score = _int(entry.get("score"), f"score of stimulus {label}", 0, 100)
        played = entry.get("played", False)
        if not isinstance(played, bool):
            raise SubmitRejected(f"'played' of stimulus {label} must be true or false")
        count = _int(entry.get("play_count", 0), f"play count of stimulus {label}", 0, 100_000)
        slot = int(slot_key)
        rated.append(RatedStimulus(plan.order[slot], slot, score, played, count))
    all_played = all(r.played for r in rated)
    if rules.all_played and not all_played:
        first = next(r for r in rated if not r.played)
        raise SubmitRejected(f"stimulus {SLOT_LABELS[first.slot]} was not played (every stimulus must be played)")
    if rules.one_rated_100 and not any(r.score == 100 for r in rated):
        raise SubmitRejected("at least one stimulus must be rated 100 (the hidden reference)")
    return CleanSubmission(plan.position, tuple(rated), min(float(seconds), MAX_TIME_ON_PAGE_S), all_played)


def submit_blockers(plan_len: int, played: list[bool], scores: list[int], rules: Rules) -> list[str]:
    """Why the submit button is still disabled (the component applies the same rules in JS)."""
    reasons = []
    if rules.all_played and not all(played):
        reasons.append(f"play every stimulus ({plan_len - sum(played)} not played yet)")
    if rules.one_rated_100 and 100 not in scores:
        reasons.append("rate at least one stimulus 100")
    return reasons


def completion_link(template: str, code: str, participant: str | None) -> str:
    """The crowdsourcing return URL with ``{code}``/``{participant}`` filled in (URL-quoted)."""
    if not template:
        return ""
    return template.replace("{code}", quote(code, safe="")).replace("{participant}",
                                                                      quote(participant or "", safe=""))
