"""Repository functions: every read and write of the ratings database, through bound parameters.

Each function takes an :class:`~sqlalchemy.engine.Engine` and runs one short transaction. The
submit path (:func:`save_trial`) writes one trial in one transaction, idempotently: a repeated
submit of the same trial updates its ratings (``ON CONFLICT ... DO UPDATE`` on SQLite and
PostgreSQL, select-then-update elsewhere) and can never add a second row for a stimulus.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from evalapp.config import Rules, TestConfig, TestDesign
from evalapp.errors import StorageError, SubmitRejected
from evalapp.flow import (
    TrialPlan,
    check_submission,
    hash_token,
    new_completion_code,
    new_listener_seed,
    new_public_id,
    new_resume_token,
    new_test_secret,
    plan_trials,
)
from evalapp.storage.db import write_transaction
from evalapp.storage.models import ConditionRow, ItemRow, ListenerRow, RatingRow, TestRow, TrialRow

TIDY_COLUMNS = ("test", "listener", "item", "condition", "role", "score", "time_spent_s", "all_played",
                "is_training")


def _now() -> datetime:
    return datetime.now(UTC)


def set_fingerprint(manifest) -> str:
    """Identifies a listening set's content (manifest incl. every file's sha256)."""
    return hashlib.sha256(json.dumps(manifest.to_json(), sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class TestInfo:
    __test__ = False

    id: int
    name: str
    secret: str


@dataclass(frozen=True)
class TrialState:
    position: int
    item_id: str
    is_training: bool
    order: tuple[str, ...]
    submitted: bool

    def plan(self) -> TrialPlan:
        return TrialPlan(self.position, self.item_id, self.is_training, self.order)


@dataclass(frozen=True)
class ListenerState:
    id: int
    public_id: str
    participant_id: str | None
    finished: bool
    completion_code: str
    trials: tuple[TrialState, ...]

    @property
    def next_trial(self) -> TrialState | None:
        """The first unfinished trial (None when every trial is submitted)."""
        return next((t for t in self.trials if not t.submitted), None)

    @property
    def n_done(self) -> int:
        return sum(t.submitted for t in self.trials)


@dataclass(frozen=True)
class SaveResult:
    position: int
    n_submits: int
    finished: bool
    next_position: int | None


# ---------------------------------------------------------------------------------------------
# tests
# ---------------------------------------------------------------------------------------------
def ensure_test(engine: Engine, design: TestDesign, manifest, config: TestConfig) -> TestInfo:
    """The stored test named ``design.name``, created on first use with its conditions and items.

    Raises:
        StorageError: a test of that name exists but shows another listening set or selection.
    """
    fingerprint = set_fingerprint(manifest)
    stored_design = {"items": list(design.items), "conditions": list(design.conditions),
                     "reference": design.reference, "training_items": config.training_items}
    for attempt in range(2):  # a second app process may create the same test at the same moment
        try:
            with write_transaction(engine) as conn:
                row = conn.execute(sa.select(TestRow.id, TestRow.set_fingerprint, TestRow.design_json,
                                             TestRow.secret).where(TestRow.name == design.name)).first()
                if row is not None:
                    if row.set_fingerprint != fingerprint or json.loads(row.design_json) != stored_design:
                        raise StorageError(
                            f"test {design.name!r} already exists in the database with a different listening "
                            "set or item/condition selection; give this test a new 'name' in its config")
                    return TestInfo(row.id, design.name, row.secret)
                test_id = conn.execute(sa.insert(TestRow).values(
                    name=design.name, set_name=manifest.name, set_fingerprint=fingerprint,
                    design_json=json.dumps(stored_design), secret=new_test_secret(), created_at=_now(),
                ).returning(TestRow.id)).scalar_one()
                conn.execute(sa.insert(ConditionRow), [
                    {"test_id": test_id, "condition_id": c.id, "role": c.role, "kind": c.kind,
                     "label": c.label or c.id} for c in manifest.conditions if c.id in design.conditions])
                conn.execute(sa.insert(ItemRow), [
                    {"test_id": test_id, "item_id": i.id, "text": i.text}
                    for i in manifest.items if i.id in design.items])
                secret = conn.execute(sa.select(TestRow.secret).where(TestRow.id == test_id)).scalar_one()
                return TestInfo(test_id, design.name, secret)
        except sa.exc.IntegrityError:
            if attempt:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def list_tests(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return [r[0] for r in conn.execute(sa.select(TestRow.name).order_by(TestRow.name))]


def get_test(engine: Engine, name: str) -> TestInfo | None:
    with engine.connect() as conn:
        row = conn.execute(sa.select(TestRow.id, TestRow.secret).where(TestRow.name == name)).first()
    return TestInfo(row.id, name, row.secret) if row else None


# ---------------------------------------------------------------------------------------------
# listeners
# ---------------------------------------------------------------------------------------------
def create_listener(engine: Engine, test: TestInfo, design: TestDesign, config: TestConfig,
                    participant_id: str | None = None, user_agent: str = "") -> tuple[ListenerState, str]:
    """Register a listener who accepted the consent text; their presentation order is stored now.

    Returns:
        (the listener, their secret resume token; the database keeps only its hash).
    """
    token = new_resume_token()
    seed = new_listener_seed()
    plans = plan_trials(design, seed, config.training_items)
    now = _now()
    code = config.completion_code or new_completion_code()
    public_id = new_public_id()
    with write_transaction(engine) as conn:
        listener_id = conn.execute(sa.insert(ListenerRow).values(
            test_id=test.id, public_id=public_id, resume_hash=hash_token(token),
            participant_id=(participant_id or None) and participant_id[:200], seed=seed,
            user_agent=(user_agent or "")[:500], consent_at=now, started_at=now, completion_code=code,
        ).returning(ListenerRow.id)).scalar_one()
        conn.execute(sa.insert(TrialRow), [
            {"listener_id": listener_id, "position": p.position, "item_id": p.item_id,
             "is_training": p.is_training, "stimulus_order": json.dumps(list(p.order)), "n_submits": 0}
            for p in plans])
    trials = tuple(TrialState(p.position, p.item_id, p.is_training, p.order, False) for p in plans)
    return ListenerState(listener_id, public_id, participant_id, False, code, trials), token


def _listener_state(conn: Connection, where) -> ListenerState | None:
    row = conn.execute(sa.select(ListenerRow.id, ListenerRow.public_id, ListenerRow.participant_id,
                                 ListenerRow.finished_at, ListenerRow.completion_code).where(*where)).first()
    if row is None:
        return None
    trials = conn.execute(sa.select(TrialRow.position, TrialRow.item_id, TrialRow.is_training,
                                    TrialRow.stimulus_order, TrialRow.submitted_at)
                          .where(TrialRow.listener_id == row.id).order_by(TrialRow.position)).all()
    return ListenerState(row.id, row.public_id, row.participant_id, row.finished_at is not None,
                         row.completion_code,
                         tuple(TrialState(t.position, t.item_id, bool(t.is_training),
                                          tuple(json.loads(t.stimulus_order)), t.submitted_at is not None)
                               for t in trials))


def find_listener(engine: Engine, test: TestInfo, resume_token: str) -> ListenerState | None:
    """The listener whose secret resume token this is (None for unknown or malformed tokens)."""
    if not isinstance(resume_token, str) or not 16 <= len(resume_token) <= 128:
        return None
    with engine.connect() as conn:
        return _listener_state(conn, (ListenerRow.test_id == test.id,
                                      ListenerRow.resume_hash == hash_token(resume_token)))


def trial_plan(engine: Engine, test: TestInfo, public_id: str, position: int) -> TrialPlan | None:
    """One trial of a listener by public id (what the stimulus route needs)."""
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(TrialRow.position, TrialRow.item_id, TrialRow.is_training, TrialRow.stimulus_order)
            .join(ListenerRow, ListenerRow.id == TrialRow.listener_id)
            .where(ListenerRow.test_id == test.id, ListenerRow.public_id == public_id,
                   TrialRow.position == position)).first()
    if row is None:
        return None
    return TrialPlan(row.position, row.item_id, bool(row.is_training), tuple(json.loads(row.stimulus_order)))


# ---------------------------------------------------------------------------------------------
# the submit path
# ---------------------------------------------------------------------------------------------
def _upsert_ratings(conn: Connection, rows: list[dict]) -> None:
    dialect = conn.dialect.name
    if dialect in ("sqlite", "postgresql"):
        if dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert
        else:
            from sqlalchemy.dialects.postgresql import insert
        stmt = insert(RatingRow)
        stmt = stmt.on_conflict_do_update(
            index_elements=[RatingRow.trial_id, RatingRow.condition_id],
            set_={"score": stmt.excluded.score, "played": stmt.excluded.played,
                  "play_count": stmt.excluded.play_count, "slot": stmt.excluded.slot,
                  "submitted_at": stmt.excluded.submitted_at})
        conn.execute(stmt, rows)
        return
    existing = {r[0] for r in conn.execute(sa.select(RatingRow.condition_id)
                                           .where(RatingRow.trial_id == rows[0]["trial_id"]))}
    for r in rows:
        if r["condition_id"] in existing:
            conn.execute(sa.update(RatingRow).where(RatingRow.trial_id == r["trial_id"],
                                                    RatingRow.condition_id == r["condition_id"])
                         .values(score=r["score"], played=r["played"], play_count=r["play_count"],
                                 slot=r["slot"], submitted_at=r["submitted_at"]))
        else:
            conn.execute(sa.insert(RatingRow).values(**r))


def save_trial(engine: Engine, test: TestInfo, resume_token: str, payload: dict, rules: Rules) -> SaveResult:
    """Check and store one submitted trial in one transaction, idempotently.

    Raises:
        SubmitRejected: unknown listener (403), a trial not yet open or a finished test (409),
            a malformed submission or broken rules (400).
    """
    if not isinstance(resume_token, str) or not 16 <= len(resume_token) <= 128:
        raise SubmitRejected("missing or malformed resume token", status=403)
    if not isinstance(payload, dict):
        raise SubmitRejected("the submission must be a JSON object")
    position = payload.get("position")
    if isinstance(position, bool) or not isinstance(position, int) or not 0 <= position < 10_000:
        raise SubmitRejected("'position' must be the trial's number")
    for attempt in range(3):
        try:
            return _save_trial_once(engine, test, resume_token, position, payload, rules)
        except sa.exc.IntegrityError:
            # Only the generic (non-upsert) path can race; the retry sees the other row and updates it.
            if attempt == 2:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def _save_trial_once(engine: Engine, test: TestInfo, resume_token: str, position: int, payload: dict,
                     rules: Rules) -> SaveResult:
    with write_transaction(engine) as conn:
        listener = conn.execute(sa.select(ListenerRow.id, ListenerRow.finished_at).where(
            ListenerRow.test_id == test.id, ListenerRow.resume_hash == hash_token(resume_token))).first()
        if listener is None:
            raise SubmitRejected("unknown listener (resume token)", status=403)
        if listener.finished_at is not None:
            raise SubmitRejected("this listening test is already finished; ratings can no longer change",
                                 status=409)
        query = (sa.select(TrialRow.id, TrialRow.position, TrialRow.item_id, TrialRow.is_training,
                           TrialRow.stimulus_order, TrialRow.submitted_at, TrialRow.n_submits)
                 .where(TrialRow.listener_id == listener.id).order_by(TrialRow.position))
        if conn.dialect.name != "sqlite":
            query = query.with_for_update()  # one listener's concurrent submits queue here
        trials = conn.execute(query).all()
        if position >= len(trials):
            raise SubmitRejected(f"this test has no trial {position}")
        trial = trials[position]
        first_open = next((t.position for t in trials if t.submitted_at is None), len(trials))
        if position > first_open:
            raise SubmitRejected(f"trial {position} is not open yet (trial {first_open} comes first)", status=409)
        plan = TrialPlan(trial.position, trial.item_id, bool(trial.is_training), tuple(json.loads(trial.stimulus_order)))
        clean = check_submission(plan, payload, rules)
        now = _now()
        _upsert_ratings(conn, [
            {"trial_id": trial.id, "listener_id": listener.id, "item_id": trial.item_id,
             "condition_id": r.condition_id, "slot": r.slot, "score": r.score, "played": r.played,
             "play_count": r.play_count, "submitted_at": now} for r in clean.ratings])
        conn.execute(sa.update(TrialRow).where(TrialRow.id == trial.id).values(
            submitted_at=now, time_on_page_s=clean.time_on_page_s, all_played=clean.all_played,
            n_submits=TrialRow.n_submits + 1))
        open_after = [t.position for t in trials if t.submitted_at is None and t.position != position]
        finished = not open_after
        if finished:
            conn.execute(sa.update(ListenerRow).where(ListenerRow.id == listener.id).values(finished_at=now))
        return SaveResult(position, trial.n_submits + 1, finished, open_after[0] if open_after else None)


# ---------------------------------------------------------------------------------------------
# reading results (admin page, export)
# ---------------------------------------------------------------------------------------------
def tidy_rows(engine: Engine, test_name: str) -> list[tuple]:
    """The ``tidy_ratings`` view for one test (columns :data:`TIDY_COLUMNS`)."""
    view = sa.table("tidy_ratings", *(sa.column(c) for c in TIDY_COLUMNS))
    stmt = (sa.select(*(view.c[c] for c in TIDY_COLUMNS)).where(view.c.test == test_name)
            .order_by(view.c.listener, view.c.is_training.desc(), view.c.item, view.c.condition))
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(stmt)]


def webmushra_rows(engine: Engine, test_name: str) -> list[dict]:
    """Scored ratings with what webMUSHRA's CSV needs: ids, participant, time on page."""
    stmt = (sa.select(TestRow.name.label("test"), ListenerRow.public_id, ListenerRow.participant_id,
                      TrialRow.item_id, TrialRow.position, TrialRow.time_on_page_s, RatingRow.condition_id,
                      ConditionRow.role, RatingRow.score)
            .select_from(RatingRow)
            .join(TrialRow, TrialRow.id == RatingRow.trial_id)
            .join(ListenerRow, ListenerRow.id == TrialRow.listener_id)
            .join(TestRow, TestRow.id == ListenerRow.test_id)
            .join(ConditionRow, sa.and_(ConditionRow.test_id == TestRow.id,
                                        ConditionRow.condition_id == RatingRow.condition_id))
            .where(TestRow.name == test_name, TrialRow.is_training.is_(False))
            .order_by(ListenerRow.public_id, TrialRow.position, RatingRow.slot))
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(stmt)]


