"""A buyer asks to return a sale; the buyer's rules approve it at once or an operator decides.

An approved return, in one transaction: reverses the sale in the ledger (the price back to
the buyer), takes the publisher's payout back when the buyer's terms say so (claw_back),
gives the campaign's cap room back (free_cap), and writes the lead event that reports
count and that calls the publisher's postback and the buyer's webhook. Offering the lead
again (offer_again) follows, once that is committed (intake.reoffer).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Table, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from pingtree import audit
from pingtree.buyers.model import Buyer
from pingtree.buyers.terms import ReturnLimit, ReturnPeriod, ReturnPolicy
from pingtree.config.history import last_configured
from pingtree.intake.errors import refuse
from pingtree.ledger import accounts
from pingtree.ledger.accounts import EntryKind
from pingtree.ledger.entries import Entry, book
from pingtree.money import ZERO
from pingtree.reporting import events
from pingtree.reporting.events import EventKind
from pingtree.returns.schemas import ReturnStatus
from pingtree.sales.ledger import CONFIRMED, SqlCapLedger
from pingtree.storage.books import ReturnRow
from pingtree.storage.tables import CapReservation, Lead, Sale

returns = cast(Table, ReturnRow.__table__)
sales = cast(Table, Sale.__table__)
leads = cast(Table, Lead.__table__)
reservations = cast(Table, CapReservation.__table__)
AUTO = "auto"


@dataclass(frozen=True)
class Decided:
    """A return once decided: whether the lead is to be offered to other buyers now."""

    id: str
    lead_id: str
    buyer: str
    status: ReturnStatus
    price: Decimal
    offer_again: bool


async def ask(
    *,
    engine: AsyncEngine,
    caps: SqlCapLedger,
    buyer: Buyer,
    lead_id: str,
    reason: str,
    note: str | None,
    now: datetime,
) -> Decided:
    """Record a buyer's return of a lead it bought; approved at once if its rules allow."""
    policy = buyer.returns
    if policy is None:
        raise refuse(403, "returns_not_accepted", f"buyer {buyer.name!r} may not return leads")
    if reason not in policy.reasons:
        accepted = ", ".join(policy.reasons)
        why = f"reason {reason!r} is not one of: {accepted}"
        raise refuse(422, "invalid_reason", why, "reason")
    try:
        async with engine.begin() as conn:
            sale = await _sale(conn, lead_id, buyer.name)
            if sale is None:
                raise refuse(404, "not_found", f"you bought no lead {lead_id!r}")
            if now - sale.sold_at > timedelta(days=policy.window_days):
                raise refuse(
                    422,
                    "return_window_closed",
                    f"sold {sale.sold_at.isoformat()}: returns close "
                    f"{policy.window_days} days after the sale",
                    "lead_id",
                )
            held = await _held_because(conn, policy, buyer.name, sale.sold_at, now)
            return_id = str(uuid.uuid4())
            await conn.execute(
                returns.insert().values(
                    id=return_id,
                    sale_id=sale.id,
                    lead_id=lead_id,
                    buyer=buyer.name,
                    campaign=sale.campaign,
                    publisher=sale.publisher,
                    vertical=sale.vertical,
                    price=sale.price,
                    payout=sale.payout,
                    sold_at=sale.sold_at,
                    reason=reason,
                    note=note,
                    status=ReturnStatus.PENDING.value,
                    requested_at=now,
                    held_because=held,
                    clawed_back=ZERO,
                    cap_freed=False,
                    offered_again=False,
                )
            )
            await _audited(
                conn,
                return_id,
                lead_id,
                audit.buyer(buyer.name),
                now,
                status=ReturnStatus.PENDING,
                reason=reason,
                price=str(sale.price),
                held_because=held,
            )
            if held is not None:
                return Decided(
                    return_id, lead_id, buyer.name, ReturnStatus.PENDING, sale.price, False
                )
            row = await _pending(conn, return_id)
            return await _approve(conn, caps, row, policy, actor=AUTO, note=None, now=now)
    except IntegrityError:
        raise refuse(409, "already_returned", f"lead {lead_id!r} was returned already") from None


