"""console: leads found by person (hashed email/phone), configuration change history

Revision ID: 0009_console
Revises: 0008_ledger
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

import pingtree.storage.types

revision: str = "0009_console"
down_revision: str | None = "0008_ledger"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 2000


def upgrade() -> None:
    op.create_table(
        "lead_people",
        sa.Column("person_hash", sa.String(length=64), nullable=False),
        sa.Column("lead_id", sa.String(length=36), nullable=False),
        sa.PrimaryKeyConstraint("person_hash", "lead_id"),
    )
    op.create_table(
        "config_changes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("operator", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("changed_at", pingtree.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("lines", pingtree.storage.types.Json, nullable=False),
        sa.Column("before", pingtree.storage.types.Json, nullable=False),
        sa.Column("after", pingtree.storage.types.Json, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_config_changes_changed_at", "config_changes", ["changed_at"])
    _index_stored_leads()


def _index_stored_leads() -> None:
    """Leads stored before this version: their people by the usual field names."""
    from pingtree.identity import normalize_email, normalize_phone, person_hash

    bind = op.get_bind()
    leads = sa.table(
        "leads", sa.column("id", sa.String), sa.column("fields", pingtree.storage.types.Json)
    )
    people = sa.table(
        "lead_people", sa.column("person_hash", sa.String), sa.column("lead_id", sa.String)
    )
    after = ""
    while True:
        rows = bind.execute(
            sa.select(leads.c.id, leads.c.fields)
            .where(leads.c.id > after)
            .order_by(leads.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        found: list[dict[str, Any]] = []
        for lead_id, fields in rows:
            values = fields if isinstance(fields, dict) else {}
            identities = {
                normalize_email(values.get("email")),
                normalize_phone(values.get("phone")),
            }
            found += [{"person_hash": person_hash(i), "lead_id": lead_id} for i in identities if i]
        if found:
            bind.execute(people.insert(), found)
        after = rows[-1][0]


def downgrade() -> None:
    op.drop_index("ix_config_changes_changed_at", table_name="config_changes")
    op.drop_table("config_changes")
    op.drop_table("lead_people")
