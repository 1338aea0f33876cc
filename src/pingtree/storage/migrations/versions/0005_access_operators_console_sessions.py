"""access: named operators with roles, server-side console sessions

Revision ID: 0005_access
Revises: 0004_answers
Create Date: 2026-12-03 09:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import pingtree.storage.types

revision: str = "0005_access"
down_revision: str | None = "0004_answers"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "operators",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", pingtree.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("rotated_at", pingtree.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", pingtree.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("name"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_table(
        "console_sessions",
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("credential_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", pingtree.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "last_seen_at", pingtree.storage.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.PrimaryKeyConstraint("id_hash"),
    )
    op.create_index("ix_console_sessions_credential_hash", "console_sessions", ["credential_hash"])


def downgrade() -> None:
    op.drop_index("ix_console_sessions_credential_hash", table_name="console_sessions")
    op.drop_table("console_sessions")
    op.drop_table("operators")
