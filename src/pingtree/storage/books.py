"""The books: the ledger, what happened to leads (for reports), rollups, returns, postbacks.

`ledger_entries` and `lead_events` are append-only: a row is never updated or deleted
(the database refuses it, see migration 0008). Both carry `txid`, the writing transaction's
id on PostgreSQL (0 on SQLite), so that a roller can read them in commit order.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Boolean, CheckConstraint, Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from pingtree.storage.tables import Base
from pingtree.storage.types import Cents, Json, UTCDateTime


class LedgerEntry(Base):
    """One double-entry row: amount moves from the debit account to the credit account.

    kind: sale, payout, return, clawback, credit, payment, adjustment. Accounts are
    `buyer:<name>`, `publisher:<name>`, `revenue`, `payouts` and `cash` (ledger.accounts).
    """

    __tablename__ = "ledger_entries"
    __table_args__ = (
        CheckConstraint("amount > 0", name="ck_ledger_entries_amount_positive"),
        CheckConstraint("debit <> credit", name="ck_ledger_entries_two_accounts"),
        Index("ix_ledger_entries_txid_id", "txid", "id"),
        Index("ix_ledger_entries_kind_reference", "kind", "reference", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    txid: Mapped[int] = mapped_column(BigInteger)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    kind: Mapped[str] = mapped_column(String(16))
    debit: Mapped[str] = mapped_column(String(80), index=True)
    credit: Mapped[str] = mapped_column(String(80), index=True)
    amount: Mapped[Decimal] = mapped_column(Cents)
    lead_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    campaign: Mapped[str | None] = mapped_column(String(64), nullable=True)
    memo: Mapped[str | None] = mapped_column(Text, nullable=True)
    rule: Mapped[dict[str, Any] | None] = mapped_column(Json, nullable=True)
    """The payout rule applied (payout and clawback entries)."""
    reference: Mapped[str | None] = mapped_column(String(100), nullable=True)
    """An operator's reference for a credit, payment or adjustment (unique per kind)."""
    actor: Mapped[str | None] = mapped_column(String(64), nullable=True)
    """The operator (or `auto`) that booked it; none for the engine's own sales."""


class LeadEvent(Base):
    """Something reports count, written in the transaction that made it happen.

    kind: answered (a lead's outcome; `previous` is its earlier status when it had one:
    review, uncertain, sold for a lead offered again), returned, return_rejected, refused
    (intake refusals of one process, counted per slot). Test leads write none.
    """

    __tablename__ = "lead_events"
    __table_args__ = (Index("ix_lead_events_txid_id", "txid", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    txid: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(16))
    lead_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    bucket: Mapped[int] = mapped_column(Integer)
    """The 15-minute slot counted in: seconds since the epoch // 900."""
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    publisher: Mapped[str] = mapped_column(String(64))
    vertical: Mapped[str] = mapped_column(String(64))
    status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    previous: Mapped[str | None] = mapped_column(String(16), nullable=True)
    count: Mapped[int] = mapped_column(Integer, default=1)
    answer_ms: Mapped[int | None] = mapped_column(Integer, nullable=True)
    codes: Mapped[dict[str, int]] = mapped_column(Json, default=dict)
    campaigns: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    revenue: Mapped[Decimal] = mapped_column(Cents, default=Decimal(0))
    payout: Mapped[Decimal] = mapped_column(Cents, default=Decimal(0))
    actor: Mapped[str | None] = mapped_column(String(64), nullable=True)


class RollupCursor(Base):
    """How far a roller has read its source, in (txid, id) order."""

    __tablename__ = "rollup_cursors"

    source: Mapped[str] = mapped_column(String(32), primary_key=True)
    txid: Mapped[int] = mapped_column(BigInteger, default=0)
    last_id: Mapped[int] = mapped_column(Integer, default=0)
    rolled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


ALL = "*"
"""The publisher of a rollup row that counts every publisher's leads."""


class CampaignRollup(Base):
    """A campaign's figures in one slot: for one publisher's leads, or all (publisher `*`).

    grain: the slot's length in minutes, 15 (every zone's hours and days are made of them)
    or 60 (fewer rows, for zones on whole hours); bucket: seconds since the epoch // grain.
    """

    __tablename__ = "campaign_rollups"

    grain: Mapped[int] = mapped_column(Integer, primary_key=True)
    publisher: Mapped[str] = mapped_column(String(64), primary_key=True)
    bucket: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign: Mapped[str] = mapped_column(String(64), primary_key=True)
    buyer: Mapped[str] = mapped_column(String(64))
    vertical: Mapped[str] = mapped_column(String(64))
    offered: Mapped[int] = mapped_column(Integer, default=0)
    pinged: Mapped[int] = mapped_column(Integer, default=0)
    bids: Mapped[int] = mapped_column(Integer, default=0)
    bid_total: Mapped[Decimal] = mapped_column(Cents, default=Decimal(0))
    posted: Mapped[int] = mapped_column(Integer, default=0)
    sold: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    duplicates: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[int] = mapped_column(Integer, default=0)
    timeouts: Mapped[int] = mapped_column(Integer, default=0)
    redirects: Mapped[int] = mapped_column(Integer, default=0)
    price_mismatches: Mapped[int] = mapped_column(Integer, default=0)
    revenue: Mapped[Decimal] = mapped_column(Cents, default=Decimal(0))
    payout: Mapped[Decimal] = mapped_column(Cents, default=Decimal(0))
    returns: Mapped[int] = mapped_column(Integer, default=0)
    returned: Mapped[Decimal] = mapped_column(Cents, default=Decimal(0))
    clawed_back: Mapped[Decimal] = mapped_column(Cents, default=Decimal(0))
    leads_posted: Mapped[int] = mapped_column(Integer, default=0)
    """Distinct leads posted to it."""
    buyer_leads_posted: Mapped[int] = mapped_column(Integer, default=0)
    """Leads posted to it and to none of its buyer's campaigns before (per buyer, they add
    up to the buyer's distinct leads posted)."""
    exchange_ms: Mapped[float] = mapped_column(Float, default=0.0)
    """Its pings' and posts' durations added up (mean latency: / (pinged + posted))."""


class CampaignReason(Base):
    """How many posts a campaign rejected with one reason, in one slot."""

    __tablename__ = "campaign_reasons"

    grain: Mapped[int] = mapped_column(Integer, primary_key=True)
    publisher: Mapped[str] = mapped_column(String(64), primary_key=True)
    bucket: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign: Mapped[str] = mapped_column(String(64), primary_key=True)
    reason: Mapped[str] = mapped_column(String(160), primary_key=True)
    buyer: Mapped[str] = mapped_column(String(64))
    vertical: Mapped[str] = mapped_column(String(64))
    count: Mapped[int] = mapped_column(Integer, default=0)


class PublisherRollup(Base):
    """A publisher's figures for one vertical in one slot (grain as in campaign_rollups)."""

    __tablename__ = "publisher_rollups"

    grain: Mapped[int] = mapped_column(Integer, primary_key=True)
    bucket: Mapped[int] = mapped_column(Integer, primary_key=True)
    publisher: Mapped[str] = mapped_column(String(64), primary_key=True)
    vertical: Mapped[str] = mapped_column(String(64), primary_key=True)
    sent: Mapped[int] = mapped_column(Integer, default=0)
    refused: Mapped[int] = mapped_column(Integer, default=0)
    screened_out: Mapped[int] = mapped_column(Integer, default=0)
    review: Mapped[int] = mapped_column(Integer, default=0)
    sold: Mapped[int] = mapped_column(Integer, default=0)
    unsold: Mapped[int] = mapped_column(Integer, default=0)
    uncertain: Mapped[int] = mapped_column(Integer, default=0)
    returned: Mapped[int] = mapped_column(Integer, default=0)
    revenue: Mapped[Decimal] = mapped_column(Cents, default=Decimal(0))
    payout: Mapped[Decimal] = mapped_column(Cents, default=Decimal(0))
    returned_revenue: Mapped[Decimal] = mapped_column(Cents, default=Decimal(0))
    clawed_back: Mapped[Decimal] = mapped_column(Cents, default=Decimal(0))
    answered: Mapped[int] = mapped_column(Integer, default=0)
    answer_ms: Mapped[int] = mapped_column(BigInteger, default=0)


class PublisherReason(Base):
    """How many of a publisher's leads were refused, screened out or unsold for one reason."""

    __tablename__ = "publisher_reasons"

    grain: Mapped[int] = mapped_column(Integer, primary_key=True)
    bucket: Mapped[int] = mapped_column(Integer, primary_key=True)
    publisher: Mapped[str] = mapped_column(String(64), primary_key=True)
    vertical: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(12), primary_key=True)
    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)


