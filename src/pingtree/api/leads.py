"""Publisher endpoints: post a lead, ping and post in two steps, read a lead's outcome."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse

from pingtree.api.deps import IntakePublisherDep, PublisherDep, RuntimeDep, arrival
from pingtree.api.storable import StorableTextRoute
from pingtree.intake import inbound
from pingtree.intake.errors import IntakeRefused, refuse
from pingtree.intake.service import take_lead
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


@router.post(
    "/leads", response_model=LeadAnswer, responses=error_responses(401, 403, 409, 422, 429, 503)
)
async def post_lead(
    lead: LeadIn,
    request: Request,
    rt: RuntimeDep,
    publisher: IntakePublisherDep,
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> JSONResponse:
    """Post a lead; the answer comes within the tree's maximum processing time."""
    with counting_refusals(rt, publisher, lead.vertical):
        status, answer = await take_lead(
            rt, publisher, lead, idempotency_key=idempotency_key, started=arrival(request)
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
