"""Every query about leads: store one, record what routing did, read its timeline."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from pingtree import audit
from pingtree.consent import repository as consent_repository
from pingtree.consent.model import Certificate
from pingtree.leads.schemas import (
    AttemptOut,
    AuditEventOut,
    ConsentOut,
    LeadAnswer,
    LeadStatus,
    PublisherLead,
    Reason,
    SaleOut,
    Timeline,
)
from pingtree.money import cents
from pingtree.reporting import events
from pingtree.routing.model import Attempt, RoutingResult
from pingtree.storage import direct
from pingtree.storage.tables import AttemptRow, Lead, LeadPerson, Sale

leads = cast(Table, Lead.__table__)
attempts = cast(Table, AttemptRow.__table__)
sales = cast(Table, Sale.__table__)

_INSERT_LEAD = leads.insert()
_INSERT_ATTEMPT = attempts.insert()
_INSERT_SALE = sales.insert()
_INSERT_PERSON = cast(Table, LeadPerson.__table__).insert()
# Only a lead still being routed is recorded: a retried record, or one recovery settled
# first, changes nothing.
_RECORD_OUTCOME = (
    update(leads)
    .where(leads.c.id == bindparam("lead"), leads.c.status == LeadStatus.RECEIVED.value)
    .values(
        {
            name: bindparam(name, type_=leads.c[name].type)
            for name in (
                "status",
                "tree",
                "revenue",
                "payout",
                "redirect_url",
                "timed_out",
                "answered_at",
                "skips",
                "reasons",
                "risk_score",
                "screening",
            )
        }
    )
)


@dataclass
class LeadRecord:
    """A lead on its way through the engine (its row, before the outcome is known)."""

    id: str
    publisher: str
    vertical: str
    fields: dict[str, Any]
    test: bool
    received_at: datetime
    risk_score: int | None = None
    screening: dict[str, Any] | None = None
    inbound_ping_id: str | None = None
    consent: Certificate | None = None
    audited: bool = False
    """Its intake events (received, consent, screening) are in the audit trail already."""
    previous_status: str | None = None
    """Its answer before this routing: review (approved by an operator), sold (returned and
    offered again); reports move the lead from that count to the new one."""
    event_place: tuple[int, int] | None = None
    """(txid, id) of the lead event its record wrote (its sales are booked once it is rolled)."""
    call: bool = False
    """A phone call's lead (calls.service): screened against earlier calls' window."""

    @classmethod
    def of(cls, row: Lead) -> LeadRecord:
        """The record of a stored lead."""
        return cls(
            id=row.id,
            publisher=row.publisher,
            vertical=row.vertical,
            fields=row.fields,
            test=row.test,
            received_at=row.received_at,
            risk_score=row.risk_score,
            screening=row.screening,
            inbound_ping_id=row.inbound_ping_id,
        )


async def stored_lead(conn: AsyncConnection, lead_id: str) -> LeadRecord | None:
    """A stored lead as a record (its outcome left out), or None."""
    row = (await conn.execute(select(leads).where(leads.c.id == lead_id))).first()
    if row is None:
        return None
    return LeadRecord(
        id=row.id,
        publisher=row.publisher,
        vertical=row.vertical,
        fields=row.fields,
        test=row.test,
        received_at=row.received_at,
        risk_score=row.risk_score,
        screening=row.screening,
        inbound_ping_id=row.inbound_ping_id,
    )


async def insert_lead(conn: AsyncConnection, lead: LeadRecord) -> None:
    """Store a lead as received, before anything else happens to it."""
    # Parameters beside a plain insert(): no statement is built per lead.
    await direct.send(
        conn,
        _INSERT_LEAD,
        {
            "id": lead.id,
            "publisher": lead.publisher,
            "vertical": lead.vertical,
            "status": LeadStatus.RECEIVED.value,
            "test": lead.test,
            "fields": lead.fields,
            "received_at": lead.received_at,
            "revenue": Decimal(0),
            "payout": Decimal(0),
            "timed_out": False,
            "reasons": [],
            "skips": [],
            "inbound_ping_id": lead.inbound_ping_id,
        },
    )


async def set_screened(
    conn: AsyncConnection,
    lead: LeadRecord,
    status: LeadStatus,
    reasons: list[Reason],
    now: datetime | None,
) -> None:
    """A lead screening rejected (answered now) or held for review (answered later)."""
    await conn.execute(
        update(leads)
        .where(leads.c.id == lead.id)
        .values(
            status=status.value,
            reasons=[r.model_dump() for r in reasons],
            risk_score=lead.risk_score,
            screening=lead.screening,
            answered_at=now,
        )
    )
    if not lead.test:
        await events.answered(
            conn,
            lead_id=lead.id,
            publisher=lead.publisher,
            vertical=lead.vertical,
            received_at=lead.received_at,
            at=now or lead.received_at,
            status=status.value,
            codes=events.codes_of(reasons),
        )


async def index_people(conn: AsyncConnection, lead_id: str, hashes: Sequence[str]) -> None:
    """Note the lead's person (screening's email/phone hashes), to find it by email or phone."""
    if hashes:
        people = [{"person_hash": h, "lead_id": lead_id} for h in dict.fromkeys(hashes)]
        await direct.send(conn, _INSERT_PERSON, people)


def routing_answer(
    lead: LeadRecord, result: RoutingResult, *, payout: Decimal, reasons: list[Reason]
) -> LeadAnswer:
    """The answer a routing result gives the publisher (the one record_routing stores)."""
    return LeadAnswer(
        lead_id=lead.id,
        status=LeadStatus.SOLD if result.sales else LeadStatus.UNSOLD,
        payout=payout if result.sales else Decimal(0),
        redirect_url=result.sales[0].redirect_url if result.sales else None,
        reasons=reasons,
        test=lead.test,
    )


@dataclass(frozen=True)
class Recorded:
    """What a lead's record wrote: the answer, its outcome and its lead event (None: a test
    lead has none), sent with the record's other statements."""

    answer: LeadAnswer
    outcome: direct.Pending
    event: direct.Pending | None

    async def landed(self) -> bool:
        """Whether the lead's outcome was written: False when the lead was recorded or
        settled by recovery already, and the caller must roll its transaction back. Inside
        a pipeline its answer comes with the next one read (no round trip of its own)."""
        return (await self.outcome.outcome()).rowcount == 1

    async def event_place(self) -> tuple[int, int] | None:
        """(txid, id) of the lead event (read once the record's statements are answered)."""
        return None if self.event is None else events.place_of(await self.event.outcome())


