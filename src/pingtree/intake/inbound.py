"""Inbound ping-post: a publisher pings with non-PII fields, then posts the full lead.

The winner's cap room is held from the ping until the ping expires, so the price offered
can be honoured; a late, reused or altered post is refused with a stated reason.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BeforeValidator, TypeAdapter
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncConnection

from pingtree import audit
from pingtree.consent.check import check_consent
from pingtree.intake.errors import refuse
from pingtree.intake.service import (
    certified,
    consent_terms,
    finish,
    hold_or_reject,
    invalid_fields,
    route_for,
    screen_stored,
    store_consent,
)
from pingtree.leads import repository, trail
from pingtree.leads.repository import LeadRecord
from pingtree.leads.schemas import (
    InboundPingAnswer,
    InboundPingIn,
    InboundPostIn,
    LeadAnswer,
    Reason,
)
from pingtree.publishers.model import Publisher
from pingtree.routing.model import Attempt, LeadOffer, Skip
from pingtree.routing.ports import Bid
from pingtree.screening import service as screening
from pingtree.screening.model import Verdict
from pingtree.storage.tables import InboundPing
from pingtree.verticals.validate import validate_fields

if TYPE_CHECKING:
    from pingtree.config.catalog import Catalog
    from pingtree.runtime import Runtime  # the type only: runtime builds on intake

OPEN, POSTED = "open", "posted"


async def take_ping(rt: Runtime, publisher: Publisher, ping: InboundPingIn) -> InboundPingAnswer:
    """Ask the tree's buyers for bids and offer the publisher the best one's payout."""
    catalog = rt.catalog  # one configuration for the whole ping, though a new one loads
    vertical, _route, tree = route_for(catalog, publisher, ping.vertical)
    names = vertical.canonical_names  # a PII field sent under an alias is PII all the same
    pii_sent = sorted(n for n in ping.fields if names.get(n, n) in vertical.pii_fields)
    if pii_sent:
        raise refuse(
            422, "pii_in_ping", f"a ping carries no PII; send {', '.join(pii_sent)} in the post"
        )
    non_pii = frozenset(spec.name for spec in vertical.fields if not spec.pii)
    fields, errors = validate_fields(
        vertical, ping.fields, only=non_pii, received_at=rt.clock.now()
    )
    if errors:
        raise invalid_fields(errors)

    ping_id = str(uuid.uuid4())
    offer = LeadOffer(ping_id, vertical.name, publisher.name, fields, ping.test)
    bids, record = await rt.router.collect_bids(offer, tree, catalog)
    now = rt.clock.now()
    expires_at = now + timedelta(seconds=rt.settings.inbound_ping_ttl_s)
    reservation: str | None = None
    winner_at: int | None = None
    for at, (_, bid) in enumerate(bids):
        if ping.test:
            winner_at = at
            break
        # Hold the winner's cap room until the ping expires, so the price can be honoured.
        reservation = await rt.ledger.reserve(
            catalog.campaign(bid.campaign),
            lead_id=ping_id,
            price=bid.price,
            at=now,
            hold_s=rt.settings.inbound_ping_ttl_s,
        )
        if reservation is not None:
            winner_at = at
            break
    if winner_at is None:
        return InboundPingAnswer(
            ping_id=None,
            status="no_bid",
            reasons=[Reason(code="no_bid", message="no buyer bid on this lead now")],
        )
    # The winner, then every lower bid: if the winner turns the full lead down, it cascades.
    standing = bids[winner_at:]
    winner = standing[0]
    payout = publisher.payout_for(vertical.name).for_sale(winner[1].price)
    async with rt.sessions() as session, session.begin():
        session.add(
            InboundPing(
                id=ping_id,
                publisher=publisher.name,
                vertical=vertical.name,
                fields=fields,
                bids=[{"tier": t, **_bid_json(b)} for t, b in standing],
                price=winner[1].price,
                payout=payout,
                reservation_id=reservation,
                status=OPEN,
                test=ping.test,
                created_at=now,
                expires_at=expires_at,
                ping_record=PingRecord(attempts=record.attempts, skips=record.skips).to_json(),
            )
        )
    return InboundPingAnswer(ping_id=ping_id, status="bid", payout=payout, expires_at=expires_at)


def _composed(stored: Any) -> Any:
    """A stored attempt as an Attempt holds it: a ping stored flat (before an Attempt held
    its Answer, and the Answer its Reading) is read into that shape."""
    if not isinstance(stored, dict) or "answer" in stored:
        return stored
    response = stored.get("response") or {}
    return {
        "campaign": stored.get("campaign"),
        "buyer": stored.get("buyer"),
        "kind": stored.get("kind"),
        "started_at": stored.get("started_at"),
        "tier": stored.get("tier"),
        "bid_price": stored.get("bid_price"),
        "answer": {
            "reading": {
                "outcome": stored.get("outcome"),
                "price": stored.get("answer_price"),
                "reference": stored.get("reference"),
                "reason": stored.get("reason"),
                "redirect_url": stored.get("redirect_url"),
                "answered_price": response.get("invalid_price"),
                "captured": response.get("captured") or {},
            },
            "duration_ms": stored.get("duration_ms"),
            "request": stored.get("request") or {},
            "response": response,
        },
    }


@dataclass
class PingRecord:
    """The buyer pings made for an inbound ping, kept with it until its lead is stored."""

    attempts: list[Annotated[Attempt, BeforeValidator(_composed)]] = field(default_factory=list)
    skips: list[Skip] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The record as stored in the ping's row."""
        return _PING_RECORD.dump_python(self, mode="json")  # type: ignore[no-any-return]

    @classmethod
    def of(cls, stored: dict[str, Any] | None) -> PingRecord:
        """The record of a stored ping (empty for a ping stored before it was kept)."""
        return cls() if stored is None else _PING_RECORD.validate_python(stored)


