"""A call's whole path, written out in one place (intake/service.py is a form lead's):

provider webhook -> tracking number -> IVR questions -> the call becomes a lead (caller's
number, answers, the caller's earlier form) -> screening -> the same tree engine (pings;
the post is a dial: calls.gateway) -> the record (sale when the call converted) -> the
call's last step (hang up, or the unsold message).

Each webhook answers the provider with the call's next step (TwiML: calls.control). The
routing runs as one task per call; a webhook that finds no step ready within
call_webhook_wait_s puts the caller on hold and asks again.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import select

from pingtree.calls import control, matching
from pingtree.calls import repository as calls_repository
from pingtree.calls.repository import CallRecord, CallStatus
from pingtree.calls.sessions import CallSession, Dialed
from pingtree.failures import log_failure
from pingtree.identity import normalize_phone
from pingtree.intake.service import finish, hold_or_reject, routed, store_and_screen
from pingtree.leads.repository import LeadRecord
from pingtree.leads.schemas import Reason
from pingtree.logs import for_lead
from pingtree.routing.model import LeadOffer, RoutingResult
from pingtree.screening.model import Verdict
from pingtree.storage.tables import CapReservation
from pingtree.verticals.validate import validate_fields

if TYPE_CHECKING:
    from pingtree.publishers.model import Publisher
    from pingtree.routing.model import Tree
    from pingtree.runtime import Runtime
    from pingtree.verticals.model import Vertical

log = logging.getLogger("pingtree.calls")

NOT_IN_SERVICE = "The number you have called is not in service."
CALLS_OFF = "This line takes no calls now."
LOST = "Sorry, we lost track of your call. Please call again."
MAX_KEYS = 40
"""Keys kept of one IVR answer (a Gather reads a few; anything longer is noise)."""


# --- a call comes in ------------------------------------------------------------------------


async def incoming(
    rt: Runtime, *, call_id: str, caller: str, number: str, test: bool = False
) -> str:
    """A provider's voice webhook for a new call: the first step (IVR or routing)."""
    now = rt.clock.now()
    tracking = normalize_phone(number) or number
    found = rt.catalog.numbers.get(tracking)
    if found is None:
        log.warning("call %s to %s: no publisher has this tracking number", call_id, number)
        return control.refuse(NOT_IN_SERVICE)
    publisher, vertical, _ = found
    intake = vertical.calls
    if intake is None or not publisher.active:
        return control.refuse(CALLS_OFF)
    call = CallRecord(
        id=call_id,
        publisher=publisher.name,
        vertical=vertical.name,
        tracking_number=tracking,
        caller=normalize_phone(caller) or caller[:32],
        status=CallStatus.IVR if intake.ivr else CallStatus.ROUTING,
        started_at=now,
        test=test,
    )
    async with rt.engine.begin() as conn:
        new = await calls_repository.open_call(conn, call)
        if new:
            await calls_repository.add_event(
                conn, call_id, "incoming", now, caller=call.caller, number=tracking
            )
    if not new:  # the provider sent the same call again: it goes on where it is
        return await next_step(rt, call_id)
    if intake.ivr:
        return control.ask(
            intake.ivr[0], action=control.URLS.ivr(call_id, 0), greeting=intake.greeting
        )
    return await _start_routing(rt, call)


async def ivr_answer(rt: Runtime, call_id: str, index: int, digits: str | None) -> str:
    """The keys pressed for IVR question `index` (None: none): the next question, or routing."""
    async with rt.engine.connect() as conn:
        call = await calls_repository.get_call(conn, call_id)
    vertical = rt.catalog.verticals.get(call.vertical) if call else None
    if call is None or vertical is None or vertical.calls is None:
        return control.refuse(LOST)
    if call.status != CallStatus.IVR:  # answered already: the provider asked twice
        if call.status == CallStatus.ROUTING:
            return await next_step(rt, call_id)
        return control.goodbye(None)
    questions = vertical.calls.ivr
    if index >= len(questions):
        return control.refuse(LOST)
    question = questions[index]
    keys = (digits or "").strip().rstrip("#")[:MAX_KEYS]
    value = question.choices.get(keys) if question.choices is not None else keys or None
    answers = dict(call.answers)
    if value is not None:
        answers[question.field] = value
    last = index + 1 >= len(questions)
    async with rt.engine.begin() as conn:
        await calls_repository.update_call(
            conn,
            call_id,
            answers=answers,
            status=CallStatus.ROUTING if last else CallStatus.IVR,
        )
        await calls_repository.add_event(
            conn, call_id, "ivr", rt.clock.now(), field=question.field, keys=keys, value=value
        )
    if not last:
        return control.ask(questions[index + 1], action=control.URLS.ivr(call_id, index + 1))
    call.answers, call.status = answers, CallStatus.ROUTING
    return await _start_routing(rt, call)


