"""answers: an attempt keeps its agreed and answered prices, and whether they differ

Revision ID: 0004_answers
Revises: 0003_routing
Create Date: 2026-12-03 09:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import pingtree.storage.types

revision: str = "0004_answers"
down_revision: str | None = "0003_routing"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("attempts") as batch:
        batch.add_column(sa.Column("bid_price", pingtree.storage.types.Cents(), nullable=True))
        batch.add_column(sa.Column("answer_price", pingtree.storage.types.Cents(), nullable=True))
        batch.add_column(
            sa.Column("price_mismatch", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("attempts") as batch:
        batch.drop_column("price_mismatch")
        batch.drop_column("answer_price")
        batch.drop_column("bid_price")
