"""What reports count, written as one append-only row in the transaction that made it happen.

A lead's answer carries its campaigns' figures (pings, bids, posts, outcomes, money), so
the lead's record stays one transaction and the rollups are kept by a roller
(reporting.rollups) instead of by every lead. Test leads write nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncConnection

from pingtree.buyers.model import Exchange, Outcome
from pingtree.money import ZERO
from pingtree.routing.model import Attempt, SaleResult
from pingtree.storage import direct
from pingtree.storage.books import LeadEvent

SLOT_S = 900
"""Rollups count in 15-minute slots: every time zone's hours, days and weeks are made of them."""
REDIRECT = "redirect:"  # an answer that tried to send the lead elsewhere (delivery.responses)
REASON_CHARS = 160

events = cast(Table, LeadEvent.__table__)
_INSERT = events.insert()
_ANSWERED = events.insert().returning(events.c.txid, events.c.id)


class EventKind(StrEnum):
    """What a lead event records."""

    ANSWERED = "answered"
    RETURNED = "returned"
    RETURN_REJECTED = "return_rejected"
    REFUSED = "refused"


def slot(at: datetime) -> int:
    """The 15-minute slot a moment falls in (seconds since the epoch // 900)."""
    return int(at.timestamp()) // SLOT_S


def campaign_figures(
    attempts: Iterable[Attempt],
    sales: Sequence[SaleResult],
    payouts: Sequence[Decimal],
    *,
    rule: dict[str, Any] | None = None,
) -> dict[str, dict[str, Any]]:
    """Per campaign: what it was sent of this lead and what came of it (non-zero figures).

    A sale's figures carry the payout rule that paid it (rule), for its ledger entry.
    exchange_ms: its pings' and posts' durations added up (their mean latency);
    leads_posted: 1 when the lead was posted to it; buyer_leads_posted: 1 on the first of a
    buyer's campaigns the lead was posted to (a buyer's distinct leads posted add up).
    """
    figures: dict[str, dict[str, Any]] = {}

    def of(campaign: str, buyer: str) -> dict[str, Any]:
        found = figures.get(campaign)
        if found is None:
            found = figures[campaign] = {"buyer": buyer, "offered": 1}
        return found

    def add(figure: dict[str, Any], key: str, amount: int = 1) -> None:
        figure[key] = figure.get(key, 0) + amount

    for a in attempts:
        f = of(a.campaign, a.buyer)
        outcome, reason = a.answer.reading.outcome, a.answer.reading.reason
        # As the attempt's row holds it (leads.repository.attempt_values).
        f["exchange_ms"] = f.get("exchange_ms", 0.0) + round(a.answer.duration_ms, 3)
        if a.kind == Exchange.PING:
            add(f, "pinged")
            if outcome is Outcome.ACCEPTED and a.price is not None:
                add(f, "bids")
                f["bid_total"] = str(Decimal(f.get("bid_total", ZERO)) + a.price)
        else:
            add(f, "posted")
            f["leads_posted"] = 1
            if a.price_mismatch:
                add(f, "price_mismatches")
        if outcome is Outcome.ERROR:
            add(f, "errors")
            if (reason or "").startswith(REDIRECT):
                add(f, "redirects")
        elif outcome is Outcome.TIMEOUT:
            add(f, "timeouts")
        elif a.kind == Exchange.POST and outcome in (Outcome.REJECTED, Outcome.DUPLICATE):
            add(f, "rejected" if outcome is Outcome.REJECTED else "duplicates")
            reason = (reason or outcome.value)[:REASON_CHARS]
            reasons = f.setdefault("reasons", {})
            reasons[reason] = reasons.get(reason, 0) + 1
    for sale, payout in zip(sales, payouts, strict=True):
        f = of(sale.campaign, sale.buyer)
        add(f, "sold")
        f["revenue"] = str(Decimal(f.get("revenue", ZERO)) + sale.price)
        f["payout"] = str(Decimal(f.get("payout", ZERO)) + payout)
        if rule is not None:
            f["rule"] = rule
    posted_to: set[str] = set()
    for f in figures.values():
        if f.get("leads_posted") and f["buyer"] not in posted_to:
            posted_to.add(f["buyer"])
            f["buyer_leads_posted"] = 1
    return figures


