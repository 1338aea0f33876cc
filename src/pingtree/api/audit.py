"""Admin API: the audit trail's newest events (who changed the configuration, and when)."""

from __future__ import annotations

from fastapi import APIRouter, Query

from pingtree.api.deps import ReadDep, RuntimeDep
from pingtree.api.storable import StorableTextRoute
from pingtree.audit import EventKind
from pingtree.audit.repository import recent
from pingtree.leads.repository import audit_event_out
from pingtree.leads.schemas import AuditEventOut, admin_error_responses

router = APIRouter(
    prefix="/api/v1/admin",
    tags=["admin"],
    route_class=StorableTextRoute,
    responses=admin_error_responses(),
)


@router.get("/audit", response_model=list[AuditEventOut], dependencies=[ReadDep])
async def audit_events(
    rt: RuntimeDep,
    kind: EventKind | None = None,
    subject: str | None = Query(
        default=None, max_length=255, description="e.g. campaigns/apex-auction"
    ),
    actor: str | None = Query(default=None, max_length=160, description="e.g. operator:dana"),
    before: int | None = Query(
        default=None, ge=1, le=2**63 - 1, description="only events older than this id"
    ),
    limit: int = Query(default=100, ge=1, le=1000),
) -> list[AuditEventOut]:
    """The newest audit events, newest first; a lead's are in its timeline."""
    async with rt.sessions() as session:
        found = await recent(
            session,
            kind=kind.value if kind is not None else None,
            subject=subject,
            actor=actor,
            before=before,
            limit=limit,
        )
    return [audit_event_out(event) for event in found]
