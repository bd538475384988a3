"""Initial schema: tests, conditions, items, listeners, trials, ratings and the tidy_ratings view.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# The contract with `analysis` (DESIGN.md, "Ratings"): exactly these columns, one row per rated
# stimulus. Aliases are quoted because CONDITION is a keyword in some SQL dialects.
TIDY_VIEW = """
CREATE VIEW tidy_ratings AS
SELECT te.name AS "test",
       l.public_id AS "listener",
       tr.item_id AS "item",
       r.condition_id AS "condition",
       c.role AS "role",
       r.score AS "score",
       tr.time_on_page_s AS "time_spent_s",
       tr.all_played AS "all_played",
       tr.is_training AS "is_training"
FROM ratings r
JOIN trials tr ON tr.id = r.trial_id
JOIN listeners l ON l.id = tr.listener_id
JOIN tests te ON te.id = l.test_id
JOIN conditions c ON c.test_id = te.id AND c.condition_id = r.condition_id
"""


def upgrade() -> None:
    ts = sa.DateTime(timezone=True)
    op.create_table(
        "tests",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("set_name", sa.String(200), nullable=False),
        sa.Column("set_fingerprint", sa.String(64), nullable=False),
        sa.Column("design_json", sa.Text, nullable=False),
        sa.Column("secret", sa.String(64), nullable=False),
        sa.Column("created_at", ts, nullable=False),
    )
    op.create_table(
        "conditions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("test_id", sa.Integer, sa.ForeignKey("tests.id", ondelete="CASCADE"), nullable=False),
        sa.Column("condition_id", sa.String(64), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("label", sa.String(200), nullable=False),
        sa.UniqueConstraint("test_id", "condition_id"),
        sa.CheckConstraint("role IN ('hidden_reference', 'anchor', 'system')", name="ck_conditions_role"),
    )
    op.create_table(
        "items",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("test_id", sa.Integer, sa.ForeignKey("tests.id", ondelete="CASCADE"), nullable=False),
        sa.Column("item_id", sa.String(64), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.UniqueConstraint("test_id", "item_id"),
    )
    op.create_table(
        "listeners",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("test_id", sa.Integer, sa.ForeignKey("tests.id", ondelete="CASCADE"), nullable=False),
        sa.Column("public_id", sa.String(32), nullable=False, unique=True),
        sa.Column("resume_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("participant_id", sa.String(200), nullable=True),
        sa.Column("seed", sa.Integer, nullable=False),
        sa.Column("user_agent", sa.String(500), nullable=False),
        sa.Column("consent_at", ts, nullable=False),
        sa.Column("started_at", ts, nullable=False),
        sa.Column("finished_at", ts, nullable=True),
        sa.Column("completion_code", sa.String(64), nullable=False),
    )
    op.create_index("ix_listeners_test_participant", "listeners", ["test_id", "participant_id"])
    op.create_table(
        "trials",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("listener_id", sa.Integer, sa.ForeignKey("listeners.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("item_id", sa.String(64), nullable=False),
        sa.Column("is_training", sa.Boolean, nullable=False),
        sa.Column("stimulus_order", sa.Text, nullable=False),
        sa.Column("submitted_at", ts, nullable=True),
        sa.Column("time_on_page_s", sa.Float, nullable=True),
        sa.Column("all_played", sa.Boolean, nullable=True),
        sa.Column("n_submits", sa.Integer, nullable=False, server_default="0"),
        sa.UniqueConstraint("listener_id", "position"),
    )
    op.create_table(
        "ratings",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("trial_id", sa.Integer, sa.ForeignKey("trials.id", ondelete="CASCADE"), nullable=False),
        sa.Column("listener_id", sa.Integer, sa.ForeignKey("listeners.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("item_id", sa.String(64), nullable=False),
        sa.Column("condition_id", sa.String(64), nullable=False),
        sa.Column("slot", sa.Integer, nullable=False),
        sa.Column("score", sa.Integer, nullable=False),
        sa.Column("played", sa.Boolean, nullable=False),
        sa.Column("play_count", sa.Integer, nullable=False),
        sa.Column("submitted_at", ts, nullable=False),
        sa.UniqueConstraint("trial_id", "condition_id"),
        sa.CheckConstraint("score >= 0 AND score <= 100", name="ck_ratings_score_range"),
    )
    op.create_index("ix_ratings_listener", "ratings", ["listener_id"])
    op.execute(TIDY_VIEW)


def downgrade() -> None:
    op.execute("DROP VIEW tidy_ratings")
    for table in ("ratings", "trials", "listeners", "items", "conditions", "tests"):
        op.drop_table(table)
