"""leads.routing_started_at: when a lead routed again (approved in review, offered again
after a return) began its latest routing, so that recovery judges it live from then

Revision ID: 0012_routing_started
Revises: 0011_calls
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import pingtree.storage.types

revision: str = "0012_routing_started"
down_revision: str | None = "0011_calls"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("leads") as batch:
        batch.add_column(
            sa.Column(
                "routing_started_at",
                pingtree.storage.types.UTCDateTime(timezone=True),
                nullable=True,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("leads") as batch:
        batch.drop_column("routing_started_at")
