"""Recovery: settle leads a crash interrupted; resolve the posts left uncertain.

Every step is one transaction that first moves the lead out of `received` (a conditional
UPDATE), so a late record of the same lead, another worker's recovery and this one never
both win.
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Table, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from pingtree import audit
from pingtree.clock import Clock
from pingtree.config.catalog import Catalog
from pingtree.config.history import configured_at, last_configured
from pingtree.intake.errors import refuse
from pingtree.leads import trail
from pingtree.leads.schemas import LeadStatus, Reason
from pingtree.money import ZERO, cents
from pingtree.publishers.model import Publisher
from pingtree.recovery.schemas import Resolved, UncertainPost
from pingtree.reporting import events
from pingtree.sales.ledger import CONFIRMED, HELD, UNCERTAIN, SqlCapLedger
from pingtree.screening import repository as purchases
from pingtree.screening.service import identity_hashes
from pingtree.storage.books import LeadEvent
from pingtree.storage.tables import CallRow, CapReservation, Lead, Sale

leads = cast(Table, Lead.__table__)
calls = cast(Table, CallRow.__table__)
reservations = cast(Table, CapReservation.__table__)
sales = cast(Table, Sale.__table__)
lead_events = cast(Table, LeadEvent.__table__)

INTERRUPTED = Reason(
    code="interrupted", message="the engine stopped while routing this lead; it was not sold"
)
UNCERTAIN_REASON = Reason(
    code="uncertain",
    message="the engine stopped after offering this lead to a buyer; the sale is being checked",
)
NOT_SOLD = Reason(code="not_sold", message="the buyer confirmed it did not take this lead")
BATCH = 200
LIVE_CALL_STATUSES = ("ivr", "routing")
LONGEST_CALL = timedelta(hours=4)
"""A call's lead is live (its caller on the line, maybe in another process) this long at
most: a dial waits through the whole conversation (calls.gateway.LONGEST_CALL_S)."""


@dataclass(frozen=True)
class Settled:
    """What one recovery pass did."""

    interrupted: int = 0
    uncertain: int = 0
    orphans: int = 0


async def settle_interrupted(
    *, engine: AsyncEngine, clock: Clock, older_than: timedelta, skip: Container[str]
) -> Settled:
    """Settle every lead still `received` older_than after arrival, or after its latest
    routing began for a lead routed again (skip: leads still live).

    Its journaled posts become uncertain and the lead `uncertain`; without any, the lead
    ends `unsold`, reason `interrupted`. Held posts of leads already answered (a bug's
    leftovers) become uncertain too.
    """
    now = clock.now()
    cutoff = now - older_than
    on_the_line = (
        select(calls.c.id)
        .where(
            calls.c.lead_id == leads.c.id,
            calls.c.status.in_(LIVE_CALL_STATUSES),
            calls.c.started_at > now - LONGEST_CALL,
        )
        .exists()
    )
    async with engine.connect() as conn:
        stale = (
            await conn.scalars(
                select(leads.c.id)
                .where(
                    leads.c.status == LeadStatus.RECEIVED.value,
                    leads.c.received_at < cutoff,
                    # A lead routed again (review, a return) is live from when that began.
                    func.coalesce(leads.c.routing_started_at, leads.c.received_at) < cutoff,
                    ~on_the_line,
                )
                .order_by(leads.c.received_at)
                .limit(BATCH)
            )
        ).all()
    interrupted = uncertain = 0
    for lead_id in stale:
        if lead_id in skip:
            continue
        async with engine.begin() as conn:
            outcome = await _settle_one(conn, lead_id, now)
        if outcome is LeadStatus.UNCERTAIN:
            uncertain += 1
        elif outcome is LeadStatus.UNSOLD:
            interrupted += 1
    async with engine.begin() as conn:
        orphans = await _orphaned_holds(conn, now, skip)
        # A call still "on the line" after the longest call lost its process: it is over.
        await conn.execute(
            update(calls)
            .where(
                calls.c.status.in_(LIVE_CALL_STATUSES),
                calls.c.started_at < now - LONGEST_CALL,
            )
            .values(status="unsold", ended_at=now)
        )
    return Settled(interrupted=interrupted, uncertain=uncertain, orphans=orphans)


async def _settle_one(conn: AsyncConnection, lead_id: str, now: datetime) -> LeadStatus | None:
    claimed = await conn.execute(
        update(leads)
        .where(leads.c.id == lead_id, leads.c.status == LeadStatus.RECEIVED.value)
        .values(status=LeadStatus.UNSOLD.value, answered_at=now, timed_out=True)
    )
    if claimed.rowcount != 1:
        return None  # recorded or settled meanwhile
    posts = (
        await conn.scalars(
            update(reservations)
            .where(reservations.c.lead_id == lead_id, reservations.c.status == HELD)
            .values(status=UNCERTAIN)
            .returning(reservations.c.id)
        )
    ).all()
    status, reason = (
        (LeadStatus.UNCERTAIN, UNCERTAIN_REASON) if posts else (LeadStatus.UNSOLD, INTERRUPTED)
    )
    await conn.execute(
        update(leads)
        .where(leads.c.id == lead_id)
        .values(status=status.value, reasons=[reason.model_dump()])
    )
    details = {"status": status.value, "reason": reason.code, "uncertain_posts": len(posts)}
    settled = audit.Event(audit.EventKind.LEAD_SETTLED, now, lead_id=lead_id, details=details)
    await audit.append(conn, [*await trail.taken_if_missing(conn, lead_id), settled])
    previous = await _counted_as(conn, lead_id)
    await _answered(conn, lead_id, now, status, previous, {reason.code: 1})
    return status


async def _counted_as(conn: AsyncConnection, lead_id: str) -> LeadStatus | None:
    """The status reports count the lead in: a lead routed again (approved in review,
    offered again after a return) was answered before; None for a lead never answered."""
    counted = await conn.scalar(
        select(lead_events.c.status)
        .where(
            lead_events.c.lead_id == lead_id,
            lead_events.c.kind == events.EventKind.ANSWERED.value,
        )
        .order_by(lead_events.c.id.desc())
        .limit(1)
    )
    return LeadStatus(counted) if counted is not None else None


async def _answered(
    conn: AsyncConnection,
    lead_id: str,
    now: datetime,
    status: LeadStatus,
    previous: LeadStatus | None,
    codes: dict[str, int],
    *,
    campaigns: dict[str, dict[str, Any]] | None = None,
    revenue: Decimal = ZERO,
    payout: Decimal = ZERO,
    actor: str | None = None,
) -> None:
    """The lead event reports count (none for a test lead)."""
    lead = (
        await conn.execute(
            select(leads.c.publisher, leads.c.vertical, leads.c.received_at, leads.c.test).where(
                leads.c.id == lead_id
            )
        )
    ).one()
    if lead.test:
        return
    await events.answered(
        conn,
        lead_id=lead_id,
        publisher=lead.publisher,
        vertical=lead.vertical,
        received_at=lead.received_at,
        at=now,
        status=status.value,
        previous=previous.value if previous is not None else None,
        codes=codes,
        campaigns=campaigns,
        revenue=revenue,
        payout=payout,
        actor=actor,
    )


async def _orphaned_holds(conn: AsyncConnection, now: datetime, skip: Container[str]) -> int:
    answered = (
        select(leads.c.id)
        .where(leads.c.id == reservations.c.lead_id, leads.c.status != LeadStatus.RECEIVED.value)
        .exists()
    )
    found = (
        await conn.execute(
            select(reservations.c.id, reservations.c.lead_id).where(
                reservations.c.status == HELD, reservations.c.expires_at < now, answered
            )
        )
    ).all()
    ids = [rid for rid, lead_id in found if lead_id not in skip]
    if ids:
        await conn.execute(
            update(reservations)
            .where(reservations.c.id.in_(ids), reservations.c.status == HELD)
            .values(status=UNCERTAIN)
        )
    return len(ids)


async def uncertain_posts(
    *, engine: AsyncEngine, catalog: Catalog, limit: int = 500
) -> list[UncertainPost]:
    """Posts waiting for the operator, oldest first."""
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                select(reservations, leads.c.publisher)
                .join(leads, leads.c.id == reservations.c.lead_id)
                .where(reservations.c.status == UNCERTAIN)
                .order_by(reservations.c.created_at)
                .limit(limit)
            )
        ).all()
        buyers = {name: await _buyer(conn, catalog, name) for name in {r.campaign for r in rows}}
    return [
        UncertainPost(
            reservation_id=row.id,
            lead_id=row.lead_id,
            publisher=row.publisher,
            campaign=row.campaign,
            buyer=buyers[row.campaign],
            price=row.price,
            posted_at=row.created_at,
        )
        for row in rows
    ]


async def _buyer(conn: AsyncConnection, catalog: Catalog, campaign: str) -> str | None:
    """The campaign's buyer; for a campaign removed from the configuration since its post,
    the buyer it had when last configured (the configuration's history)."""
    compiled = catalog.campaigns.get(campaign)
    if compiled is not None:
        return compiled.campaign.buyer
    spec = await last_configured(conn, "campaigns", campaign)
    return str(spec["buyer"]) if spec is not None else None


async def _publisher_at(
    conn: AsyncConnection, catalog: Catalog, name: str, at: datetime
) -> Publisher | None:
    """The publisher as configured at `at`: what the first change of it since held before
    (the configuration's history), else the one in force now. An uncertain post is resolved
    days later, after the publisher's payout changed or the publisher was removed."""
    changed, spec = await configured_at(conn, "publishers", name, at)
    if changed and spec is not None:
        return Publisher.model_validate(spec)
    return catalog.publishers.get(name)  # not changed since (or made after `at`)


async def resolve(
    *,
    engine: AsyncEngine,
    ledger: SqlCapLedger,
    catalog: Catalog,
    reservation_id: str,
    sold: bool,
    actor: str = audit.SYSTEM,
    now: datetime | None = None,
) -> Resolved:
    """Book an uncertain post as a sale (its cap room kept) or give its room back.

    A sale is booked in the ledger (the buyer pays, the publisher earns); actor and now:
    who decided and when, for the ledger and the audit trail.
    """
    async with engine.begin() as conn:
        row = (
            await conn.execute(
                select(
                    reservations, leads.c.publisher, leads.c.vertical, leads.c.fields, leads.c.test
                )
                .join(leads, leads.c.id == reservations.c.lead_id)
                .where(reservations.c.id == reservation_id, reservations.c.status == UNCERTAIN)
                # The lead's row too: its posts are resolved one after another, so that the
                # last one sees none left open (and the lead's revenue adds up).
                .with_for_update()
            )
        ).one_or_none()
        gone = refuse(
            404, "not_uncertain", f"no uncertain post {reservation_id!r} (resolved already?)"
        )
        if row is None:
            raise gone
        # The write is the claim: on SQLite the read above locks nothing, and another
        # process (`pingtree uncertain resolve` beside the server) may have resolved it since.
        if sold:
            confirmed = await conn.execute(
                update(reservations)
                .where(reservations.c.id == reservation_id, reservations.c.status == UNCERTAIN)
                .values(status=CONFIRMED)
            )
            if confirmed.rowcount != 1:
                raise gone
            await _book(
                conn,
                catalog,
                lead_id=row.lead_id,
                publisher_name=row.publisher,
                campaign=row.campaign,
                price=row.price,
                posted_at=row.created_at,
                test=row.test,
                actor=audit.named(actor),
                now=now or row.created_at,
            )
        elif not await ledger.give_back(conn, [reservation_id], from_status=UNCERTAIN):
            raise gone
        await _settle_person(conn, catalog, row, sold=sold)
        status = await _lead_after(conn, row.lead_id, now or row.created_at, audit.named(actor))
        decided = audit.Event(
            audit.EventKind.LEAD_SETTLED,
            now or row.created_at,
            actor=actor,
            lead_id=row.lead_id,
            subject=f"campaigns/{row.campaign}",
            details={"reservation": reservation_id, "sold": sold, "status": status.value},
        )
        await audit.append(conn, [decided])
    return Resolved(
        reservation_id=reservation_id, lead_id=row.lead_id, sold=sold, lead_status=status
    )


async def _settle_person(conn: AsyncConnection, catalog: Catalog, row: Any, *, sold: bool) -> None:
    """The buyer's dedup record of the person follows the resolution: a sale is a purchase
    (the claim taken before the post, or a new one); a post not sold frees the claim."""
    buyer = await _buyer(conn, catalog, row.campaign)
    if buyer is None or row.test:
        return
    policy = catalog.screening(row.publisher, row.vertical)
    hashes = identity_hashes(policy, row.fields)
    if not hashes:
        return
    if sold:
        await purchases.record_purchases(
            conn, buyers=[buyer], hashes=hashes, lead_id=row.lead_id, now=row.created_at
        )
    else:
        await purchases.release_claim(conn, hashes=hashes, lead_id=row.lead_id, buyer=buyer)


async def _book(
    conn: AsyncConnection,
    catalog: Catalog,
    *,
    lead_id: str,
    publisher_name: str,
    campaign: str,
    price: Decimal,
    posted_at: datetime,
    test: bool,
    actor: str | None,
    now: datetime,
) -> None:
    lead = (
        await conn.execute(
            select(leads.c.revenue, leads.c.payout, leads.c.status, leads.c.vertical).where(
                leads.c.id == lead_id
            )
        )
    ).one()
    publisher = await _publisher_at(conn, catalog, publisher_name, posted_at)
    revenue = lead.revenue + price
    # A sale pays the publisher by its rule for the lead's vertical (a shared lead, per sale)
    # in force when the post was sent, as the engine would have booked it then.
    rule = publisher.payout_for(lead.vertical) if publisher is not None else None
    share = rule.for_sale(price) if rule is not None else ZERO
    buyer = await _buyer(conn, catalog, campaign) or campaign
    await conn.execute(
        sales.insert().values(
            lead_id=lead_id,
            publisher=publisher_name,
            campaign=campaign,
            buyer=buyer,
            tier=None,
            price=price,
            payout=share,
            reference=None,
            sold_at=posted_at,
            test=test,
            payout_rule=rule.record() if rule is not None else None,
        )
    )
    await conn.execute(
        update(leads)
        .where(leads.c.id == lead_id)
        .values(
            status=LeadStatus.SOLD.value,
            revenue=revenue,
            payout=cents(lead.payout + share),
            reasons=[],
        )
    )
    if test:
        return
    # The post was sent before the crash: it counts as offered, posted and sold.
    figures: dict[str, dict[str, Any]] = {
        campaign: {
            "buyer": buyer,
            "offered": 1,
            "posted": 1,
            "sold": 1,
            "revenue": str(price),
            "payout": str(share),
            "rule": rule.record() if rule is not None else None,
            "memo": "an uncertain post reconciled as sold",
        }
    }
    was = LeadStatus(str(lead.status))  # sold already: a second sale of a shared lead
    await _answered(
        conn,
        lead_id,
        now,
        LeadStatus.SOLD,
        was,
        {},
        campaigns=figures,
        revenue=price,
        payout=share,
        actor=actor,
    )


async def _lead_after(
    conn: AsyncConnection, lead_id: str, now: datetime, actor: str | None
) -> LeadStatus:
    """The lead's status once none of its posts is uncertain any more."""
    stored = await conn.scalar(select(leads.c.status).where(leads.c.id == lead_id))
    status = LeadStatus(str(stored))
    open_posts = await conn.scalar(
        select(func.count())
        .select_from(reservations)
        .where(reservations.c.lead_id == lead_id, reservations.c.status == UNCERTAIN)
    )
    if status is LeadStatus.UNCERTAIN and not open_posts:
        status = LeadStatus.UNSOLD
        await conn.execute(
            update(leads)
            .where(leads.c.id == lead_id)
            .values(status=status.value, reasons=[NOT_SOLD.model_dump()])
        )
        codes = {NOT_SOLD.code: 1}
        await _answered(conn, lead_id, now, status, LeadStatus.UNCERTAIN, codes, actor=actor)
    return status