async def _start_routing(rt: Runtime, call: CallRecord) -> str:
    session = rt.call_sessions.open(CallSession(call.id, call.caller, call.tracking_number))
    if session.routing is None:
        session.routing = asyncio.create_task(_route_call(rt, call, session))
    return await next_step(rt, call.id)


async def next_step(rt: Runtime, call_id: str) -> str:
    """What the call does next: the routing's next step, or hold on and ask again."""
    session = rt.call_sessions.get(call_id)
    if session is None:
        async with rt.engine.connect() as conn:
            call = await calls_repository.get_call(conn, call_id)
        if call is not None and call.status in calls_repository.FINAL:
            return control.goodbye(None)
        log.error("call %s: its webhook reached a process that is not routing it", call_id)
        return control.refuse(LOST)
    step = await session.next_step(rt.settings.call_webhook_wait_s)
    if step is None:
        message = None if session.held else _hold_message(rt, session)
        session.held = True
        return control.hold(message, next_url=control.URLS.next(call_id))
    if session.finished and session.steps_left == 0:
        rt.call_sessions.close(call_id)
    return step


def _hold_message(rt: Runtime, session: CallSession) -> str | None:
    if session.vertical is None:
        return None
    vertical = rt.catalog.verticals.get(session.vertical)
    return vertical.calls.hold_message if vertical and vertical.calls else None


# --- the dial's outcome and the provider's status callbacks ---------------------------------


async def dialed(
    rt: Runtime, call_id: str, campaign: str, *, status: str, seconds: int, call_status: str
) -> str:
    """A Dial's action webhook: how the dial went; the call's next step."""
    left = call_status in ("completed", "canceled", "failed", "busy", "no-answer")
    outcome = Dialed(status, connected_s=seconds, caller_left=left)
    await calls_repository.note(
        rt.engine,
        call_id,
        "dialed",
        rt.clock.now(),
        campaign=campaign,
        dial_status=status,
        connected_s=seconds,
        caller_left=left or None,
    )
    session = rt.call_sessions.get(call_id)
    if session is None:
        return await next_step(rt, call_id)
    if left:
        session.left.set()
    if not session.dialed(outcome):
        log.warning("call %s: a dial outcome nobody waited for (%s)", call_id, status)
    return await next_step(rt, call_id)


async def status_callback(
    rt: Runtime,
    call_id: str,
    *,
    status: str,
    duration_s: int | None,
    recording_url: str | None,
) -> None:
    """The provider's status callback: the call rang, was answered, or is over."""
    now = rt.clock.now()
    over = status in ("completed", "busy", "failed", "no-answer", "canceled")
    async with rt.engine.begin() as conn:
        call = await calls_repository.get_call(conn, call_id)
        if call is None:
            log.warning("status callback for unknown call %s", call_id)
            return
        await calls_repository.add_event(
            conn,
            call_id,
            "status",
            now,
            call_status=status,
            duration_s=duration_s,
            recording_url=recording_url,
        )
        if over:
            values: dict[str, object] = {"ended_at": now}
            if duration_s is not None:
                values["duration_s"] = duration_s
            if recording_url:
                values["recording_url"] = recording_url[:2000]
            if call.status == CallStatus.IVR:  # hung up before routing
                values["status"] = CallStatus.UNSOLD
            await calls_repository.update_call(conn, call_id, **values)
    if over:
        session = rt.call_sessions.get(call_id)
        if session is not None:
            session.hung_up()
            if session.finished:  # its last step will never be asked for
                rt.call_sessions.close(call_id)
        await rt.call_lines.give_back(call_id)  # a line a lost dial outcome left taken