class LedgerBalance(Base):
    """An account's balance over the ledger entries rolled so far (credits less debits)."""

    __tablename__ = "ledger_balances"

    account: Mapped[str] = mapped_column(String(80), primary_key=True)
    balance: Mapped[Decimal] = mapped_column(Cents, default=Decimal(0))


class ReturnRow(Base):
    """A buyer's request to return one sale, and the decision on it."""

    __tablename__ = "returns"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    sale_id: Mapped[int] = mapped_column(Integer, unique=True)
    lead_id: Mapped[str] = mapped_column(String(36), index=True)
    buyer: Mapped[str] = mapped_column(String(64), index=True)
    campaign: Mapped[str] = mapped_column(String(64))
    publisher: Mapped[str] = mapped_column(String(64))
    vertical: Mapped[str] = mapped_column(String(64))
    price: Mapped[Decimal] = mapped_column(Cents)
    payout: Mapped[Decimal] = mapped_column(Cents)
    sold_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    status: Mapped[str] = mapped_column(String(12), index=True)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    held_because: Mapped[str | None] = mapped_column(Text, nullable=True)
    """Why it was not approved at once (it waits for an operator)."""
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    decided_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    decision_note: Mapped[str | None] = mapped_column(Text, nullable=True)
    clawed_back: Mapped[Decimal] = mapped_column(Cents, default=Decimal(0))
    cap_freed: Mapped[bool] = mapped_column(Boolean, default=False)
    offered_again: Mapped[bool] = mapped_column(Boolean, default=False)


class PostbackRow(Base):
    """A call to a publisher's postback URL or a buyer's webhook, until it is delivered."""

    __tablename__ = "postbacks"
    __table_args__ = (Index("ix_postbacks_status_next", "status", "next_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    lead_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    party: Mapped[str] = mapped_column(String(12))
    name: Mapped[str] = mapped_column(String(64))
    event: Mapped[str] = mapped_column(String(24))
    url: Mapped[str] = mapped_column(Text)
    body: Mapped[dict[str, Any]] = mapped_column(Json)
    status: Mapped[str] = mapped_column(String(12))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class PostbackDelivery(Base):
    """One try at delivering a postback, with the answer it got."""

    __tablename__ = "postback_deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    postback_id: Mapped[str] = mapped_column(String(36), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    duration_ms: Mapped[float] = mapped_column(Float)
    answer: Mapped[str | None] = mapped_column(Text, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