_PING_RECORD = TypeAdapter(PingRecord)


async def _claim_and_store(
    conn: AsyncConnection, ping_id: str, lead: LeadRecord, pinged: PingRecord
) -> None:
    """Mark the ping posted (only one post can) and store its lead with its consent and the
    pings made for it, in one transaction."""
    claimed = await conn.execute(
        update(InboundPing)
        .where(InboundPing.id == ping_id, InboundPing.status == OPEN)
        .values(status=POSTED, lead_id=ping_id)
    )
    if claimed.rowcount != 1:
        raise refuse(409, "ping_used", "this ping id was already posted")
    await repository.insert_lead(conn, lead)
    await store_consent(conn, lead)
    await repository.insert_attempts(conn, lead, pinged.attempts)
    await audit.append(conn, trail.pinged(lead.id, pinged.attempts, lead.received_at))


def _payout_for(
    publisher: Publisher, promised: Decimal, revenue: Decimal, *, sold: bool
) -> tuple[Decimal, list[Reason]]:
    """What the publisher is paid for a posted ping, and why if not the payout promised.

    The winner's price sets the payout promised at the ping. When the winner turns the full
    lead down and a lower bid buys it, the payout follows what the lead really sold for
    (never more than promised), so a cascade never pays out more than it earns.
    """
    if not sold:
        return Decimal(0), [
            Reason(code="no_buyer_accepted", message="the bidders declined the full lead")
        ]
    earned = publisher.payout.for_revenue(revenue)
    if earned >= promised:
        return promised, []
    return earned, [
        Reason(
            code="sold_below_offer",
            message=f"the winning bid declined; sold to a lower bid, payout {earned} "
            f"instead of {promised}",
        )
    ]


def _buyer_of(catalog: Catalog, campaign: str) -> str | None:
    """A bid's buyer; None once its campaign left the configuration (routing skips it)."""
    compiled = catalog.campaigns.get(campaign)
    return compiled.campaign.buyer if compiled is not None else None


