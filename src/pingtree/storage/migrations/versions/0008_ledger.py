"""ledger: append-only ledger and lead events, report rollups, returns, postbacks

Revision ID: 0008_ledger
Revises: 0006_durability

ledger_entries and lead_events refuse UPDATE and DELETE (a trigger on each database).
Their txid is the writing transaction's id on PostgreSQL (pg_current_xact_id()), so the
roller reads them in commit order; SQLite has one writer, where id order is commit order.
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import pingtree.storage.types

revision: str = "0008_ledger"
down_revision: str | None = "0007_consent"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY = ("ledger_entries", "lead_events")
Cents = pingtree.storage.types.Cents
When = pingtree.storage.types.UTCDateTime


def _json() -> Any:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _txid() -> sa.Column[int]:
    postgres = op.get_bind().dialect.name == "postgresql"
    default = sa.text("(pg_current_xact_id()::text::bigint)") if postgres else sa.text("0")
    return sa.Column("txid", sa.BigInteger(), nullable=False, server_default=default)


def _counts(*names: str) -> list[sa.Column[int]]:
    return [sa.Column(n, sa.Integer(), nullable=False, server_default="0") for n in names]


def _money(*names: str) -> list[sa.Column[object]]:
    return [sa.Column(n, Cents(), nullable=False, server_default="0") for n in names]


def upgrade() -> None:
    op.create_table(
        "ledger_entries",
        sa.Column("id", sa.Integer(), nullable=False, autoincrement=True),
        _txid(),
        sa.Column("at", When(timezone=True), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("debit", sa.String(80), nullable=False),
        sa.Column("credit", sa.String(80), nullable=False),
        sa.Column("amount", Cents(), nullable=False),
        sa.Column("lead_id", sa.String(36), nullable=True),
        sa.Column("campaign", sa.String(64), nullable=True),
        sa.Column("memo", sa.Text(), nullable=True),
        sa.Column("rule", _json(), nullable=True),
        sa.Column("actor", sa.String(64), nullable=True),
        sa.CheckConstraint("amount > 0", name="ck_ledger_entries_amount_positive"),
        sa.CheckConstraint("debit <> credit", name="ck_ledger_entries_two_accounts"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_ledger_entries_txid_id", "ledger_entries", ["txid", "id"])
    op.create_index("ix_ledger_entries_debit", "ledger_entries", ["debit"])
    op.create_index("ix_ledger_entries_credit", "ledger_entries", ["credit"])
    op.create_index("ix_ledger_entries_lead_id", "ledger_entries", ["lead_id"])

    op.create_table(
        "lead_events",
        sa.Column("id", sa.Integer(), nullable=False, autoincrement=True),
        _txid(),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("lead_id", sa.String(36), nullable=True),
        sa.Column("bucket", sa.Integer(), nullable=False),
        sa.Column("at", When(timezone=True), nullable=False),
        sa.Column("publisher", sa.String(64), nullable=False),
        sa.Column("vertical", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=True),
        sa.Column("previous", sa.String(16), nullable=True),
        sa.Column("count", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("answer_ms", sa.Integer(), nullable=True),
        sa.Column("codes", _json(), nullable=False),
        sa.Column("campaigns", _json(), nullable=False),
        sa.Column("revenue", Cents(), nullable=False, server_default="0"),
        sa.Column("payout", Cents(), nullable=False, server_default="0"),
        sa.Column("actor", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_lead_events_txid_id", "lead_events", ["txid", "id"])
    op.create_index("ix_lead_events_lead_id", "lead_events", ["lead_id"])

    op.create_table(
        "rollup_cursors",
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("txid", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("last_id", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("rolled_at", When(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("source"),
    )
    op.create_table(
        "campaign_rollups",
        sa.Column("grain", sa.Integer(), nullable=False),
        sa.Column("publisher", sa.String(64), nullable=False),
        sa.Column("bucket", sa.Integer(), nullable=False),
        sa.Column("campaign", sa.String(64), nullable=False),
        sa.Column("buyer", sa.String(64), nullable=False),
        sa.Column("vertical", sa.String(64), nullable=False),
        *_counts("offered", "pinged", "bids"),
        *_money("bid_total"),
        *_counts("posted", "sold", "rejected", "duplicates", "errors", "timeouts", "redirects"),
        *_counts("price_mismatches"),
        *_money("revenue", "payout"),
        *_counts("returns"),
        *_money("returned", "clawed_back"),
        sa.PrimaryKeyConstraint("grain", "publisher", "bucket", "campaign"),
    )
    op.create_table(
        "campaign_reasons",
        sa.Column("grain", sa.Integer(), nullable=False),
        sa.Column("publisher", sa.String(64), nullable=False),
        sa.Column("bucket", sa.Integer(), nullable=False),
        sa.Column("campaign", sa.String(64), nullable=False),
        sa.Column("reason", sa.String(160), nullable=False),
        sa.Column("buyer", sa.String(64), nullable=False),
        sa.Column("vertical", sa.String(64), nullable=False),
        *_counts("count"),
        sa.PrimaryKeyConstraint("grain", "publisher", "bucket", "campaign", "reason"),
    )
    op.create_table(
        "publisher_rollups",
        sa.Column("grain", sa.Integer(), nullable=False),
        sa.Column("bucket", sa.Integer(), nullable=False),
        sa.Column("publisher", sa.String(64), nullable=False),
        sa.Column("vertical", sa.String(64), nullable=False),
        *_counts("sent", "refused", "screened_out", "review", "sold", "unsold", "uncertain"),
        *_counts("returned"),
        *_money("revenue", "payout", "returned_revenue", "clawed_back"),
        *_counts("answered"),
        sa.Column("answer_ms", sa.BigInteger(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("grain", "bucket", "publisher", "vertical"),
    )
    op.create_table(
        "publisher_reasons",
        sa.Column("grain", sa.Integer(), nullable=False),
        sa.Column("bucket", sa.Integer(), nullable=False),
        sa.Column("publisher", sa.String(64), nullable=False),
        sa.Column("vertical", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(12), nullable=False),
        sa.Column("code", sa.String(64), nullable=False),
        *_counts("count"),
        sa.PrimaryKeyConstraint("grain", "bucket", "publisher", "vertical", "kind", "code"),
    )
    op.create_table(
        "ledger_balances",
        sa.Column("account", sa.String(80), nullable=False),
        sa.Column("balance", Cents(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("account"),
    )
    op.create_table(
        "returns",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("sale_id", sa.Integer(), nullable=False),
        sa.Column("lead_id", sa.String(36), nullable=False),
        sa.Column("buyer", sa.String(64), nullable=False),
        sa.Column("campaign", sa.String(64), nullable=False),
        sa.Column("publisher", sa.String(64), nullable=False),
        sa.Column("vertical", sa.String(64), nullable=False),
        sa.Column("price", Cents(), nullable=False),
        sa.Column("payout", Cents(), nullable=False),
        sa.Column("sold_at", When(timezone=True), nullable=False),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("requested_at", When(timezone=True), nullable=False),
        sa.Column("held_because", sa.Text(), nullable=True),
        sa.Column("decided_at", When(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(64), nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=True),
        sa.Column("clawed_back", Cents(), nullable=False, server_default="0"),
        sa.Column("cap_freed", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("offered_again", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("sale_id", name="uq_returns_sale_id"),
    )
    op.create_index("ix_returns_lead_id", "returns", ["lead_id"])
    op.create_index("ix_returns_buyer", "returns", ["buyer"])
    op.create_index("ix_returns_status", "returns", ["status"])
    op.create_index("ix_returns_requested_at", "returns", ["requested_at"])

    op.create_table(
        "postbacks",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("lead_id", sa.String(36), nullable=True),
        sa.Column("party", sa.String(12), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("event", sa.String(24), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("body", _json(), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("next_at", When(timezone=True), nullable=False),
        sa.Column("created_at", When(timezone=True), nullable=False),
        sa.Column("delivered_at", When(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_postbacks_status_next", "postbacks", ["status", "next_at"])
    op.create_index("ix_postbacks_lead_id", "postbacks", ["lead_id"])
    op.create_table(
        "postback_deliveries",
        sa.Column("id", sa.Integer(), nullable=False, autoincrement=True),
        sa.Column("postback_id", sa.String(36), nullable=False),
        sa.Column("at", When(timezone=True), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("duration_ms", sa.Float(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_postback_deliveries_postback_id", "postback_deliveries", ["postback_id"])

    with op.batch_alter_table("sales") as batch:
        batch.add_column(sa.Column("payout_rule", _json(), nullable=True))

    _append_only()


def _append_only() -> None:
    """Refuse UPDATE and DELETE on the append-only tables (TRUNCATE stays for test resets)."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            """
            CREATE FUNCTION pingtree_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
                    USING ERRCODE = 'restrict_violation';
            END $$
            """
        )
        for table in APPEND_ONLY:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION pingtree_append_only()"
            )
        return
    for table in APPEND_ONLY:
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {action} refused'); END"
            )


def downgrade() -> None:
    with op.batch_alter_table("sales") as batch:
        batch.drop_column("payout_rule")
    for table in (
        "postback_deliveries",
        "postbacks",
        "returns",
        "ledger_balances",
        "publisher_reasons",
        "publisher_rollups",
        "campaign_reasons",
        "campaign_rollups",
        "rollup_cursors",
        "lead_events",
        "ledger_entries",
    ):
        op.drop_table(table)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS pingtree_append_only()")
