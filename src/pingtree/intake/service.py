"""A lead's way in, written out in one place: check, store, route, record, answer.

intake -> screening -> eligibility -> routing (flows) -> delivery -> sale/caps -> recording
"""

from __future__ import annotations

import logging
import uuid
from decimal import Decimal

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from pingtree.intake import idempotency
from pingtree.intake.errors import IntakeRefused, refuse
from pingtree.leads import repository
from pingtree.leads.repository import LeadRecord
from pingtree.leads.schemas import LeadAnswer, LeadIn, LeadStatus, Reason
from pingtree.publishers.model import Publisher, hash_api_key
from pingtree.routing.model import LeadOffer, Route, RoutingResult, Tree
from pingtree.runtime import Runtime
from pingtree.screening import repository as screening_repository
from pingtree.screening import service as screening
from pingtree.screening.model import ScreeningPolicy, Verdict
from pingtree.storage.db import retrying
from pingtree.verticals.model import Vertical
from pingtree.verticals.validate import FieldError, validate_fields

log = logging.getLogger("pingtree.intake")


def publisher_for_key(rt: Runtime, api_key: str | None) -> Publisher:
    """The active publisher that owns an API key."""
    if not api_key:
        raise refuse(401, "missing_api_key", "send your publisher API key in X-API-Key")
    publisher = rt.catalog.publishers_by_key.get(hash_api_key(api_key))
    if publisher is None:
        raise refuse(401, "invalid_api_key", "this API key belongs to no publisher")
    if not publisher.active:
        raise refuse(403, "publisher_inactive", f"publisher {publisher.name!r} is paused")
    return publisher


def vertical_for(rt: Runtime, publisher: Publisher, vertical_name: str) -> Vertical:
    """The vertical a lead names, if the publisher may send it."""
    vertical = rt.catalog.verticals.get(vertical_name)
    if vertical is None:
        known = ", ".join(sorted(rt.catalog.verticals)) or "none"
        raise refuse(
            422, "unknown_vertical", f"no vertical {vertical_name!r} (known: {known})", "vertical"
        )
    if rt.catalog.route(publisher.name, vertical.name) is None and not any(
        key[:2] == (publisher.name, vertical.name) for key in rt.catalog.routes
    ):
        raise refuse(
            422,
            "not_routed",
            f"publisher {publisher.name!r} has no route for vertical {vertical.name!r}",
            "vertical",
        )
    return vertical


def route_for(
    rt: Runtime, publisher: Publisher, vertical_name: str, band: str | None = None
) -> tuple[Vertical, Route, Tree]:
    """The vertical, route and tree a publisher's lead (of a score band) goes to."""
    vertical = vertical_for(rt, publisher, vertical_name)
    route = rt.catalog.route(publisher.name, vertical.name, band)
    if route is None:
        raise refuse(
            422,
            "not_routed",
            f"publisher {publisher.name!r} has no route for {vertical.name!r} band {band!r}",
            "vertical",
        )
    return vertical, route, rt.catalog.trees[route.tree]


def invalid_fields(errors: list[FieldError]) -> IntakeRefused:
    """One 422 naming every bad field."""
    return IntakeRefused(
        422,
        [
            Reason(code="invalid_field", field=e.field, message=f"{e.field} {e.message}")
            for e in errors
        ],
    )


async def take_lead(
    rt: Runtime,
    publisher: Publisher,
    lead_in: LeadIn,
    *,
    idempotency_key: str | None = None,
    started: float | None = None,
) -> tuple[int, LeadAnswer]:
    """Take a posted lead and answer within the tree's maximum processing time.

    started: when the request arrived (monotonic), so the deadline counts from then.
    """
    started = rt.clock.monotonic() if started is None else started
    vertical = vertical_for(rt, publisher, lead_in.vertical)
    received_at = rt.clock.now()
    fields, errors = validate_fields(vertical, lead_in.fields, received_at=received_at)
    if errors:
        raise invalid_fields(errors)

    lead = LeadRecord(
        id=str(uuid.uuid4()),
        publisher=publisher.name,
        vertical=vertical.name,
        fields=fields,
        test=lead_in.test,
        received_at=received_at,
    )
    body_hash = idempotency.fingerprint(lead_in.model_dump(mode="json"))
    policy = rt.catalog.screening(publisher.name, vertical.name)
    checked = await _store_and_screen(rt, lead, publisher, idempotency_key, body_hash, policy)
    if checked is None:  # the Idempotency-Key was taken: answer what the first request got
        assert idempotency_key is not None
        return await idempotency.first_answer(
            rt.sessions, publisher.name, idempotency_key, body_hash, rt.settings.idempotency_wait_s
        )
    lead.risk_score, lead.screening = checked.score, checked.record()
    if checked.verdict is not Verdict.ACCEPT:
        return await hold_or_reject(rt, lead, publisher, checked, idempotency_key)
    return await route_lead(rt, lead, publisher, checked, idempotency_key, started=started)


