"""Every query about leads: store one, record what routing did, read its timeline."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pingtree.leads.schemas import AttemptOut, LeadStatus, Reason, SaleOut, Timeline
from pingtree.money import cents
from pingtree.routing.model import RoutingResult
from pingtree.storage.tables import AttemptRow, Lead, Sale


def new_lead(
    *,
    lead_id: str,
    publisher: str,
    vertical: str,
    fields: dict[str, Any],
    test: bool,
    now: datetime,
    status: LeadStatus = LeadStatus.RECEIVED,
) -> Lead:
    """A lead row as it is stored before routing."""
    return Lead(
        id=lead_id,
        publisher=publisher,
        vertical=vertical,
        status=status.value,
        test=test,
        fields=fields,
        received_at=now,
        revenue=Decimal(0),
        payout=Decimal(0),
        timed_out=False,
        reasons=[],
        skips=[],
    )


def record_routing(
    session: AsyncSession,
    lead: Lead,
    result: RoutingResult,
    *,
    payout: Decimal,
    tree: str | None,
    now: datetime,
    reasons: list[Reason],
) -> None:
    """Add every attempt and sale of a routing result, and the lead's outcome, to session."""
    lead.tree = tree
    lead.status = (LeadStatus.SOLD if result.sales else LeadStatus.UNSOLD).value
    lead.revenue = cents(result.revenue)
    lead.payout = payout
    lead.redirect_url = result.sales[0].redirect_url if result.sales else None
    lead.timed_out = result.timed_out
    lead.answered_at = now
    lead.skips = [asdict(skip) for skip in result.skips]
    lead.reasons = [r.model_dump() for r in reasons]
    for attempt in result.attempts:
        session.add(
            AttemptRow(
                lead_id=lead.id,
                campaign=attempt.campaign,
                buyer=attempt.buyer,
                tier=attempt.tier,
                kind=attempt.kind,
                outcome=attempt.outcome.value,
                price=attempt.price,
                reference=attempt.reference,
                reason=attempt.reason,
                redirect_url=attempt.redirect_url,
                started_at=attempt.started_at,
                duration_ms=round(attempt.duration_ms, 3),
                request=attempt.request,
                response=attempt.response,
                test=lead.test,
            )
        )
    shares = split_payout(payout, [s.price for s in result.sales])
    for sale, share in zip(result.sales, shares, strict=True):
        session.add(
            Sale(
                lead_id=lead.id,
                publisher=lead.publisher,
                campaign=sale.campaign,
                buyer=sale.buyer,
                tier=sale.tier,
                price=sale.price,
                payout=share,
                reference=sale.reference,
                sold_at=now,
                test=lead.test,
            )
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
    )
