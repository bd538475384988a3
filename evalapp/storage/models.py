"""SQLAlchemy 2 ORM models of the ratings database (the schema itself is made by Alembic).

tests -> conditions, items (what a test shows); listeners -> trials (each listener's seeded
presentation order, one row per page) -> ratings (one row per rated stimulus, unique per trial and
condition, so a repeated submit updates and never duplicates).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class TestRow(Base):
    __tablename__ = "tests"
    __test__ = False

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    set_name: Mapped[str] = mapped_column(String(200))
    set_fingerprint: Mapped[str] = mapped_column(String(64))
    design_json: Mapped[str] = mapped_column(Text)
    secret: Mapped[str] = mapped_column(String(64))  # HMAC key of stimulus tokens, shared by replicas
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ConditionRow(Base):
    __tablename__ = "conditions"
    __table_args__ = (UniqueConstraint("test_id", "condition_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    test_id: Mapped[int] = mapped_column(ForeignKey("tests.id", ondelete="CASCADE"))
    condition_id: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(200))


class ItemRow(Base):
    __tablename__ = "items"
    __table_args__ = (UniqueConstraint("test_id", "item_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    test_id: Mapped[int] = mapped_column(ForeignKey("tests.id", ondelete="CASCADE"))
    item_id: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)


class ListenerRow(Base):
    __tablename__ = "listeners"
    __table_args__ = (Index("ix_listeners_test_participant", "test_id", "participant_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    test_id: Mapped[int] = mapped_column(ForeignKey("tests.id", ondelete="CASCADE"))
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    resume_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 of the resume token
    participant_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    seed: Mapped[int] = mapped_column(Integer)
    user_agent: Mapped[str] = mapped_column(String(500))
    consent_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    completion_code: Mapped[str] = mapped_column(String(64))


class TrialRow(Base):
    __tablename__ = "trials"
    __table_args__ = (UniqueConstraint("listener_id", "position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    listener_id: Mapped[int] = mapped_column(ForeignKey("listeners.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    item_id: Mapped[str] = mapped_column(String(64))
    is_training: Mapped[bool] = mapped_column(Boolean)
    stimulus_order: Mapped[str] = mapped_column(Text)  # JSON list: condition id per slot
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    time_on_page_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    all_played: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    n_submits: Mapped[int] = mapped_column(Integer, default=0)


class RatingRow(Base):
    __tablename__ = "ratings"
    __table_args__ = (
        UniqueConstraint("trial_id", "condition_id"),
        CheckConstraint("score >= 0 AND score <= 100", name="ck_ratings_score_range"),
        Index("ix_ratings_listener", "listener_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    trial_id: Mapped[int] = mapped_column(ForeignKey("trials.id", ondelete="CASCADE"))
    listener_id: Mapped[int] = mapped_column(ForeignKey("listeners.id", ondelete="CASCADE"))
    item_id: Mapped[str] = mapped_column(String(64))
    condition_id: Mapped[str] = mapped_column(String(64))
    slot: Mapped[int] = mapped_column(Integer)
    score: Mapped[int] = mapped_column(Integer)
    played: Mapped[bool] = mapped_column(Boolean)
    play_count: Mapped[int] = mapped_column(Integer)
    submitted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