async def route_lead(
    rt: Runtime,
    lead: LeadRecord,
    publisher: Publisher,
    checked: screening.Screening,
    idempotency_key: str | None,
    *,
    started: float,
) -> tuple[int, LeadAnswer]:
    """Route a stored, screened lead through its tree and record what happened."""
    route = rt.catalog.route(publisher.name, lead.vertical, checked.band)
    if route is None:
        reasons = [Reason(code="not_routed", message=f"no route for score band {checked.band!r}")]
        return await finish(rt, lead, publisher, None, RoutingResult(), reasons, idempotency_key)
    tree = rt.catalog.trees[route.tree]
    offer = LeadOffer(
        lead_id=lead.id,
        vertical=lead.vertical,
        publisher=publisher.name,
        fields=lead.fields,
        test=lead.test,
        people=tuple(checked.person_hashes),
    )
    # Routing stops a little before the lead's deadline, so recording fits inside it.
    deadline = started + (tree.max_processing_ms - rt.settings.recording_reserve_ms) / 1000
    try:
        result = await rt.router.route(
            offer, tree, rt.catalog, deadline=deadline, blocked_buyers=checked.blocked_buyers
        )
    except Exception:  # a lead is never lost to a bug: it is answered unsold and kept
        log.exception("routing failed for lead %s", lead.id)
        result = RoutingResult()
        reasons = [Reason(code="internal_error", message="routing failed; the lead is kept")]
    else:
        reasons = unsold_reasons(result)
    return await finish(
        rt, lead, publisher, tree, result, reasons, idempotency_key, people=checked.person_hashes
    )


async def hold_or_reject(
    rt: Runtime,
    lead: LeadRecord,
    publisher: Publisher,
    checked: screening.Screening,
    idempotency_key: str | None,
) -> tuple[int, LeadAnswer]:
    """A lead screening turned away (rejected) or flagged (held for manual review)."""
    status = LeadStatus.REJECTED if checked.verdict is Verdict.REJECT else LeadStatus.REVIEW
    answered = rt.clock.now() if status is LeadStatus.REJECTED else None
    answer = LeadAnswer(lead_id=lead.id, status=status, reasons=checked.reasons, test=lead.test)
    async with rt.engine.begin() as conn:
        await repository.set_screened(conn, lead, status, checked.reasons, answered)
        if idempotency_key is not None:
            await idempotency.store_answer(conn, publisher.name, idempotency_key, 200, answer)
    return 200, answer


async def _store_and_screen(
    rt: Runtime,
    lead: LeadRecord,
    publisher: Publisher,
    key: str | None,
    body_hash: str,
    policy: ScreeningPolicy | None,
) -> screening.Screening | None:
    """Store the lead (claiming its Idempotency-Key) and screen it on the same connection.

    None when the key was already taken. The lead is committed before anything is sent.
    """
    try:
        try:
            async with rt.engine.begin() as conn:
                await repository.insert_lead(conn, lead)
                if key is not None:
                    await idempotency.claim(conn, publisher.name, key, lead.id, body_hash, rt.clock)
                return await screen_stored(rt, conn, lead, policy)
        except screening.DuplicatePerson as duplicate:
            # Rolled back, claim attempt and all: store the lead again, to be answered rejected.
            async with rt.engine.begin() as conn:
                await repository.insert_lead(conn, lead)
                if key is not None:
                    await idempotency.claim(conn, publisher.name, key, lead.id, body_hash, rt.clock)
            return duplicate.screening
    except IntegrityError as exc:
        if key is not None and idempotency.is_key_conflict(exc):
            return None
        raise


async def screen_stored(
    rt: Runtime, conn: AsyncConnection, lead: LeadRecord, policy: ScreeningPolicy | None
) -> screening.Screening:
    """Screen a lead in the transaction that stores it (raises DuplicatePerson)."""
    return await screening.screen(
        conn,
        policy=policy,
        buyers=rt.catalog.buyers,
        lead_id=lead.id,
        publisher=lead.publisher,
        vertical=lead.vertical,
        fields=lead.fields,
        now=lead.received_at,
        test=lead.test,
    )


async def finish(
    rt: Runtime,
    lead: LeadRecord,
    publisher: Publisher,
    tree: Tree | None,
    result: RoutingResult,
    reasons: list[Reason],
    idempotency_key: str | None,
    *,
    payout: Decimal | None = None,
    people: list[str] | None = None,
) -> tuple[int, LeadAnswer]:
    """Record what routing did in one transaction (cap holds settled with it); the answer."""
    if payout is None:
        payout = publisher.payout.for_revenue(result.revenue)
    now = rt.clock.now()
    sold = [s.reservation_id for s in result.sales if s.reservation_id]

    async def record() -> LeadAnswer:
        async with rt.engine.begin() as conn:
            answer = await repository.record_routing(
                conn,
                lead,
                result,
                payout=payout,
                tree=tree.name if tree else None,
                now=now,
                reasons=reasons,
            )
            await rt.ledger.settle(conn, sold=sold, released=result.released)
            if people and result.sales and not lead.test:
                await screening_repository.record_purchases(
                    conn,
                    buyers=[sale.buyer for sale in result.sales],
                    hashes=people,
                    lead_id=lead.id,
                    now=now,
                )
            if people and not lead.test:  # claims routing took for buyers that did not buy
                bought = [sale.buyer for sale in result.sales]
                await screening_repository.release_unbought(
                    conn, hashes=people, lead_id=lead.id, bought=bought
                )
            if idempotency_key is not None:
                await idempotency.store_answer(conn, publisher.name, idempotency_key, 200, answer)
        return answer

    # A sale has happened at the buyer: its record must land, through a deadlock if need be.
    answer = await retrying(record)
    rt.ledger.settled([*sold, *result.released])
    return 200, answer


def unsold_reasons(result: RoutingResult) -> list[Reason]:
    """Why a lead did not sell, summarised for the publisher."""
    if result.sales:
        return []
    if result.timed_out:
        return [Reason(code="timeout", message="maximum processing time reached before a sale")]
    if not result.attempts:
        return [Reason(code="no_eligible_buyer", message="no campaign could take this lead now")]
    return [Reason(code="no_buyer_accepted", message="every eligible buyer declined or failed")]