def _bid_json(bid: Bid) -> dict[str, Any]:
    return {**asdict(bid), "price": str(bid.price)}


async def take_post(rt: Runtime, publisher: Publisher, post: InboundPostIn) -> LeadAnswer:
    """Complete a ping with the full lead: sell it to the held bid, honouring the price."""
    now = rt.clock.now()
    async with rt.sessions() as session:
        ping = await session.get(InboundPing, post.ping_id)
    if ping is None or ping.publisher != publisher.name:
        raise refuse(404, "unknown_ping", f"no ping {post.ping_id!r} from this publisher")
    if ping.status != OPEN:
        raise refuse(409, "ping_used", "this ping id was already posted")
    if ping.expires_at <= now:
        raise refuse(410, "ping_expired", f"this ping expired at {ping.expires_at.isoformat()}")
    vertical, _route, tree = route_for(rt.catalog, publisher, ping.vertical)
    # Derived fields are those the bids were made on: computed as of the ping.
    fields, errors = validate_fields(vertical, post.fields, received_at=ping.created_at)
    consent, refusals = check_consent(
        post.consent, rt.catalog.consent(publisher.name, vertical.name), received_at=now
    )
    if errors or refusals:
        raise invalid_fields(errors, refusals)
    changed = [
        spec.name
        for spec in vertical.fields
        if not spec.pii
        and spec.derived is None
        and fields.get(spec.name) != ping.fields.get(spec.name)
    ]
    if changed:
        raise refuse(
            422, "post_differs_from_ping", f"fields differ from the ping: {', '.join(changed)}"
        )
    lead = LeadRecord(
        id=ping.id,
        publisher=publisher.name,
        vertical=vertical.name,
        fields=fields,
        test=ping.test,
        received_at=now,
        inbound_ping_id=ping.id,
        consent=certified(consent, ping.id, now),
    )
    bids = [
        (b["tier"], Bid(b["campaign"], Decimal(b["price"]), b.get("reference"))) for b in ping.bids
    ]
    reservation, promised = ping.reservation_id, ping.payout
    pinged = PingRecord.of(ping.ping_record)
    policy = rt.catalog.screening(publisher.name, vertical.name)
    try:
        async with rt.engine.begin() as conn:
            await _claim_and_store(conn, ping.id, lead, pinged)
            checked = await screen_stored(conn, lead, policy, buyers=rt.catalog.buyers)
    except screening.DuplicatePerson as duplicate:
        async with rt.engine.begin() as conn:
            await _claim_and_store(conn, ping.id, lead, pinged)
            await repository.index_people(conn, lead.id, duplicate.screening.person_hashes)
        checked = duplicate.screening
    lead.risk_score, lead.screening = checked.score, checked.record()
    blocked = checked.blocked_buyers
    if checked.verdict is not Verdict.ACCEPT or (
        bids and _buyer_of(rt.catalog, bids[0][1].campaign) in blocked
    ):
        if reservation is not None:
            await rt.ledger.release(reservation)
        reservation = None
    if checked.verdict is not Verdict.ACCEPT:
        return (await hold_or_reject(rt, lead, publisher, checked, None))[1]
    bids = [b for b in bids if _buyer_of(rt.catalog, b[1].campaign) not in blocked]

    reference, consented_buyers = consent_terms(rt, lead.consent)
    offer = LeadOffer(
        lead.id,
        vertical.name,
        publisher.name,
        fields,
        lead.test,
        tuple(checked.person_hashes),
        consent=reference,
        consented_buyers=consented_buyers,
    )
    result = await rt.router.sell_to_bids(offer, tree, rt.catalog, bids, held=reservation)
    result.skips[:0] = pinged.skips
    payout, reasons = _payout_for(publisher, promised, result.revenue, sold=bool(result.sales))
    _status, answer = await finish(
        rt,
        lead,
        publisher,
        tree,
        result,
        reasons,
        None,
        payout=payout,
        people=checked.person_hashes,
    )
    return answer