async def record_routing(
    conn: AsyncConnection,
    lead: LeadRecord,
    result: RoutingResult,
    *,
    payout: Decimal,
    tree: str | None,
    now: datetime,
    reasons: list[Reason],
    payouts: Sequence[Decimal] | None = None,
    payout_rule: dict[str, Any] | None = None,
    answer: LeadAnswer | None = None,
) -> Recorded:
    """Send every attempt and sale of a routing result and the lead's outcome; its answer,
    its outcome and its lead event (Recorded).

    payouts: each sale's payout (else the payout is spread over the sales by price);
    payout_rule: the publisher's rule that worked them out, recorded with each sale. A lead
    that is not a test also writes its lead event (its sales go to the ledger from it).
    answer: routing_answer's, when the caller has it already. The caller asks
    `Recorded.landed()` before it commits: a lead recorded or settled by recovery already
    is not written again (its outcome matches no row) and the transaction is rolled back.
    """
    if answer is None:
        answer = routing_answer(lead, result, payout=payout, reasons=reasons)
    status, redirect_url, payout = answer.status, answer.redirect_url, answer.payout
    # Not read here: in a pipeline its row count comes back with the next answer read.
    outcome = await direct.send(
        conn,
        _RECORD_OUTCOME,
        {
            "lead": lead.id,
            "status": status.value,
            "tree": tree,
            "revenue": cents(result.revenue),
            "payout": payout,
            "redirect_url": redirect_url,
            "timed_out": result.timed_out,
            "answered_at": now,
            "skips": [asdict(skip) for skip in result.skips],
            "reasons": [r.model_dump() for r in reasons],
            "risk_score": lead.risk_score,
            "screening": lead.screening,
        },
    )
    await insert_attempts(conn, lead, result.attempts)
    shares = list(payouts) if payouts is not None else []
    if result.sales:
        shares = shares or split_payout(payout, [s.price for s in result.sales])
        await direct.send(
            conn,
            _INSERT_SALE,
            [
                {
                    "lead_id": lead.id,
                    "publisher": lead.publisher,
                    "campaign": sale.campaign,
                    "buyer": sale.buyer,
                    "tier": sale.tier,
                    "price": sale.price,
                    "payout": share,
                    "reference": sale.reference,
                    "sold_at": now,
                    "test": lead.test,
                    "payout_rule": payout_rule,
                }
                for sale, share in zip(result.sales, shares, strict=True)
            ],
        )
    event = None
    if not lead.test:
        event = await _book_answer(
            conn, lead, result, shares, payout_rule, now, status.value, reasons
        )
    return Recorded(answer, outcome, event)


async def _book_answer(
    conn: AsyncConnection,
    lead: LeadRecord,
    result: RoutingResult,
    shares: list[Decimal],
    rule: dict[str, Any] | None,
    now: datetime,
    status: str,
    reasons: list[Reason],
) -> direct.Pending:
    """The lead's event, in the record's transaction: one row, whatever it did. Its sales are
    booked in the ledger from it by the roller (reporting.rollups), off the lead's path."""
    return await events.answered(
        conn,
        lead_id=lead.id,
        publisher=lead.publisher,
        vertical=lead.vertical,
        received_at=lead.received_at,
        at=now,
        status=status,
        previous=lead.previous_status,
        codes=events.codes_of(reasons),
        campaigns=events.campaign_figures(result.attempts, result.sales, shares, rule=rule),
        revenue=cents(result.revenue),
        payout=sum(shares, Decimal(0)),
    )