def codes_of(reasons: Iterable[Any]) -> dict[str, int]:
    """Reason codes counted (reasons are Reason models or their dicts)."""
    counted: dict[str, int] = {}
    for reason in reasons:
        code = reason["code"] if isinstance(reason, dict) else reason.code
        counted[code] = counted.get(code, 0) + 1
    return counted


async def answered(
    conn: AsyncConnection,
    *,
    lead_id: str,
    publisher: str,
    vertical: str,
    received_at: datetime,
    at: datetime,
    status: str,
    previous: str | None = None,
    codes: dict[str, int] | None = None,
    campaigns: dict[str, dict[str, Any]] | None = None,
    revenue: Decimal = ZERO,
    payout: Decimal = ZERO,
    actor: str | None = None,
) -> direct.Pending:
    """A lead's outcome (previous: its status before, when it had an answer already), sent:
    the event's place (txid, id) is place_of() its outcome.

    Counted in the slot the lead was received in, so a slot's leads add up to its sent.
    The campaigns' sales are booked in the ledger when the event is rolled.
    """
    first = previous is None
    return await direct.send(
        conn,
        _ANSWERED,
        {
            "kind": EventKind.ANSWERED.value,
            "lead_id": lead_id,
            "bucket": slot(received_at),
            "at": at,
            "publisher": publisher,
            "vertical": vertical,
            "status": status,
            "previous": previous,
            "count": 1,
            "answer_ms": _ms(at - received_at) if first else None,
            "codes": codes or {},
            "campaigns": campaigns or {},
            "revenue": revenue,
            "payout": payout,
            "actor": actor,
        },
    )


def place_of(written: direct.Outcome) -> tuple[int, int]:
    """An answered event's place (txid, id), from its INSERT's outcome."""
    row = written.one_or_none()
    assert row is not None  # an INSERT .. RETURNING returns its row
    return int(row[0]), int(row[1])


async def returned(
    conn: AsyncConnection,
    *,
    kind: EventKind,
    lead_id: str,
    publisher: str,
    vertical: str,
    at: datetime,
    campaign: str,
    buyer: str,
    reason: str,
    price: Decimal,
    clawed_back: Decimal,
    actor: str | None,
    return_id: str,
) -> None:
    """A return decided (approved: counted in the slot of the decision; rejected: only sent
    to the buyer's webhook)."""
    await conn.execute(
        _INSERT,
        {
            "kind": kind.value,
            "lead_id": lead_id,
            "bucket": slot(at),
            "at": at,
            "publisher": publisher,
            "vertical": vertical,
            "status": None,
            "previous": None,
            "count": 1,
            "answer_ms": None,
            "codes": {reason: 1},
            "campaigns": {campaign: {"buyer": buyer, "return_id": return_id}},
            "revenue": price,
            "payout": clawed_back,
            "actor": actor,
        },
    )


async def refused(
    conn: AsyncConnection, counted: dict[tuple[int, str, str, str], int], *, at: datetime
) -> None:
    """Intake refusals counted by a process: {(slot, publisher, vertical, code): count}."""
    rows: dict[tuple[int, str, str], dict[str, int]] = {}
    for (bucket, publisher, vertical, code), n in counted.items():
        rows.setdefault((bucket, publisher, vertical), {})[code] = n
    if not rows:
        return
    await conn.execute(
        _INSERT,
        [
            {
                "kind": EventKind.REFUSED.value,
                "lead_id": None,
                "bucket": bucket,
                "at": at,
                "publisher": publisher,
                "vertical": vertical,
                "status": None,
                "previous": None,
                "count": sum(codes.values()),
                "answer_ms": None,
                "codes": codes,
                "campaigns": {},
                "revenue": ZERO,
                "payout": ZERO,
                "actor": None,
            }
            for (bucket, publisher, vertical), codes in rows.items()
        ],
    )


def _ms(elapsed: Any) -> int:
    return max(int(elapsed.total_seconds() * 1000), 0)
