"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-25 13:26:37.587375
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import pingtree.storage.types

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "cap_counters",
        sa.Column("campaign", sa.String(length=64), nullable=False),
        sa.Column("period", sa.String(length=8), nullable=False),
        sa.Column("window", sa.String(length=16), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("amount", pingtree.storage.types.Cents(), nullable=False),
        sa.PrimaryKeyConstraint("campaign", "period", "window"),
    )
    op.create_table(
        "cap_reservations",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("campaign", sa.String(length=64), nullable=False),
        sa.Column("lead_id", sa.String(length=36), nullable=False),
        sa.Column("price", pingtree.storage.types.Cents(), nullable=False),
        sa.Column(
            "windows",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("created_at", pingtree.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", pingtree.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("cap_reservations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_cap_reservations_expires_at"), ["expires_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_cap_reservations_status"), ["status"], unique=False)

    op.create_table(
        "config_resources",
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=160), nullable=False),
        sa.Column(
            "spec",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("updated_at", pingtree.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("kind", "name"),
    )
    op.create_table(
        "config_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("publisher", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("lead_id", sa.String(length=36), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column(
            "answer",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("created_at", pingtree.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("publisher", "key"),
    )
    op.create_table(
        "inbound_pings",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("publisher", sa.String(length=64), nullable=False),
        sa.Column("vertical", sa.String(length=64), nullable=False),
        sa.Column(
            "fields",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "bids",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("price", pingtree.storage.types.Cents(), nullable=False),
        sa.Column("payout", pingtree.storage.types.Cents(), nullable=False),
        sa.Column("reservation_id", sa.String(length=36), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("test", sa.Boolean(), nullable=False),
        sa.Column("created_at", pingtree.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", pingtree.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("lead_id", sa.String(length=36), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "leads",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("publisher", sa.String(length=64), nullable=False),
        sa.Column("vertical", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("test", sa.Boolean(), nullable=False),
        sa.Column(
            "fields",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("tree", sa.String(length=64), nullable=True),
        sa.Column("received_at", pingtree.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("answered_at", pingtree.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revenue", pingtree.storage.types.Cents(), nullable=False),
        sa.Column("payout", pingtree.storage.types.Cents(), nullable=False),
        sa.Column("redirect_url", sa.Text(), nullable=True),
        sa.Column("timed_out", sa.Boolean(), nullable=False),
        sa.Column(
            "reasons",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "skips",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("risk_score", sa.Integer(), nullable=True),
        sa.Column(
            "screening",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("inbound_ping_id", sa.String(length=36), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_leads_publisher"), ["publisher"], unique=False)
        batch_op.create_index(batch_op.f("ix_leads_received_at"), ["received_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_leads_status"), ["status"], unique=False)

    op.create_table(
        "attempts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("lead_id", sa.String(length=36), nullable=False),
        sa.Column("campaign", sa.String(length=64), nullable=False),
        sa.Column("buyer", sa.String(length=64), nullable=False),
        sa.Column("tier", sa.String(length=64), nullable=True),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("price", pingtree.storage.types.Cents(), nullable=True),
        sa.Column("reference", sa.String(length=255), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("redirect_url", sa.Text(), nullable=True),
        sa.Column("started_at", pingtree.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("duration_ms", sa.Float(), nullable=False),
        sa.Column(
            "request",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "response",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("test", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["lead_id"],
            ["leads.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("attempts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_attempts_campaign_started", ["campaign", "started_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_attempts_lead_id"), ["lead_id"], unique=False)

    op.create_table(
        "sales",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("lead_id", sa.String(length=36), nullable=False),
        sa.Column("publisher", sa.String(length=64), nullable=False),
        sa.Column("campaign", sa.String(length=64), nullable=False),
        sa.Column("buyer", sa.String(length=64), nullable=False),
        sa.Column("tier", sa.String(length=64), nullable=True),
        sa.Column("price", pingtree.storage.types.Cents(), nullable=False),
        sa.Column("payout", pingtree.storage.types.Cents(), nullable=False),
        sa.Column("reference", sa.String(length=255), nullable=True),
        sa.Column("sold_at", pingtree.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("test", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["lead_id"],
            ["leads.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("sales", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sales_buyer"), ["buyer"], unique=False)
        batch_op.create_index("ix_sales_campaign_sold", ["campaign", "sold_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_sales_lead_id"), ["lead_id"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("sales", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sales_lead_id"))
        batch_op.drop_index("ix_sales_campaign_sold")
        batch_op.drop_index(batch_op.f("ix_sales_buyer"))

    op.drop_table("sales")
    with op.batch_alter_table("attempts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_attempts_lead_id"))
        batch_op.drop_index("ix_attempts_campaign_started")

    op.drop_table("attempts")
    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_leads_status"))
        batch_op.drop_index(batch_op.f("ix_leads_received_at"))
        batch_op.drop_index(batch_op.f("ix_leads_publisher"))

    op.drop_table("leads")
    op.drop_table("inbound_pings")
    op.drop_table("idempotency_keys")
    op.drop_table("config_state")
    op.drop_table("config_resources")
    with op.batch_alter_table("cap_reservations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cap_reservations_status"))
        batch_op.drop_index(batch_op.f("ix_cap_reservations_expires_at"))

    op.drop_table("cap_reservations")
    op.drop_table("cap_counters")
