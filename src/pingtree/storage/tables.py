"""Every table. Money is integer cents; times are aware UTC."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from pingtree.storage.types import Cents, Json, UTCDateTime


class Base(DeclarativeBase):
    """The declarative base of pingtree's tables."""


class ConfigResource(Base):
    """One configured resource (vertical, publisher, buyer, campaign, tree, route)."""

    __tablename__ = "config_resources"

    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(160), primary_key=True)
    spec: Mapped[dict[str, Any]] = mapped_column(Json)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ConfigState(Base):
    """A version bumped on every configuration change, so every process reloads."""

    __tablename__ = "config_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=0)


class Lead(Base):
    """A lead as received, and what became of it."""

    __tablename__ = "leads"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    publisher: Mapped[str] = mapped_column(String(64), index=True)
    vertical: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), index=True)
    test: Mapped[bool] = mapped_column(Boolean, default=False)
    fields: Mapped[dict[str, Any]] = mapped_column(Json)
    tree: Mapped[str | None] = mapped_column(String(64), nullable=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revenue: Mapped[Decimal] = mapped_column(Cents, default=Decimal(0))
    payout: Mapped[Decimal] = mapped_column(Cents, default=Decimal(0))
    redirect_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    timed_out: Mapped[bool] = mapped_column(Boolean, default=False)
    reasons: Mapped[list[dict[str, Any]]] = mapped_column(Json, default=list)
    skips: Mapped[list[dict[str, Any]]] = mapped_column(Json, default=list)
    risk_score: Mapped[int | None] = mapped_column(Integer, nullable=True)
    screening: Mapped[dict[str, Any] | None] = mapped_column(Json, nullable=True)
    inbound_ping_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    routing_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    """When its latest routing began, for a lead routed again long after its arrival
    (approved in review, offered again after a return); None: routed on arrival."""


class AttemptRow(Base):
    """One ping or post to a buyer, with request, response, outcome and timing."""

    __tablename__ = "attempts"
    __table_args__ = (Index("ix_attempts_campaign_started", "campaign", "started_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    lead_id: Mapped[str] = mapped_column(ForeignKey("leads.id"), index=True)
    campaign: Mapped[str] = mapped_column(String(64))
    buyer: Mapped[str] = mapped_column(String(64))
    tier: Mapped[str | None] = mapped_column(String(64), nullable=True)
    kind: Mapped[str] = mapped_column(String(8))
    outcome: Mapped[str] = mapped_column(String(16))
    price: Mapped[Decimal | None] = mapped_column(Cents, nullable=True)
    reference: Mapped[str | None] = mapped_column(String(255), nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    redirect_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    duration_ms: Mapped[float] = mapped_column(Float)
    request: Mapped[dict[str, Any]] = mapped_column(Json)
    response: Mapped[dict[str, Any]] = mapped_column(Json)
    test: Mapped[bool] = mapped_column(Boolean, default=False)
    bid_price: Mapped[Decimal | None] = mapped_column(Cents, nullable=True)
    answer_price: Mapped[Decimal | None] = mapped_column(Cents, nullable=True)
    price_mismatch: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class Sale(Base):
    """A lead sold to a campaign, at the price the buyer pays."""

    __tablename__ = "sales"
    __table_args__ = (Index("ix_sales_campaign_sold", "campaign", "sold_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    lead_id: Mapped[str] = mapped_column(ForeignKey("leads.id"), index=True)
    publisher: Mapped[str] = mapped_column(String(64))
    campaign: Mapped[str] = mapped_column(String(64))
    buyer: Mapped[str] = mapped_column(String(64), index=True)
    tier: Mapped[str | None] = mapped_column(String(64), nullable=True)
    price: Mapped[Decimal] = mapped_column(Cents)
    payout: Mapped[Decimal] = mapped_column(Cents)
    reference: Mapped[str | None] = mapped_column(String(255), nullable=True)
    sold_at: Mapped[datetime] = mapped_column(UTCDateTime)
    test: Mapped[bool] = mapped_column(Boolean, default=False)
    payout_rule: Mapped[dict[str, Any] | None] = mapped_column(Json, nullable=True)
    """The publisher's payout rule this sale's payout was worked out by."""


class CapCounter(Base):
    """Leads and money taken by a campaign in one cap window (held reservations included)."""

    __tablename__ = "cap_counters"

    campaign: Mapped[str] = mapped_column(String(64), primary_key=True)
    period: Mapped[str] = mapped_column(String(8), primary_key=True)
    window: Mapped[str] = mapped_column(String(16), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)
    amount: Mapped[Decimal] = mapped_column(Cents, default=Decimal(0))


class CapReservation(Base):
    """Cap room held for a post until its answer is recorded: the post's journal entry.

    status: held, confirmed (a sale), released, or uncertain (a crash came between the post
    and its record; counts against the cap until an operator resolves it).
    """

    __tablename__ = "cap_reservations"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    campaign: Mapped[str] = mapped_column(String(64))
    lead_id: Mapped[str] = mapped_column(String(36), index=True)
    price: Mapped[Decimal] = mapped_column(Cents)
    windows: Mapped[list[list[str]]] = mapped_column(Json)
    status: Mapped[str] = mapped_column(String(12), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class IdempotencyKey(Base):
    """The first answer to a publisher's Idempotency-Key, returned again on repeats."""

    __tablename__ = "idempotency_keys"

    publisher: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    lead_id: Mapped[str] = mapped_column(String(36))
    fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    answer: Mapped[dict[str, Any] | None] = mapped_column(Json, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class InboundPing(Base):
    """A publisher's ping: the price offered and the bids behind it, valid until expires_at."""

    __tablename__ = "inbound_pings"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    publisher: Mapped[str] = mapped_column(String(64))
    vertical: Mapped[str] = mapped_column(String(64))
    fields: Mapped[dict[str, Any]] = mapped_column(Json)
    bids: Mapped[list[dict[str, Any]]] = mapped_column(Json)
    price: Mapped[Decimal] = mapped_column(Cents)
    payout: Mapped[Decimal] = mapped_column(Cents)
    reservation_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    status: Mapped[str] = mapped_column(String(12))
    test: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    lead_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    ping_record: Mapped[dict[str, Any] | None] = mapped_column(Json, nullable=True)
    """The buyer pings made for this ping and the campaigns skipped, for the lead's timeline."""


class DedupEntry(Base):
    """The last time a person (hashed email or phone) came in, per vertical."""

    __tablename__ = "dedup_entries"

    vertical: Mapped[str] = mapped_column(String(64), primary_key=True)
    person_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    lead_id: Mapped[str] = mapped_column(String(36))
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime)


class BuyerPurchase(Base):
    """A person (hashed) a buyer bought, so the buyer is not offered them again too soon."""

    __tablename__ = "buyer_purchases"

    person_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    buyer: Mapped[str] = mapped_column(String(64), primary_key=True)
    lead_id: Mapped[str] = mapped_column(String(36))
    sold_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SuppressionEntry(Base):
    """A do-not-contact entry: only the SHA-256 of the normalised email or phone is kept."""

    __tablename__ = "suppression_entries"

    value_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    scope: Mapped[str] = mapped_column(String(16), primary_key=True)
    owner: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime)


class OperatorRow(Base):
    """A named operator account: its role and the SHA-256 of its current token."""

    __tablename__ = "operators"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ConsoleSession(Base):
    """A console login: only the SHA-256 of the cookie's random id is kept.

    credential_hash is the SHA-256 of the token used to log in; the session lives only as
    long as that token is valid (rotating or revoking it ends the session).
    """

    __tablename__ = "console_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    credential_hash: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ConsentCertificate(Base):
    """A lead's TCPA consent, as captured at conversion: stored once, never changed.

    certificate is the canonical JSON served to buyers byte for byte; sha256 is its digest.
    """

    __tablename__ = "consent_certificates"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    lead_id: Mapped[str] = mapped_column(ForeignKey("leads.id"), unique=True)
    certificate: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    consented_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sellers: Mapped[list[str]] = mapped_column(Json)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


EventId = BigInteger().with_variant(Integer, "sqlite")  # SQLite's rowid is INTEGER


class AuditEvent(Base):
    """One event of the audit trail: a lead's step or a configuration change.

    Written in the transaction of what it records; seq and hash are set once, when the
    sealer links it into the hash chain (audit.chain), and never again.
    """

    __tablename__ = "audit_events"
    __table_args__ = (
        Index(
            "ix_audit_events_unsealed",
            "id",
            sqlite_where=text("seq IS NULL"),
            postgresql_where=text("seq IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(EventId, primary_key=True, autoincrement=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    kind: Mapped[str] = mapped_column(String(32))
    lead_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    actor: Mapped[str] = mapped_column(String(160))
    subject: Mapped[str | None] = mapped_column(String(255), nullable=True)
    details: Mapped[str] = mapped_column(Text)
    """Canonical JSON (sorted keys, ASCII): hashed exactly as stored."""
    seq: Mapped[int | None] = mapped_column(BigInteger, nullable=True, unique=True)
    hash: Mapped[str | None] = mapped_column(String(64), nullable=True)


class AuditChain(Base):
    """The head of the audit hash chain: the last link sealed (one row, id 1)."""

    __tablename__ = "audit_chain"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    hash: Mapped[str] = mapped_column(String(64))
    sealed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class LeadPerson(Base):
    """A lead's person: the SHA-256 of its normalised email or phone (screening's hashes).

    Lets an operator find a person's leads by email or phone without reading lead fields.
    """

    __tablename__ = "lead_people"

    person_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    lead_id: Mapped[str] = mapped_column(String(36), primary_key=True)


class ConfigChange(Base):
    """One applied change of the configuration: the version it made, who, when and what.

    before/after hold each changed resource's stored spec (None: absent), by `kind/name`.
    """

    __tablename__ = "config_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    version: Mapped[int] = mapped_column(Integer)
    operator: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(16))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    lines: Mapped[list[str]] = mapped_column(Json)
    before: Mapped[dict[str, Any]] = mapped_column(Json)
    after: Mapped[dict[str, Any]] = mapped_column(Json)


class CallRow(Base):
    """A phone call: where it came in, its IVR answers, the lead it became, how it ended.

    Its id is the provider's call id (Twilio's CallSid). The lead (lead_id) carries the
    routing: its pings, dials (as posts), sale and cap holds, as for a form lead.
    """

    __tablename__ = "calls"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    publisher: Mapped[str] = mapped_column(String(64))
    vertical: Mapped[str] = mapped_column(String(64))
    tracking_number: Mapped[str] = mapped_column(String(32))
    caller: Mapped[str] = mapped_column(String(32), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    test: Mapped[bool] = mapped_column(Boolean, default=False)
    answers: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    lead_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    matched_lead_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    duration_s: Mapped[int | None] = mapped_column(Integer, nullable=True)
    connected_s: Mapped[int | None] = mapped_column(Integer, nullable=True)
    campaign: Mapped[str | None] = mapped_column(String(64), nullable=True)
    buyer: Mapped[str | None] = mapped_column(String(64), nullable=True)
    converted: Mapped[bool] = mapped_column(Boolean, default=False)
    price: Mapped[Decimal | None] = mapped_column(Cents, nullable=True)
    recording_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    line: Mapped[str | None] = mapped_column(String(64), nullable=True)
    """The campaign whose live-call line this call holds now (concurrency), if any."""


class CallEventRow(Base):
    """One step of a call's timeline: a webhook, an IVR answer, a dial, a status callback."""

    __tablename__ = "call_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    call_id: Mapped[str] = mapped_column(String(64), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    kind: Mapped[str] = mapped_column(String(24))
    detail: Mapped[dict[str, Any]] = mapped_column(Json)


class CallLineRow(Base):
    """A call campaign's live calls now, against its concurrency (taken with a conditional
    UPDATE, so two processes never exceed it)."""

    __tablename__ = "call_lines"

    campaign: Mapped[str] = mapped_column(String(64), primary_key=True)
    live: Mapped[int] = mapped_column(Integer, default=0)
