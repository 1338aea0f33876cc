"""screening: dedup, buyer purchases, suppression

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 13:28:22.447178
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import pingtree.storage.types

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "buyer_purchases",
        sa.Column("person_hash", sa.String(length=64), nullable=False),
        sa.Column("buyer", sa.String(length=64), nullable=False),
        sa.Column("lead_id", sa.String(length=36), nullable=False),
        sa.Column("sold_at", pingtree.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("person_hash", "buyer"),
    )
    op.create_table(
        "dedup_entries",
        sa.Column("vertical", sa.String(length=64), nullable=False),
        sa.Column("person_hash", sa.String(length=64), nullable=False),
        sa.Column("lead_id", sa.String(length=36), nullable=False),
        sa.Column("seen_at", pingtree.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("vertical", "person_hash"),
    )
    op.create_table(
        "suppression_entries",
        sa.Column("value_hash", sa.String(length=64), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("added_at", pingtree.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("value_hash", "scope", "owner"),
    )


def downgrade() -> None:

    op.drop_table("suppression_entries")
    op.drop_table("dedup_entries")
    op.drop_table("buyer_purchases")
