"""durability: cap holds journal every post, found again by lead for recovery

Revision ID: 0006_durability
Revises: 0005_access
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006_durability"
down_revision: str | None = "0005_access"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_cap_reservations_lead_id", "cap_reservations", ["lead_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_cap_reservations_lead_id", table_name="cap_reservations")