# --- the routing --------------------------------------------------------------------------


async def _route_call(rt: Runtime, call: CallRecord, session: CallSession) -> None:
    """The call as a lead through its tree; its last step handed to the next webhook."""
    vertical = rt.catalog.verticals.get(call.vertical)
    publisher = rt.catalog.publishers.get(call.publisher)
    intake = vertical.calls if vertical is not None else None
    if publisher is None or vertical is None or intake is None:
        # Taken out of the configuration while the caller was in the IVR: turned away.
        await _end(rt, call.id, CallStatus.REFUSED, "not_routable")
        session.finish(control.refuse(CALLS_OFF))
        if session.left.is_set():
            rt.call_sessions.close(call.id)
        return
    session.vertical, session.caller_field = vertical.name, intake.caller_field
    unsold = control.goodbye(intake.unsold_message)
    try:
        connected = await _sell_call(rt, call, session, publisher, vertical)
    except Exception as exc:  # a call is never left hanging by a bug: it ends, recorded
        log_failure(log, "routing call %s failed", exc, call.id)
        connected = False
        await _end(rt, call.id, CallStatus.UNSOLD, "internal_error")
    session.finish(control.goodbye(None) if connected else unsold)
    if session.left.is_set():  # nobody will ask for the last step: the caller is gone
        rt.call_sessions.close(call.id)


async def _sell_call(
    rt: Runtime, call: CallRecord, session: CallSession, publisher: Publisher, vertical: Vertical
) -> bool:
    """True when the call was put through to a buyer (converted or not)."""
    intake = vertical.calls
    assert intake is not None
    now = rt.clock.now()
    async with rt.engine.connect() as conn:
        match = await matching.form_lead(conn, call.caller, now=now, days=intake.match_days)
    own = {intake.caller_field: call.caller, **call.answers}
    known = {spec.name for spec in vertical.fields}
    carried = {k: v for k, v in matching.carried_fields(match, own).items() if k in known}
    fields, errors = validate_fields(vertical, carried, only=frozenset(own), received_at=now)
    if errors:  # a mistyped answer is left out, not the call: the caller is on the line
        bad = {e.field for e in errors}
        kept = {k: v for k, v in carried.items() if k not in bad}
        fields, errors = validate_fields(vertical, kept, only=frozenset(own) - bad, received_at=now)
        await calls_repository.note(
            rt.engine,
            call.id,
            "invalid",
            now,
            fields=sorted(bad),
            detail="; ".join(f"{e.field} {e.message}" for e in errors) or None,
        )
    if errors:
        bad_left = "; ".join(f"{e.field} {e.message}" for e in errors)
        await _end(rt, call.id, CallStatus.REFUSED, "invalid_field", detail=bad_left)
        return False
    lead = LeadRecord(
        id=str(uuid.uuid4()),
        publisher=publisher.name,
        vertical=vertical.name,
        fields=fields,
        test=call.test,
        received_at=now,
        call=True,
    )
    rt.call_sessions.bind(session, lead.id)
    async with rt.engine.begin() as conn:
        await calls_repository.update_call(
            conn, call.id, lead_id=lead.id, matched_lead_id=match.lead_id if match else None
        )
        if match is not None:
            await calls_repository.add_event(
                conn, call.id, "matched", now, lead_id=match.lead_id, vertical=match.vertical
            )
    policy = rt.catalog.screening(publisher.name, vertical.name)
    with for_lead(lead.id), rt.in_flight.holding(lead.id):
        checked = await store_and_screen(rt, lead, publisher, None, "", policy)
        assert checked is not None  # no idempotency key: never taken already
        if checked.verdict is Verdict.REVIEW:  # a caller on the line cannot wait for one
            checked.verdict = Verdict.REJECT
        lead.risk_score, lead.screening = checked.score, checked.record()
        if checked.verdict is not Verdict.ACCEPT:
            await hold_or_reject(rt, lead, publisher, checked, None)
            codes = ", ".join(r.code for r in checked.reasons) or checked.verdict.value
            await _end(rt, call.id, CallStatus.REFUSED, "screened", detail=codes)
            return False
        tree = _tree(rt, call, publisher, checked.band)
        if tree is None:
            reasons = [Reason(code="not_routed", message="no tree for this call")]
            await finish(rt, lead, publisher, None, RoutingResult(), reasons, None)
            await _end(rt, call.id, CallStatus.UNSOLD, "not_routed")
            return False
        offer = LeadOffer(
            lead_id=lead.id,
            vertical=vertical.name,
            publisher=publisher.name,
            fields=lead.fields,
            test=lead.test,
            people=tuple(checked.person_hashes),
            call=True,
            left=session.left,
        )
        session.instruct(control.hold(intake.hold_message, next_url=control.URLS.next(call.id)))
        session.held = True
        result, reasons = await routed(
            rt, rt.call_router, offer, tree, blocked_buyers=checked.blocked_buyers
        )
        kept = await _dials_kept(rt, lead.id, result)
        await finish(
            rt,
            lead,
            publisher,
            tree,
            result,
            reasons,
            None,
            people=checked.person_hashes,
            kept=kept,
        )
    sale = result.sales[0] if result.sales else None
    connected = session.connected is not None
    rt.figures.call_routed(
        CallStatus.COMPLETED if connected else CallStatus.UNSOLD, converted=sale is not None
    )
    async with rt.engine.begin() as conn:
        await calls_repository.update_call(
            conn,
            call.id,
            status=CallStatus.COMPLETED if connected else CallStatus.UNSOLD,
            campaign=session.connected,
            buyer=rt.catalog.campaign(session.connected).buyer
            if connected and session.connected in rt.catalog.campaigns
            else None,
            connected_s=session.connected_s,
            converted=sale is not None,
            price=sale.price if sale else None,
        )
        await calls_repository.add_event(
            conn,
            call.id,
            "routed",
            rt.clock.now(),
            sold_to=sale.campaign if sale else None,
            price=str(sale.price) if sale else None,
            reasons=[r.code for r in reasons] or None,
        )
    return connected