async def _sale(conn: AsyncConnection, lead_id: str, buyer: str) -> Any:
    """The buyer's purchase of the lead, with the lead's vertical."""
    return (
        await conn.execute(
            select(sales, leads.c.vertical)
            .join(leads, leads.c.id == sales.c.lead_id)
            .where(sales.c.lead_id == lead_id, sales.c.buyer == buyer, sales.c.test.is_(False))
            .order_by(sales.c.id.desc())
            .limit(1)
        )
    ).one_or_none()


async def _held_because(
    conn: AsyncConnection, policy: ReturnPolicy, buyer: str, sold_at: datetime, now: datetime
) -> str | None:
    """Why the return waits for an operator; None when the buyer's rules approve it."""
    if not policy.auto_approve:
        return "returns are decided by an operator"
    if policy.max_age_hours is not None and now - sold_at > timedelta(hours=policy.max_age_hours):
        return f"sold more than {policy.max_age_hours} hours ago"
    if policy.limit is not None:
        return await _over_limit(conn, policy.limit, buyer, now)
    return None


def period_start(period: ReturnPeriod, now: datetime) -> datetime:
    """Where the current return period began (UTC)."""
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if period is ReturnPeriod.DAILY:
        return day
    if period is ReturnPeriod.WEEKLY:
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


async def _over_limit(
    conn: AsyncConnection, limit: ReturnLimit, buyer: str, now: datetime
) -> str | None:
    since = period_start(limit.period, now)
    taken = int(
        await conn.scalar(
            select(func.count())
            .select_from(returns)
            .where(
                returns.c.buyer == buyer,
                returns.c.requested_at >= since,
                returns.c.status != ReturnStatus.REJECTED.value,
            )
        )
        or 0
    )
    if limit.count is not None and taken + 1 > limit.count:
        return f"{limit.count} returns this {limit.period.value} period reached"
    if limit.percent is not None:
        bought = int(
            await conn.scalar(
                select(func.count())
                .select_from(sales)
                .where(sales.c.buyer == buyer, sales.c.sold_at >= since, sales.c.test.is_(False))
            )
            or 0
        )
        if (taken + 1) * 100 > limit.percent * bought:
            return f"over {limit.percent}% of this {limit.period.value} period's {bought} purchases"
    return None


async def _pending(conn: AsyncConnection, return_id: str) -> Any:
    return (
        await conn.execute(select(returns).where(returns.c.id == return_id).with_for_update())
    ).one_or_none()


async def decide(
    *,
    engine: AsyncEngine,
    caps: SqlCapLedger,
    policies: dict[str, Buyer],
    return_id: str,
    approve: bool,
    actor: str,
    note: str | None,
    now: datetime,
) -> Decided:
    """An operator approves or rejects a pending return."""
    async with engine.begin() as conn:
        row = await _pending(conn, return_id)
        if row is None:
            raise refuse(404, "not_found", f"no return {return_id!r}")
        if row.status != ReturnStatus.PENDING.value:
            raise refuse(409, "already_decided", f"return {return_id!r} is {row.status} already")
        policy = await _terms(conn, policies, row.buyer)
        if approve:
            return await _approve(conn, caps, row, policy, actor=actor, note=note, now=now)
        await conn.execute(
            update(returns)
            .where(returns.c.id == return_id)
            .values(
                status=ReturnStatus.REJECTED.value,
                decided_at=now,
                decided_by=actor,
                decision_note=note,
            )
        )
        await _event(conn, row, EventKind.RETURN_REJECTED, ZERO, actor, now)
        await _audited(
            conn, row.id, row.lead_id, _actor(actor), now, status=ReturnStatus.REJECTED, note=note
        )
    return Decided(row.id, row.lead_id, row.buyer, ReturnStatus.REJECTED, row.price, False)


async def _terms(conn: AsyncConnection, policies: dict[str, Buyer], name: str) -> ReturnPolicy:
    """The buyer's return terms; for a buyer removed from the configuration since it asked,
    its terms when last configured (the configuration's history)."""
    buyer = policies.get(name)
    if buyer is not None:
        return buyer.returns or ReturnPolicy()
    spec = await last_configured(conn, "buyers", name)
    terms = spec.get("returns") if spec is not None else None
    return ReturnPolicy.model_validate(terms) if terms is not None else ReturnPolicy()


