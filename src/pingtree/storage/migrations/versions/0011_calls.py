"""calls: phone calls, their timelines and buyers' live-call lines

Revision ID: 0011_calls
Revises: 0010_campaign_exchanges
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import pingtree.storage.types

revision: str = "0011_calls"
down_revision: str | None = "0010_campaign_exchanges"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TIME = pingtree.storage.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "calls",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("publisher", sa.String(length=64), nullable=False),
        sa.Column("vertical", sa.String(length=64), nullable=False),
        sa.Column("tracking_number", sa.String(length=32), nullable=False),
        sa.Column("caller", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("test", sa.Boolean(), nullable=False),
        sa.Column("answers", pingtree.storage.types.Json, nullable=False),
        sa.Column("lead_id", sa.String(length=36), nullable=True),
        sa.Column("matched_lead_id", sa.String(length=36), nullable=True),
        sa.Column("started_at", UTC_TIME, nullable=False),
        sa.Column("ended_at", UTC_TIME, nullable=True),
        sa.Column("duration_s", sa.Integer(), nullable=True),
        sa.Column("connected_s", sa.Integer(), nullable=True),
        sa.Column("campaign", sa.String(length=64), nullable=True),
        sa.Column("buyer", sa.String(length=64), nullable=True),
        sa.Column("converted", sa.Boolean(), nullable=False),
        sa.Column("price", pingtree.storage.types.Cents(), nullable=True),
        sa.Column("recording_url", sa.Text(), nullable=True),
        sa.Column("line", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    for column in ("caller", "status", "lead_id", "matched_lead_id", "started_at"):
        op.create_index(f"ix_calls_{column}", "calls", [column])
    op.create_table(
        "call_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("call_id", sa.String(length=64), nullable=False),
        sa.Column("at", UTC_TIME, nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("detail", pingtree.storage.types.Json, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_call_events_call_id", "call_events", ["call_id"])
    op.create_table(
        "call_lines",
        sa.Column("campaign", sa.String(length=64), nullable=False),
        sa.Column("live", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("campaign"),
    )


def downgrade() -> None:
    op.drop_table("call_lines")
    op.drop_index("ix_call_events_call_id", table_name="call_events")
    op.drop_table("call_events")
    for column in ("caller", "status", "lead_id", "matched_lead_id", "started_at"):
        op.drop_index(f"ix_calls_{column}", table_name="calls")
    op.drop_table("calls")
