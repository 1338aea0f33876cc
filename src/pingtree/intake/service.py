"""A lead's way in, written out in one place: check, store, route, record, answer.

intake -> screening -> eligibility -> routing (flows) -> delivery -> sale/caps -> recording
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from pingtree import audit
from pingtree.clock import Deadline
from pingtree.consent import repository as consent_repository
from pingtree.consent.check import check_consent
from pingtree.consent.model import Certificate, ConsentIn
from pingtree.failures import log_failure
from pingtree.intake import idempotency
from pingtree.intake.errors import IntakeRefused, refuse
from pingtree.leads import repository, trail
from pingtree.leads.repository import LeadRecord
from pingtree.leads.schemas import LeadAnswer, LeadIn, LeadStatus, Reason
from pingtree.logs import for_lead
from pingtree.publishers.model import Publisher, hash_api_key
from pingtree.routing.model import ConsentReference, LeadOffer, Route, RoutingResult, Tree
from pingtree.screening import repository as screening_repository
from pingtree.screening import service as screening
from pingtree.screening.model import ScreeningPolicy, Verdict
from pingtree.storage import direct
from pingtree.storage.db import retrying_through_outage
from pingtree.verticals.model import Vertical
from pingtree.verticals.validate import FieldError, validate_fields

if TYPE_CHECKING:
    from pingtree.buyers.model import Buyer
    from pingtree.config.catalog import Catalog
    from pingtree.routing.engine import Router
    from pingtree.runtime import Runtime  # the type only: runtime builds on intake

log = logging.getLogger("pingtree.intake")
ANSWER_MARGIN_MS = 15
"""The answer leaves this long before the lead's deadline, to reach the publisher in time."""


def publisher_for_key(catalog: Catalog, api_key: str | None) -> Publisher:
    """The active publisher that owns an API key."""
    if not api_key:
        raise refuse(401, "missing_api_key", "send your publisher API key in X-API-Key")
    publisher = catalog.publishers_by_key.get(hash_api_key(api_key))
    if publisher is None:
        raise refuse(401, "invalid_api_key", "this API key belongs to no publisher")
    if not publisher.active:
        raise refuse(403, "publisher_inactive", f"publisher {publisher.name!r} is paused")
    return publisher


def vertical_for(catalog: Catalog, publisher: Publisher, vertical_name: str) -> Vertical:
    """The vertical a lead names, if the publisher may send it."""
    vertical = catalog.verticals.get(vertical_name)
    if vertical is None:
        known = ", ".join(sorted(catalog.verticals)) or "none"
        raise refuse(
            422, "unknown_vertical", f"no vertical {vertical_name!r} (known: {known})", "vertical"
        )
    if catalog.route(publisher.name, vertical.name) is None and not any(
        key[:2] == (publisher.name, vertical.name) for key in catalog.routes
    ):
        raise refuse(
            422,
            "not_routed",
            f"publisher {publisher.name!r} has no route for vertical {vertical.name!r}",
            "vertical",
        )
    return vertical


def route_for(
    catalog: Catalog, publisher: Publisher, vertical_name: str, band: str | None = None
) -> tuple[Vertical, Route, Tree]:
    """The vertical, route and tree a publisher's lead (of a score band) goes to."""
    vertical = vertical_for(catalog, publisher, vertical_name)
    route = catalog.route(publisher.name, vertical.name, band)
    if route is None:
        raise refuse(
            422,
            "not_routed",
            f"publisher {publisher.name!r} has no route for {vertical.name!r} band {band!r}",
            "vertical",
        )
    return vertical, route, catalog.trees[route.tree]


def invalid_fields(errors: list[FieldError], consent: list[Reason] | None = None) -> IntakeRefused:
    """One 422 naming every bad field, and what is wrong with the consent."""
    return IntakeRefused(
        422,
        [
            Reason(code="invalid_field", field=e.field, message=f"{e.field} {e.message}")
            for e in errors
        ]
        + (consent or []),
    )


