"""A returned lead offered again: routed through its tree to every buyer but those that
returned it (and any other that still holds it).

The lead moves from sold back to received (only one caller can), then takes the same
path as a lead approved in review: route, record, answer. Reports move it from its sold
count to whatever this routing gives; its new sales are booked as any others.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncConnection

from pingtree import logs
from pingtree.intake.service import route_lead
from pingtree.leads.repository import LeadRecord
from pingtree.leads.schemas import LeadAnswer, LeadStatus
from pingtree.screening.service import Screening, buyer_blocks, identity_hashes
from pingtree.storage.tables import Lead

if TYPE_CHECKING:
    from pingtree.runtime import Runtime  # the type only: runtime builds on intake

RETURNED = "returned this lead"
HOLDS = "holds this lead (shared)"

HeldBy = Callable[[AsyncConnection, str], Awaitable[frozenset[str]]]
"""Who holds a lead (bought it, purchase not returned), read on the given connection."""


class _SoldMeanwhile(Exception):
    """Another buyer holds the lead: it was offered again and sold by another caller."""


async def offer_again(
    rt: Runtime,
    lead_id: str,
    *,
    returned_by: frozenset[str],
    held_by: HeldBy,
    holders: frozenset[str] = frozenset(),
) -> LeadAnswer | None:
    """Route a sold lead again without returned_by (every buyer that returned it: never
    sold back to one) and holders; None if it is not sold now, another buyer holds it
    (held_by, the returns' rule), or its publisher or vertical is gone from the
    configuration."""
    catalog = rt.catalog  # one configuration for the whole offer, though a new one loads
    async with rt.sessions() as session:
        lead = await session.get(Lead, lead_id)
    if (
        lead is None
        or lead.publisher not in catalog.publishers
        or lead.vertical not in catalog.verticals
    ):
        return None
    try:
        async with rt.engine.begin() as conn:
            moved = await conn.execute(
                update(Lead)
                .where(Lead.id == lead_id, Lead.status == LeadStatus.SOLD.value)
                .values(status=LeadStatus.RECEIVED.value, routing_started_at=rt.clock.now())
            )
            # Looked at once taken from sold (the caller's look may be stale): a buyer
            # other than those known holds it when another process offered it again and
            # sold it in between. Rolled back: it stays sold, never sold twice.
            if moved.rowcount == 1 and await held_by(conn, lead_id) - holders:
                raise _SoldMeanwhile
    except _SoldMeanwhile:
        return None
    if moved.rowcount != 1:
        return None
    publisher = catalog.publishers[lead.publisher]
    policy = catalog.screening(lead.publisher, lead.vertical)
    hashes = identity_hashes(policy, lead.fields)
    async with rt.sessions() as session:
        blocked = await buyer_blocks(
            session, policy=policy, buyers=catalog.buyers, hashes=hashes, now=rt.clock.now()
        )
    blocked = {**blocked, **dict.fromkeys(holders, HOLDS), **dict.fromkeys(returned_by, RETURNED)}
    stored = lead.screening or {}
    checked = Screening(
        score=lead.risk_score or 0,
        band=stored.get("band"),
        blocked_buyers=blocked,
        person_hashes=hashes,
    )
    record = LeadRecord.of(lead)
    record.previous_status = LeadStatus.SOLD.value
    with logs.for_lead(lead.id):
        _status, answer = await route_lead(
            rt, record, publisher, checked, None, started=rt.clock.monotonic()
        )
    return answer
