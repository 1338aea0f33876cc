"""Admin endpoints for screening: the manual review queue and suppression lists."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, File, Query, UploadFile
from pydantic import BaseModel, Field
from sqlalchemy import select, update

from pingtree import logs
from pingtree.api.deps import ReadDep, ReviewCaller, ReviewDep, RuntimeDep, SuppressDep
from pingtree.api.storable import StorableTextRoute
from pingtree.intake.errors import refuse
from pingtree.intake.service import route_lead
from pingtree.leads.repository import LeadRecord
from pingtree.leads.schemas import LeadAnswer, LeadStatus, Reason, admin_error_responses
from pingtree.reporting import events
from pingtree.screening import repository
from pingtree.screening.lists import ParsedList, hash_values, parse_csv
from pingtree.screening.service import (
    BUYER,
    GLOBAL,
    PUBLISHER,
    Screening,
    buyer_blocks,
    identity_hashes,
)
from pingtree.storage.tables import Lead

router = APIRouter(
    prefix="/api/v1/admin",
    tags=["screening"],
    route_class=StorableTextRoute,
    responses=admin_error_responses(),
)

Scope = Literal["global", "publisher", "buyer"]


class Decision(BaseModel):
    """Why a reviewer rejected a lead."""

    reason: str = Field(min_length=1, max_length=500)


class SuppressionValues(BaseModel):
    """Emails and phones for one list; only their hashes are stored."""

    scope: Scope = "global"
    owner: str = Field(default="", description="the publisher or buyer the list belongs to")
    emails: list[str] = Field(default_factory=list)
    phones: list[str] = Field(default_factory=list)


@router.get("/review", dependencies=[ReadDep])
async def review_queue(
    rt: RuntimeDep, limit: int = Query(default=100, ge=1, le=1000)
) -> list[dict[str, Any]]:
    """Leads screening flagged, oldest first; they wait here and are not routed."""
    async with rt.sessions() as session:
        leads = (
            await session.scalars(
                select(Lead)
                .where(Lead.status == LeadStatus.REVIEW.value)
                .order_by(Lead.received_at)
                .limit(limit)
            )
        ).all()
    return [
        {
            "lead_id": lead.id,
            "publisher": lead.publisher,
            "vertical": lead.vertical,
            "risk_score": lead.risk_score,
            "reasons": lead.reasons,
            "received_at": lead.received_at.isoformat(),
        }
        for lead in leads
    ]


async def _take_from_queue(rt: RuntimeDep, lead_id: str, status: LeadStatus) -> Lead:
    # One reviewer wins: the lead leaves the queue only if it is still in it.
    async with rt.sessions() as session, session.begin():
        moved = await session.execute(
            update(Lead)
            .where(Lead.id == lead_id, Lead.status == LeadStatus.REVIEW.value)
            .values(status=status.value)
        )
        if moved.rowcount != 1:  # type: ignore[attr-defined]
            raise refuse(409, "not_in_review", f"lead {lead_id!r} is not waiting for review")
        lead = await session.get(Lead, lead_id)
        assert lead is not None
        return lead


@router.post(
    "/review/{lead_id}/approve",
    response_model=LeadAnswer,
    dependencies=[ReviewDep],
    operation_id="approve_review",
)
async def approve(lead_id: str, rt: RuntimeDep) -> LeadAnswer:
    """Approve a flagged lead: it is routed now, and the answer says how it went."""
    lead = await _take_from_queue(rt, lead_id, LeadStatus.RECEIVED)
    publisher = rt.catalog.publishers[lead.publisher]
    policy = rt.catalog.screening(lead.publisher, lead.vertical)
    hashes = identity_hashes(policy, lead.fields)
    async with rt.sessions() as session:
        blocked = await buyer_blocks(
            session, policy=policy, buyers=rt.catalog.buyers, hashes=hashes, now=rt.clock.now()
        )
    stored = lead.screening or {}
    checked = Screening(
        score=lead.risk_score or 0,
        band=stored.get("band"),
        blocked_buyers=blocked,
        person_hashes=hashes,
    )
    record = LeadRecord.of(lead)
    record.previous_status = LeadStatus.REVIEW.value  # reports move it out of review
    with logs.for_lead(lead.id):
        _status, answer = await route_lead(
            rt, record, publisher, checked, None, started=rt.clock.monotonic()
        )
    return answer


@router.post(
    "/review/{lead_id}/reject",
    response_model=LeadAnswer,
    operation_id="reject_review",
)
async def reject(
    lead_id: str, decision: Decision, rt: RuntimeDep, caller: ReviewCaller
) -> LeadAnswer:
    """Reject a flagged lead with a reason; it is never routed."""
    await _take_from_queue(rt, lead_id, LeadStatus.REJECTED)
    reason = Reason(code="rejected_in_review", message=decision.reason)
    async with rt.sessions() as session, session.begin():
        lead = await session.get(Lead, lead_id)
        assert lead is not None
        lead.reasons = [*lead.reasons, reason.model_dump()]
        lead.answered_at = rt.clock.now()
        # A rejected lead claims no one, as when a check rejects it: free the person it held.
        await repository.release_person(session, lead_id)
        if not lead.test:
            conn = await session.connection()
            await events.answered(
                conn,
                lead_id=lead.id,
                publisher=lead.publisher,
                vertical=lead.vertical,
                received_at=lead.received_at,
                at=lead.answered_at,
                status=LeadStatus.REJECTED.value,
                previous=LeadStatus.REVIEW.value,
                codes={reason.code: 1},
                actor=caller.name,
            )
    return LeadAnswer(lead_id=lead_id, status=LeadStatus.REJECTED, reasons=[reason])


def _check_owner(rt: RuntimeDep, scope: str, owner: str) -> None:
    if scope == GLOBAL and owner:
        raise refuse(422, "invalid_owner", "a global list has no owner", "owner")
    known: set[str] | None = None
    if scope == PUBLISHER:
        known = set(rt.catalog.publishers)
    elif scope == BUYER:
        known = set(rt.catalog.buyers)
    if known is not None and owner not in known:
        raise refuse(422, "invalid_owner", f"no {scope} {owner!r}", "owner")


async def _store(rt: RuntimeDep, parsed: ParsedList, scope: str, owner: str) -> dict[str, Any]:
    rows = [
        {"value_hash": h, "scope": scope, "owner": owner, "kind": kind}
        for kind, h in parsed.entries
    ]
    async with rt.sessions() as session, session.begin():
        added = await repository.add_suppressions(session, rows, now=rt.clock.now())
    return {
        "scope": scope,
        "owner": owner,
        "received": len(parsed.entries) + len(parsed.bad_rows),
        "added": added,
        "already_listed": len(parsed.entries) - added,
        "bad_rows": parsed.bad_rows[:100],
    }


@router.post("/suppressions", dependencies=[SuppressDep])
async def add_suppressions(values: SuppressionValues, rt: RuntimeDep) -> dict[str, Any]:
    """Add emails and phones to a do-not-contact list (stored only as SHA-256)."""
    _check_owner(rt, values.scope, values.owner)
    parsed = hash_values("email", values.emails)
    hash_values("phone", values.phones, parsed)
    return await _store(rt, parsed, values.scope, values.owner)


@router.post("/suppressions/upload", dependencies=[SuppressDep])
async def upload_suppressions(
    rt: RuntimeDep,
    file: UploadFile = File(description="CSV with an email and/or phone column"),
    scope: Scope = Query(default="global"),
    owner: str = Query(default=""),
) -> dict[str, Any]:
    """Upload a CSV do-not-contact list."""
    _check_owner(rt, scope, owner)
    text = (await file.read()).decode("utf-8-sig", errors="replace")
    return await _store(rt, parse_csv(text), scope, owner)


@router.delete("/suppressions", dependencies=[SuppressDep])
async def remove_suppressions(values: SuppressionValues, rt: RuntimeDep) -> dict[str, Any]:
    """Take emails and phones off a list."""
    parsed = hash_values("email", values.emails)
    hash_values("phone", values.phones, parsed)
    async with rt.sessions() as session, session.begin():
        removed = await repository.remove_suppressions(
            session, [h for _, h in parsed.entries], scope=values.scope, owner=values.owner
        )
    return {"removed": removed}


@router.get("/suppressions", dependencies=[ReadDep])
async def suppression_lists(rt: RuntimeDep) -> list[dict[str, Any]]:
    """Each list and how many entries it holds."""
    async with rt.sessions() as session:
        counts = await repository.count_suppressions(session)
    return [{"scope": s, "owner": o, "entries": n} for s, o, n in counts]