def _tree(rt: Runtime, call: CallRecord, publisher: Publisher, band: str | None) -> Tree | None:
    """The tracking number's own tree, else the publisher's route for the vertical."""
    found = rt.catalog.numbers.get(call.tracking_number)
    if found is not None and found[2].tree is not None:
        return rt.catalog.trees.get(found[2].tree)
    route = rt.catalog.route(publisher.name, call.vertical, band)
    return rt.catalog.trees.get(route.tree) if route is not None else None


async def _dials_kept(rt: Runtime, lead_id: str, result: RoutingResult) -> dict[str, Decimal]:
    """The holds of dials that did not convert for campaigns whose caps count dials: their
    room stays taken, at no price."""
    dialed = {
        a.campaign
        for a in result.attempts
        if a.kind == "post"
        and (campaign := rt.catalog.campaigns.get(a.campaign)) is not None
        and campaign.campaign.call is not None
        and campaign.campaign.call.caps_count == "dials"
        and a.answer.response.get("dial_status") is not None
    }
    if not dialed or not result.released:
        return {}
    holds = CapReservation.__table__
    async with rt.engine.connect() as conn:
        rows = await conn.execute(
            select(holds.c.id, holds.c.campaign).where(
                holds.c.id.in_(result.released), holds.c.lead_id == lead_id
            )
        )
        return {row.id: Decimal(0) for row in rows if row.campaign in dialed}


async def _end(
    rt: Runtime, call_id: str, status: str, reason: str, *, detail: str | None = None
) -> None:
    """The call ends before or without a sale: its row and timeline say why."""
    rt.figures.call_routed(status, converted=False)
    async with rt.engine.begin() as conn:
        await calls_repository.update_call(conn, call_id, status=status)
        await calls_repository.add_event(
            conn, call_id, "ended", rt.clock.now(), status=status, reason=reason, detail=detail
        )