async def _approve(
    conn: AsyncConnection,
    caps: SqlCapLedger,
    row: Any,
    policy: ReturnPolicy,
    *,
    actor: str,
    note: str | None,
    now: datetime,
) -> Decided:
    clawed = row.payout if policy.claw_back else ZERO
    freed = policy.free_cap and await _free_cap(conn, caps, row.lead_id, row.campaign)
    await conn.execute(
        update(returns)
        .where(returns.c.id == row.id)
        .values(
            status=ReturnStatus.APPROVED.value,
            decided_at=now,
            decided_by=actor,
            decision_note=note,
            clawed_back=clawed,
            cap_freed=freed,
        )
    )
    memo = f"return {row.id}: {row.reason}"
    await book(
        conn,
        [
            Entry(
                EntryKind.RETURN,
                accounts.REVENUE,
                accounts.buyer(row.buyer),
                row.price,
                row.lead_id,
                row.campaign,
                memo,
                None,
                actor,
            ),
            Entry(
                EntryKind.CLAWBACK,
                accounts.publisher(row.publisher),
                accounts.PAYOUTS,
                clawed,
                row.lead_id,
                row.campaign,
                memo,
                None,
                actor,
            ),
        ],
        at=now,
    )
    await _event(conn, row, EventKind.RETURNED, clawed, actor, now)
    await _audited(
        conn,
        row.id,
        row.lead_id,
        _actor(actor),
        now,
        status=ReturnStatus.APPROVED,
        clawed_back=str(clawed),
        cap_freed=freed,
        note=note,
    )
    return Decided(
        row.id, row.lead_id, row.buyer, ReturnStatus.APPROVED, row.price, policy.offer_again
    )


def _actor(decided_by: str) -> str:
    """The audit trail's name for who decided: the buyer's rules, or an operator."""
    return audit.SYSTEM if decided_by == AUTO else audit.operator(decided_by)


async def _audited(
    conn: AsyncConnection,
    return_id: str,
    lead_id: str,
    actor: str,
    now: datetime,
    *,
    status: ReturnStatus,
    **details: Any,
) -> None:
    """A return asked for or decided, in the lead's audit trail."""
    event = audit.Event(
        audit.EventKind.LEAD_RETURNED,
        now,
        actor=actor,
        lead_id=lead_id,
        subject=f"returns/{return_id}",
        details={"status": status.value, **{k: v for k, v in details.items() if v is not None}},
    )
    await audit.append(conn, [event])


async def _free_cap(conn: AsyncConnection, caps: SqlCapLedger, lead_id: str, campaign: str) -> bool:
    """Give back the cap room the sale took (its confirmed hold)."""
    held = (
        await conn.scalars(
            select(reservations.c.id).where(
                reservations.c.lead_id == lead_id,
                reservations.c.campaign == campaign,
                reservations.c.status == CONFIRMED,
            )
        )
    ).all()
    return await caps.give_back(conn, held[:1], from_status=CONFIRMED) > 0


async def _event(
    conn: AsyncConnection, row: Any, kind: EventKind, clawed: Decimal, actor: str, now: datetime
) -> None:
    await events.returned(
        conn,
        kind=kind,
        lead_id=row.lead_id,
        publisher=row.publisher,
        vertical=row.vertical,
        at=now,
        campaign=row.campaign,
        buyer=row.buyer,
        reason=row.reason,
        price=row.price,
        clawed_back=clawed,
        actor=actor,
        return_id=row.id,
    )


async def offered_again(engine: AsyncEngine, return_id: str) -> None:
    """Note that the returned lead was offered to the other buyers."""
    async with engine.begin() as conn:
        await conn.execute(
            update(returns).where(returns.c.id == return_id).values(offered_again=True)
        )


async def listed(
    conn: AsyncConnection,
    *,
    buyer: str | None = None,
    lead_id: str | None = None,
    status: str | None = None,
    limit: int = 100,
    oldest_first: bool = False,
) -> list[Any]:
    """Returns, newest first (oldest_first: a queue's order)."""
    when = returns.c.requested_at.asc() if oldest_first else returns.c.requested_at.desc()
    query = select(returns).order_by(when, returns.c.id).limit(limit)
    if buyer is not None:
        query = query.where(returns.c.buyer == buyer)
    if lead_id is not None:
        query = query.where(returns.c.lead_id == lead_id)
    if status is not None:
        query = query.where(returns.c.status == status)
    return list((await conn.execute(query)).all())


async def one(conn: AsyncConnection, return_id: str) -> Any:
    """One return, or None."""
    return (await conn.execute(select(returns).where(returns.c.id == return_id))).one_or_none()
