"""consent: certificates stored unchangeable; the audit trail and its hash chain's head

Revision ID: 0007_consent
Revises: 0006_durability

Triggers refuse to change or delete a consent certificate, to delete an audit event, or to
change one except to seal it (set seq and hash once). They stop mistakes and casual edits;
someone who can drop them is caught by `pingtree audit verify` and the anchors.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import pingtree.storage.types

revision: str = "0007_consent"
down_revision: str | None = "0006_durability"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# An audit event's own columns: only seq and hash may be set, and only on an unsealed row.
_EVENT_COLUMNS = ("id", "occurred_at", "kind", "lead_id", "actor", "subject", "details")


def upgrade() -> None:
    op.create_table(
        "consent_certificates",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("lead_id", sa.String(length=36), nullable=False),
        sa.Column("certificate", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column(
            "consented_at", pingtree.storage.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("sellers", pingtree.storage.types.Json, nullable=False),
        sa.Column("created_at", pingtree.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["lead_id"], ["leads.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("lead_id"),
    )
    op.create_table(
        "audit_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("occurred_at", pingtree.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("lead_id", sa.String(length=36), nullable=True),
        sa.Column("actor", sa.String(length=160), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=True),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=True),
        sa.Column("hash", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("seq"),
    )
    op.create_index("ix_audit_events_lead_id", "audit_events", ["lead_id"])
    op.create_index(
        "ix_audit_events_unsealed",
        "audit_events",
        ["id"],
        sqlite_where=sa.text("seq IS NULL"),
        postgresql_where=sa.text("seq IS NULL"),
    )
    op.create_table(
        "audit_chain",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("sealed_at", pingtree.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    if op.get_bind().dialect.name == "postgresql":
        _postgresql_guards()
    else:
        _sqlite_guards()


def _changed(distinct: str) -> str:
    return " OR ".join(f"NEW.{c} {distinct} OLD.{c}" for c in _EVENT_COLUMNS)


def _postgresql_guards() -> None:
    op.execute(
        """
        CREATE FUNCTION pingtree_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION '% rows cannot be changed or deleted', TG_TABLE_NAME;
        END
        $$
        """
    )
    for table in ("consent_certificates", "audit_events"):
        op.execute(
            f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION pingtree_refuse_change()"
        )
    op.execute(
        "CREATE TRIGGER consent_certificates_no_update BEFORE UPDATE ON consent_certificates "
        "FOR EACH ROW EXECUTE FUNCTION pingtree_refuse_change()"
    )
    op.execute(
        "CREATE TRIGGER audit_events_sealed_once BEFORE UPDATE ON audit_events FOR EACH ROW "
        f"WHEN (OLD.seq IS NOT NULL OR {_changed('IS DISTINCT FROM')}) "
        "EXECUTE FUNCTION pingtree_refuse_change()"
    )


def _sqlite_guards() -> None:
    refuse = "BEGIN SELECT RAISE(ABORT, 'rows of {} cannot be changed or deleted'); END"
    for table in ("consent_certificates", "audit_events"):
        op.execute(
            f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} " + refuse.format(table)
        )
    op.execute(
        "CREATE TRIGGER consent_certificates_no_update BEFORE UPDATE ON consent_certificates "
        + refuse.format("consent_certificates")
    )
    op.execute(
        "CREATE TRIGGER audit_events_sealed_once BEFORE UPDATE ON audit_events "
        f"WHEN OLD.seq IS NOT NULL OR {_changed('IS NOT')} " + refuse.format("audit_events")
    )


def downgrade() -> None:
    op.drop_table("audit_chain")
    op.drop_index("ix_audit_events_unsealed", table_name="audit_events")
    op.drop_index("ix_audit_events_lead_id", table_name="audit_events")
    op.drop_table("audit_events")
    op.drop_table("consent_certificates")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION pingtree_refuse_change()")