def certified(given: ConsentIn | None, lead_id: str, received_at: datetime) -> Certificate | None:
    """The certificate stored with a lead, from the consent it came with."""
    if given is None:
        return None
    return Certificate.of(given, id=str(uuid.uuid4()), lead_id=lead_id, received_at=received_at)


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
    vertical = vertical_for(rt.catalog, publisher, lead_in.vertical)
    received_at = rt.clock.now()
    fields, errors = validate_fields(vertical, lead_in.fields, received_at=received_at)
    consent, refusals = check_consent(
        lead_in.consent, rt.catalog.consent(publisher.name, vertical.name), received_at=received_at
    )
    if errors or refusals:
        raise invalid_fields(errors, refusals)
    tree_s = _shortest_tree_s(rt.catalog, publisher, vertical)
    lag = rt.lateness()
    admit(rt, tree_s, lag)
    # A request waits for a late loop before it is read: its time counts from its arrival.
    started -= lag

    lead_id = str(uuid.uuid4())
    lead = LeadRecord(
        id=lead_id,
        publisher=publisher.name,
        vertical=vertical.name,
        fields=fields,
        test=lead_in.test,
        received_at=received_at,
        consent=certified(consent, lead_id, received_at),
    )
    # Only a lead sent with an Idempotency-Key is compared with an earlier body.
    body_hash = (
        "" if idempotency_key is None else idempotency.fingerprint(lead_in.model_dump(mode="json"))
    )
    policy = rt.catalog.screening(publisher.name, vertical.name)
    with for_lead(lead.id), rt.in_flight.holding(lead.id):
        storing = asyncio.ensure_future(
            store_and_screen(rt, lead, publisher, idempotency_key, body_hash, policy)
        )
        store_by = Deadline.after_ms(rt.clock, tree_s * 1000, start=started)
        try:
            checked = await asyncio.wait_for(
                asyncio.shield(storing),
                max(store_by.earlier_ms(ANSWER_MARGIN_MS).left_s(rt.clock), 0.0),
            )
        except TimeoutError:
            # Answered now rather than late; once stored, the lead is settled unsold.
            late = _settle_stored_late(rt, storing, lead, publisher, idempotency_key)
            rt.in_flight.record(lead.id, late)
            rt.figures.shed_lead("stored_late")
            raise IntakeRefused(503, [STORED_LATE], headers={"Retry-After": "1"}) from None
        if checked is None:  # the Idempotency-Key was taken: answer what the first request got
            assert idempotency_key is not None
            return await idempotency.first_answer(
                rt.sessions,
                publisher.name,
                idempotency_key,
                body_hash,
                rt.settings.idempotency_wait_s,
            )
        lead.risk_score, lead.screening = checked.score, checked.record()
        if checked.verdict is not Verdict.ACCEPT:
            return await hold_or_reject(rt, lead, publisher, checked, idempotency_key)
        return await route_lead(rt, lead, publisher, checked, idempotency_key, started=started)


STORED_LATE = Reason(
    code="busy", message="the lead could not be stored within its time; it was not sold, retry"
)
"""A lead stored after its publisher was answered 503 ends unsold with this reason."""


def _shortest_tree_s(catalog: Catalog, publisher: Publisher, vertical: Vertical) -> float:
    """The shortest maximum processing time of the trees this lead may be routed to."""
    trees = [
        catalog.trees[route.tree].max_processing_ms
        for (pub, vert, _band), route in catalog.routes.items()
        if (pub, vert) == (publisher.name, vertical.name)
    ]
    return min(trees, default=0) / 1000


