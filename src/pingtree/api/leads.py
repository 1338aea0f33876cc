"""Publisher endpoints: post a lead, ping and post in two steps, read a lead's outcome."""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request, Response
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from pingtree.api.deps import IntakePublisherDep, PublisherDep, RuntimeDep, arrival
from pingtree.api.ratelimits import take_intake
from pingtree.api.storable import StorableTextRoute, may_hold_unstorable
from pingtree.intake import inbound
from pingtree.intake.errors import IntakeRefused, refuse
from pingtree.intake.service import publisher_for_key, take_lead
from pingtree.leads import repository
from pingtree.leads.schemas import (
    InboundPingAnswer,
    InboundPingIn,
    InboundPostIn,
    LeadAnswer,
    LeadIn,
    PublisherLead,
    error_responses,
)
from pingtree.logs import for_lead
from pingtree.publishers.model import Publisher
from pingtree.runtime import Runtime

router = APIRouter(prefix="/api/v1", tags=["leads"], route_class=StorableTextRoute)


KEY_MAX = 255
"""The longest Idempotency-Key taken."""


class LeadRoute(StorableTextRoute):
    """POST /leads: a well-formed lead from a known publisher is taken without FastAPI's
    dependency solving (about 0.5 M of a lead's ~24 M instructions, bench/instructions.py).

    Only the request that would pass every check goes the short way: a JSON body with no
    escape to look into, that LeadIn takes, an active publisher's key and an Idempotency-Key
    that fits. Any other request goes FastAPI's way, unchanged, which answers it as before
    (its 401, 403 or 422 naming each bad field): the short way has done nothing by then.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        full = super().get_route_handler()

        async def handler(request: Request) -> Response:
            taken = await _well_formed(request)
            if taken is None:
                return await full(request)
            rt, publisher, lead, key = taken
            await take_intake(rt, publisher)
            return await answer_lead(request, rt, publisher, lead, key)

        return handler


async def _well_formed(request: Request) -> tuple[Runtime, Publisher, LeadIn, str | None] | None:
    """The runtime, publisher, lead and Idempotency-Key of a request FastAPI would pass to
    post_lead as they are; None when it would refuse it (or might: it then decides)."""
    headers = request.headers
    content_type = headers.get("content-type", "").partition(";")[0].strip().lower()
    if content_type != "application/json":
        return None  # none (refused), or another JSON type FastAPI's parser decides on
    key = headers.get("idempotency-key")
    if key is not None and len(key) > KEY_MAX:
        return None
    body = await request.body()
    if not body or may_hold_unstorable(body):  # StorableTextRoute looks into it: its way
        return None
    rt: Runtime = request.app.state.runtime
    try:
        publisher = publisher_for_key(rt.catalog, headers.get("x-api-key"))
        # As FastAPI reads a JSON body (json.loads) and validates it.
        lead = LeadIn.model_validate(json.loads(body))
    except (IntakeRefused, ValueError, ValidationError, RecursionError):
        return None
    return rt, publisher, lead, key


async def post_lead(
    lead: LeadIn,
    request: Request,
    rt: RuntimeDep,
    publisher: IntakePublisherDep,
    idempotency_key: Annotated[str | None, Header(max_length=KEY_MAX)] = None,
) -> JSONResponse:
    """Post a lead; the answer comes within the tree's maximum processing time."""
    return await answer_lead(request, rt, publisher, lead, idempotency_key)


router.add_api_route(
    "/leads",
    post_lead,
    methods=["POST"],
    response_model=LeadAnswer,
    responses=error_responses(401, 403, 409, 422, 429, 503),
    route_class_override=LeadRoute,
)


async def answer_lead(
    request: Request, rt: Runtime, publisher: Publisher, lead: LeadIn, key: str | None
) -> JSONResponse:
    """Take the lead (LeadRoute's short way and FastAPI's alike) and answer it."""
    with counting_refusals(rt, publisher, lead.vertical):
        status, answer = await take_lead(
            rt, publisher, lead, idempotency_key=key, started=arrival(request)
        )
    return JSONResponse(answer.model_dump(mode="json"), status_code=status)


@contextmanager
def counting_refusals(rt: Runtime, publisher: Publisher, vertical: str) -> Iterator[None]:
    """A lead refused (not stored) counts in the publisher report, by reason code."""
    try:
        yield
    except IntakeRefused as exc:
        known = vertical if vertical in rt.catalog.verticals else "unknown"
        rt.books.refused(publisher.name, known, [r.code for r in exc.reasons])
        raise


@router.get(
    "/leads/{lead_id}",
    response_model=PublisherLead,
    responses=error_responses(401, 403, 404, 422, 503),
)
async def get_lead(lead_id: str, rt: RuntimeDep, publisher: PublisherDep) -> PublisherLead:
    """Your lead's outcome: status, payout, reasons, redirect URL, times, screening codes."""
    async with rt.sessions() as session:
        found = await repository.publisher_view(session, lead_id, publisher.name)
    if found is None:
        raise refuse(404, "not_found", f"no lead {lead_id!r} from this publisher")
    return found


@router.post(
    "/pings", response_model=InboundPingAnswer, responses=error_responses(401, 403, 422, 429, 503)
)
async def post_ping(
    ping: InboundPingIn, rt: RuntimeDep, publisher: IntakePublisherDep
) -> InboundPingAnswer:
    """Ping with non-PII fields; get the price and a ping id valid for a set time."""
    with counting_refusals(rt, publisher, ping.vertical):
        return await inbound.take_ping(rt, publisher, ping)


@router.post(
    "/posts",
    response_model=LeadAnswer,
    responses=error_responses(401, 403, 404, 409, 410, 422, 503),
)
async def post_post(post: InboundPostIn, rt: RuntimeDep, publisher: PublisherDep) -> LeadAnswer:
    """Post the full lead for an earlier ping; the price offered is honoured or refused."""
    with for_lead(post.ping_id):  # the lead takes its ping's id
        return await inbound.take_post(rt, publisher, post)