def listener_progress(engine: Engine, test: TestInfo) -> list[dict]:
    """One row per listener: ids, times, trials done of total."""
    done = sa.func.count(TrialRow.submitted_at)
    stmt = (sa.select(ListenerRow.public_id.label("listener"), ListenerRow.participant_id.label("participant"),
                      ListenerRow.started_at.label("started"), ListenerRow.finished_at.label("finished"),
                      done.label("trials_done"), sa.func.count(TrialRow.id).label("trials_total"))
            .join(TrialRow, TrialRow.listener_id == ListenerRow.id)
            .where(ListenerRow.test_id == test.id)
            .group_by(ListenerRow.id, ListenerRow.public_id, ListenerRow.participant_id, ListenerRow.started_at,
                      ListenerRow.finished_at)
            .order_by(ListenerRow.started_at))
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(stmt)]


def condition_summary(engine: Engine, test_name: str) -> list[dict]:
    """Per condition (scored trials only): role, number of ratings, mean, min, max score."""
    view = sa.table("tidy_ratings", *(sa.column(c) for c in TIDY_COLUMNS))
    stmt = (sa.select(view.c.condition, view.c.role, sa.func.count().label("n"),
                      sa.func.avg(view.c.score).label("mean"), sa.func.min(view.c.score).label("min"),
                      sa.func.max(view.c.score).label("max"))
            .where(view.c.test == test_name, view.c.is_training.is_(False))
            .group_by(view.c.condition, view.c.role).order_by(view.c.condition))
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(stmt)]


def item_condition_counts(engine: Engine, test_name: str) -> list[dict]:
    """Number of scored ratings per item and condition (for balanced-progress checks)."""
    view = sa.table("tidy_ratings", *(sa.column(c) for c in TIDY_COLUMNS))
    stmt = (sa.select(view.c.item, view.c.condition, sa.func.count().label("n"))
            .where(view.c.test == test_name, view.c.is_training.is_(False))
            .group_by(view.c.item, view.c.condition).order_by(view.c.item, view.c.condition))
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(stmt)]
