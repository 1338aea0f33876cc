"""Admin endpoints for screening: the manual review queue and suppression lists."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, File, Query, UploadFile
from pydantic import BaseModel, Field
from sqlalchemy import select

from pingtree.api.deps import ReadDep, ReviewDep, RuntimeDep, SuppressDep
from pingtree.api.storable import StorableTextRoute
from pingtree.intake import review
from pingtree.intake.errors import refuse
from pingtree.leads.schemas import LeadAnswer, LeadStatus, admin_error_responses
from pingtree.operators.access import Caller
from pingtree.screening import repository
from pingtree.screening.lists import ParsedList, hash_values, parse_csv
from pingtree.screening.service import BUYER, GLOBAL, PUBLISHER
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


@router.post(
    "/review/{lead_id}/approve",
    response_model=LeadAnswer,
    operation_id="approve_review",
)
async def approve(lead_id: str, rt: RuntimeDep, caller: Caller = ReviewDep) -> LeadAnswer:
    """Approve a flagged lead: it is routed now, and the answer says how it went."""
    return await review.approve(rt, lead_id, caller.name)


@router.post(
    "/review/{lead_id}/reject",
    response_model=LeadAnswer,
    operation_id="reject_review",
)
async def reject(
    lead_id: str, decision: Decision, rt: RuntimeDep, caller: Caller = ReviewDep
) -> LeadAnswer:
    """Reject a flagged lead with a reason; it is never routed."""
    return await review.reject(rt, lead_id, decision.reason, caller.name)


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
