"""ledger_entries.reference: an operator's own reference for a credit, payment or
adjustment (a bank transfer's id), unique per kind, so that booking it again books nothing

Revision ID: 0013_ledger_reference
Revises: 0012_routing_started
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_ledger_reference"
down_revision: str | None = "0012_routing_started"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("ledger_entries") as batch:
        batch.add_column(sa.Column("reference", sa.String(length=100), nullable=True))
        batch.create_index("ix_ledger_entries_kind_reference", ["kind", "reference"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("ledger_entries") as batch:
        batch.drop_index("ix_ledger_entries_kind_reference")
        batch.drop_column("reference")