async def _settle_stored_late(
    rt: Runtime,
    storing: asyncio.Future[screening.Screening | None],
    lead: LeadRecord,
    publisher: Publisher,
    idempotency_key: str | None,
) -> None:
    """A lead stored after its publisher was answered 503: it ends unsold (or rejected by
    screening), never routed. The publisher was told to retry: the lead gives up its
    Idempotency-Key and its claim on the person first, so the retry, with the key or
    without, is taken as a new lead (not answered this one's `busy`, not its duplicate)."""
    try:
        checked = await storing
    except Exception:
        return  # never stored: nothing to settle
    if checked is None:
        return  # its Idempotency-Key belonged to an earlier request
    lead.risk_score, lead.screening = checked.score, checked.record()
    try:
        async with rt.engine.begin() as conn:  # rare: no pipeline
            if idempotency_key is not None:
                await idempotency.release(conn, publisher.name, idempotency_key, lead.id)
            await screening_repository.release_person(
                conn, lead.id, claimed=(lead.vertical, checked.claimed)
            )
    except Exception as exc:  # settled all the same; a retry may then meet this lead's answer
        log_failure(log, "lead %s could not give up its key and person", exc, lead.id)
    if checked.verdict is Verdict.REJECT:
        await hold_or_reject(rt, lead, publisher, checked, None)
        return
    # One screening would hold for review ends unsold too: its retry is screened again.
    await finish(rt, lead, publisher, None, RoutingResult(), [STORED_LATE], None)


def admit(rt: Runtime, tree_s: float, lag: float | None = None) -> None:
    """Refuse a lead, before it is stored, when this process could not answer it in time:
    too many leads in flight, or an event loop running too late for the lead's tree.

    At saturation a lead answered at once (503, retry shortly) beats one answered late.
    lag: the loop's lag as read on arrival (read now when not given).
    """
    limit = rt.settings.max_leads_in_flight
    if limit and len(rt.in_flight) >= limit:
        rt.figures.shed_lead("in_flight")
        raise IntakeRefused(
            503,
            [Reason(code="busy", message=f"{limit} leads are being routed; retry shortly")],
            headers={"Retry-After": "1"},
        )
    share = rt.settings.max_loop_lag_share
    if lag is None:
        lag = rt.lateness()
    if share and tree_s and lag > share * tree_s:
        rt.figures.shed_lead("loop_lag")
        raise IntakeRefused(
            503,
            [Reason(code="busy", message="this server is saturated; retry shortly")],
            headers={"Retry-After": "1"},
        )


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
    consent, consented_buyers = consent_terms(rt, lead.consent)
    offer = LeadOffer(
        lead_id=lead.id,
        vertical=lead.vertical,
        publisher=publisher.name,
        fields=lead.fields,
        test=lead.test,
        people=tuple(checked.person_hashes),
        consent=consent,
        consented_buyers=consented_buyers,
    )
    # Routing stops a little before the lead's deadline, so recording fits inside it (its
    # timers are set as much earlier as the loop runs late: Router's lateness).
    limit = Deadline.after_ms(rt.clock, tree.max_processing_ms, start=started)
    answer_by = limit.earlier_ms(ANSWER_MARGIN_MS)
    deadline = limit.earlier_ms(rt.settings.recording_reserve_ms)
    with rt.in_flight.holding(lead.id):
        result, reasons = await routed(
            rt, rt.router, offer, tree, deadline=deadline, blocked_buyers=checked.blocked_buyers
        )
        return await finish(
            rt,
            lead,
            publisher,
            tree,
            result,
            reasons,
            idempotency_key,
            people=checked.person_hashes,
            answer_by=answer_by,
        )


async def routed(
    rt: Runtime,
    router: Router,
    offer: LeadOffer,
    tree: Tree,
    *,
    deadline: Deadline | None = None,
    blocked_buyers: Mapping[str, str] | None = None,
) -> tuple[RoutingResult, list[Reason]]:
    """The lead through its tree, and why it did not sell (if it did not).

    A lead is never lost to a bug: a routing that fails is answered unsold and kept.
    """
    try:
        result = await router.route(
            offer, tree, rt.catalog, deadline=deadline, blocked_buyers=blocked_buyers
        )
    except Exception as exc:
        log_failure(log, "routing failed for lead %s", exc, offer.lead_id)
        # Whatever claims it took are not known: any buyer's is given back.
        result = RoutingResult(claimed=list(rt.catalog.buyers))
        return result, [Reason(code="internal_error", message="routing failed; the lead is kept")]
    return result, unsold_reasons(result)