def attempt_values(a: Attempt) -> dict[str, Any]:
    """An attempt flat, one fact a column: as its row holds it and the timeline shows it
    (AttemptOut is read from the row)."""
    reading = a.answer.reading
    return {
        "campaign": a.campaign,
        "buyer": a.buyer,
        "tier": a.tier,
        "kind": a.kind,
        "outcome": reading.outcome.value,
        "price": a.price,
        "reference": reading.reference,
        "reason": reading.reason,
        "redirect_url": reading.redirect_url,
        "started_at": a.started_at,
        "duration_ms": round(a.answer.duration_ms, 3),
        "request": a.answer.request,
        "response": a.answer.response,
        "bid_price": a.bid_price,
        "answer_price": reading.price,
        "price_mismatch": a.price_mismatch,
    }


async def insert_attempts(
    conn: AsyncConnection, lead: LeadRecord, attempts: Sequence[Attempt]
) -> None:
    """Write a lead's pings and posts (in the caller's transaction)."""
    if not attempts:
        return
    await direct.send(
        conn,
        _INSERT_ATTEMPT,
        [{"lead_id": lead.id, "test": lead.test, **attempt_values(a)} for a in attempts],
    )


def split_payout(payout: Decimal, prices: list[Decimal]) -> list[Decimal]:
    """A lead's payout spread over its sales by price, to the cent, summing exactly."""
    if not prices:
        return []
    total = sum(prices, Decimal(0))
    shares = [cents(payout * p / total) if total else Decimal(0) for p in prices]
    shares[0] += payout - sum(shares, Decimal(0))
    return shares


async def timeline(session: AsyncSession, lead_id: str) -> Timeline | None:
    """The lead's whole story, or None if there is no such lead."""
    lead = await session.get(Lead, lead_id)
    if lead is None:
        return None
    attempts = (
        await session.scalars(
            select(AttemptRow).where(AttemptRow.lead_id == lead_id).order_by(AttemptRow.id)
        )
    ).all()
    sales = (
        await session.scalars(select(Sale).where(Sale.lead_id == lead_id).order_by(Sale.id))
    ).all()
    return Timeline(
        lead_id=lead.id,
        publisher=lead.publisher,
        vertical=lead.vertical,
        status=LeadStatus(lead.status),
        test=lead.test,
        tree=lead.tree,
        received_at=lead.received_at,
        answered_at=lead.answered_at,
        revenue=lead.revenue,
        payout=lead.payout,
        redirect_url=lead.redirect_url,
        timed_out=lead.timed_out,
        fields=lead.fields,
        reasons=[Reason.model_validate(r) for r in lead.reasons or []],
        risk_score=lead.risk_score,
        screening=lead.screening,
        skipped=list(lead.skips or []),
        attempts=[AttemptOut.model_validate(a, from_attributes=True) for a in attempts],
        sales=[SaleOut.model_validate(s, from_attributes=True) for s in sales],
        consent=consent_out(await consent_repository.of_lead(session, lead_id)),
        audit=[audit_event_out(e) for e in await audit.lead_events(session, lead_id)],
    )


def consent_out(certificate: Certificate | None) -> ConsentOut | None:
    """A certificate as the timeline shows it."""
    if certificate is None:
        return None
    return ConsentOut(
        id=certificate.id,
        sha256=certificate.sha256,
        consented_at=certificate.consented_at,
        sellers=list(certificate.sellers),
        certificate=json.loads(certificate.text),
        certificate_text=certificate.text,
    )


def audit_event_out(event: audit.StoredEvent) -> AuditEventOut:
    """An audit event as the timeline shows it."""
    return AuditEventOut(
        id=event.id,
        seq=event.seq,
        hash=event.hash,
        occurred_at=event.occurred_at,
        kind=event.kind,
        actor=event.actor,
        subject=event.subject,
        details=json.loads(event.details),
    )


async def publisher_view(
    session: AsyncSession, lead_id: str, publisher: str
) -> PublisherLead | None:
    """The publisher's own view of its lead, or None if there is no such lead of theirs."""
    lead = await session.get(Lead, lead_id)
    if lead is None or lead.publisher != publisher:
        return None
    findings = (lead.screening or {}).get("findings") or []
    return PublisherLead(
        lead_id=lead.id,
        status=LeadStatus(lead.status),
        test=lead.test,
        payout=lead.payout,
        redirect_url=lead.redirect_url,
        reasons=[Reason.model_validate(r) for r in lead.reasons or []],
        screening_findings=list(dict.fromkeys(str(f["code"]) for f in findings)),
        received_at=lead.received_at,
        answered_at=lead.answered_at,
    )