def consent_terms(
    rt: Runtime, consent: Certificate | None
) -> tuple[ConsentReference | None, frozenset[str] | None]:
    """The lead's consent as routing takes it: the reference each post hands the buyer (a
    signed link to the certificate), and the only buyers its sellers name (None: any)."""
    if consent is None:
        return None, None
    link = rt.consent_links.link(consent.id, rt.clock.now()) if rt.consent_links else None
    reference = ConsentReference(
        consent.id,
        consent.sha256,
        url=link.url if link else None,
        expires_at=link.expires_at if link else None,
    )
    named = rt.catalog.sellers.buyers_named(consent.sellers) if consent.sellers else None
    return reference, named


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
        events = [] if lead.audited else trail.taken(lead)
        await audit.append(conn, [*events, trail.answered(lead.id, answer, rt.clock.now())])
        if idempotency_key is not None:
            await idempotency.store_answer(conn, publisher.name, idempotency_key, 200, answer)
    rt.figures.lead_answered(status)
    log.debug("lead %s answered %s by screening", lead.id, status.value)
    return 200, answer


async def store_and_screen(
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
            # On PostgreSQL the statements go without waiting for each answer (the screening
            # lookups' and the commit's are the round trips the store waits for).
            async with direct.transaction(rt.engine) as conn:
                await repository.insert_lead(conn, lead)
                await store_consent(conn, lead)
                if key is not None:
                    await idempotency.claim(conn, publisher.name, key, lead.id, body_hash, rt.clock)
                return await screen_stored(conn, lead, policy, buyers=rt.catalog.buyers)
        except screening.DuplicatePerson as duplicate:
            # Rolled back, claim attempt and all: store the lead again, to be answered rejected.
            async with direct.transaction(rt.engine) as conn:
                await repository.insert_lead(conn, lead)
                await store_consent(conn, lead)
                if key is not None:
                    await idempotency.claim(conn, publisher.name, key, lead.id, body_hash, rt.clock)
                await repository.index_people(conn, lead.id, duplicate.screening.person_hashes)
            return duplicate.screening
    except IntegrityError as exc:
        if key is not None and idempotency.is_key_conflict(exc):
            return None
        raise


async def store_consent(conn: AsyncConnection, lead: LeadRecord) -> None:
    """Store the lead's consent certificate with it (in the transaction that stores it)."""
    if lead.consent is not None:
        await consent_repository.store(conn, lead.consent, now=lead.received_at)


async def screen_stored(
    conn: AsyncConnection,
    lead: LeadRecord,
    policy: ScreeningPolicy | None,
    *,
    buyers: dict[str, Buyer],
) -> screening.Screening:
    """Screen a lead in the transaction that stores it (raises DuplicatePerson); buyers: the
    buyers in force, whose dedup windows the person may be blocked by."""
    checked = await screening.screen(
        conn,
        policy=policy,
        buyers=buyers,
        lead_id=lead.id,
        publisher=lead.publisher,
        vertical=lead.vertical,
        fields=lead.fields,
        now=lead.received_at,
        test=lead.test,
        call=lead.call,
    )
    # Indexed with the lead (a duplicate, rolled back, is indexed where it is stored again).
    await repository.index_people(conn, lead.id, checked.person_hashes)
    return checked


class _AlreadySettled(Exception):
    """The lead was recorded or settled by recovery already: this record changes nothing."""


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
    answer_by: Deadline | None = None,
    kept: Mapping[str, Decimal] | None = None,
) -> tuple[int, LeadAnswer]:
    """Record what routing did in one transaction (cap holds settled with it); the answer.

    kept: holds that count against caps with no sale, at these prices (a call campaign
    whose caps count dials keeps the room of a dial that did not convert, at 0).

    A sale has happened at the buyer: its record must land. It is retried through deadlocks
    and, for record_retry_s, through a database outage. answer_by: answer then
    even if the record is still being written; it lands in the background.
    """
    rule = publisher.payout_for(lead.vertical)
    payouts = None  # a payout given (an inbound ping's promise) is spread over the sales
    if payout is None:
        payouts = rule.for_sales([sale.price for sale in result.sales])
        payout = sum(payouts, Decimal(0))
    now = rt.clock.now()
    sold = {s.reservation_id: s.price for s in result.sales if s.reservation_id}
    released = result.released
    if kept:
        sold.update(kept)
        released = [hold for hold in released if hold not in kept]
    answer = repository.routing_answer(lead, result, payout=payout, reasons=reasons)

    async def record() -> None:
        # Its statements go to PostgreSQL without waiting for each answer (direct.pipeline):
        # the holds' settle (with the outcome's row count) and the commit's are the round
        # trips it waits for.
        async with direct.transaction(rt.engine) as conn:
            recorded = await repository.record_routing(
                conn,
                lead,
                result,
                payout=payout,
                tree=tree.name if tree else None,
                now=now,
                reasons=reasons,
                payouts=payouts,
                payout_rule=rule.record(),
                answer=answer,
            )
            tree_name = tree.name if tree else None
            events = trail.routed(lead, result, recorded.answer, tree=tree_name, now=now)
            await audit.append(conn, events if lead.audited else trail.taken(lead) + events)
            await rt.ledger.settle(conn, sold=sold, released=released)
            # On PostgreSQL the outcome's row count came back with the settle's answer.
            if not await recorded.landed():
                raise _AlreadySettled
            # A buyer whose claim routing took has its purchase row already (kept below).
            unclaimed = [sale.buyer for sale in result.sales if sale.buyer not in result.claimed]
            if people and unclaimed and not lead.test:
                await screening_repository.record_purchases(
                    conn,
                    buyers=unclaimed,
                    hashes=people,
                    lead_id=lead.id,
                    now=now,
                )
            bought = [sale.buyer for sale in result.sales]
            if people and set(result.claimed) - set(bought):  # claims for buyers that did not buy
                await screening_repository.release_unbought(
                    conn, hashes=people, lead_id=lead.id, bought=bought
                )
            if idempotency_key is not None:
                await idempotency.store_answer(conn, publisher.name, idempotency_key, 200, answer)
        lead.event_place = await recorded.event_place()

    async def record_until_written() -> None:
        try:
            await retrying_through_outage(
                record, within_s=rt.settings.record_retry_s, what=f"lead {lead.id}"
            )
            if not lead.test:
                rt.books.sold(result.sales, lead.event_place)
            log.debug("record written")  # lead_id: the task carries the lead's context
        except _AlreadySettled:
            log.error("lead %s was settled by recovery before its record landed", lead.id)

    writing = rt.in_flight.record(lead.id, record_until_written())
    # The timer fires as late as the loop runs: set it that much earlier. With no time
    # left, the answer leaves now (not one loop turn later).
    wait = None if answer_by is None else answer_by.left_s(rt.clock, lateness_s=rt.lateness())
    try:
        if wait is not None and wait <= 0 and not writing.done():
            raise TimeoutError
        await asyncio.wait_for(asyncio.shield(writing), wait)
    except TimeoutError:
        # Answer in time; the record lands in the background (or recovery settles the lead).
        log.warning("lead %s answered before its record was written", lead.id)
    rt.figures.lead_answered(answer.status, result)
    if log.isEnabledFor(logging.DEBUG):
        for attempt in result.attempts:
            log.debug(
                "%s to campaign %s: %s in %.0f ms",
                attempt.kind,
                attempt.campaign,
                attempt.answer.reading.outcome.value,
                attempt.answer.duration_ms,
            )
    if (
        answer_by is not None
        and tree is not None
        and answer_by.passed(rt.clock, grace_ms=ANSWER_MARGIN_MS)
    ):
        rt.figures.missed_deadline(tree.name)
        log.warning("lead %s answered after its tree's %d ms", lead.id, tree.max_processing_ms)
    log.debug("lead %s answered %s", lead.id, answer.status.value)
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
