"""Admin API: the same configuration resources as the YAML file, and the leads."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel
from sqlalchemy import select

from pingtree import audit
from pingtree.api.deps import ConfigureDep, ReadDep, RuntimeDep
from pingtree.api.storable import StorableTextRoute
from pingtree.api.story import LeadStory, story
from pingtree.config.document import KINDS, ConfigDocument, Kind, resource_key
from pingtree.config.files import parse_document
from pingtree.config.history import Source
from pingtree.config.posting_spec import NoSpec, posting_spec
from pingtree.config.store import apply_document as apply_plan
from pingtree.config.store import delete_resource, load_document, put_resource
from pingtree.credentials.at_rest import redact, redact_document
from pingtree.intake.errors import refuse
from pingtree.leads import repository
from pingtree.leads.evidence import evidence
from pingtree.leads.schemas import Evidence, admin_error_responses
from pingtree.operators.access import Caller
from pingtree.storage.tables import Lead

router = APIRouter(
    prefix="/api/v1/admin",
    tags=["admin"],
    route_class=StorableTextRoute,
    responses=admin_error_responses(),
)


def _kind(kind: str) -> Kind:
    if kind not in KINDS:
        raise refuse(404, "unknown_kind", f"no resource kind {kind!r}; kinds: {', '.join(KINDS)}")
    return kind


@router.get("/config", dependencies=[ReadDep])
async def export_config(rt: RuntimeDep) -> dict[str, Any]:
    """The whole configuration, as `pingtree export` writes it."""
    async with rt.sessions() as session:
        document, version = await load_document(session)
    data = redact_document(document.model_dump(mode="json", exclude_none=True))
    return {"version": version, **data}


@router.post("/config")
async def apply_config(
    rt: RuntimeDep,
    document: dict[str, Any] = Body(description="a configuration document, as in the YAML file"),
    dry_run: bool = Query(default=False),
    prune: bool = Query(default=True, description="remove resources the document leaves out"),
    caller: Caller = ConfigureDep,
) -> dict[str, Any]:
    """Make the configuration equal the document; answers what was created, changed, removed."""
    allow = rt.settings.buyer_allowlist
    parsed = parse_document(document, file="request body", allow=allow)
    async with rt.sessions() as session, session.begin():
        plan = await apply_plan(
            session,
            parsed,
            now=rt.clock.now(),
            prune=prune,
            dry_run=dry_run,
            allow=allow,
            keys=rt.settings.secret_keys,
            actor=audit.operator(caller.name),
            source=Source.API,
        )
    if not dry_run:
        await rt.reload_config()
    return {
        "dry_run": dry_run,
        "create": plan.create,
        "change": plan.change,
        "remove": plan.remove,
        "new_api_keys": plan.new_api_keys,
        "changes": plan.changes,
    }


@router.get("/leads/{lead_id}", response_model=LeadStory, dependencies=[ReadDep])
async def lead_timeline(lead_id: str, rt: RuntimeDep) -> LeadStory:
    """Any lead's timeline, with its ledger entries, returns and postbacks."""
    async with rt.sessions() as session:
        found = await repository.timeline(session, lead_id)
    if found is None:
        raise refuse(404, "not_found", f"no lead {lead_id!r}")
    return await story(rt, found)


@router.get("/leads/{lead_id}/evidence", response_model=Evidence, dependencies=[ReadDep])
async def lead_evidence(lead_id: str, rt: RuntimeDep) -> Evidence:
    """One lead's evidence for a dispute: its timeline, consent certificate and audit events,
    each with the link that proves it unchanged (`pingtree audit evidence` writes the same)."""
    async with rt.sessions() as session:
        found = await evidence(session, lead_id, now=rt.clock.now())
    if found is None:
        raise refuse(404, "not_found", f"no lead {lead_id!r}")
    return found


@router.get("/leads", dependencies=[ReadDep])
async def recent_leads(
    rt: RuntimeDep,
    status: str | None = None,
    publisher: str | None = None,
    limit: int = Query(default=50, ge=1, le=500),
) -> list[dict[str, Any]]:
    """The newest leads, optionally by status or publisher."""
    query = select(Lead).order_by(Lead.received_at.desc()).limit(limit)
    if status:
        query = query.where(Lead.status == status)
    if publisher:
        query = query.where(Lead.publisher == publisher)
    async with rt.sessions() as session:
        leads = (await session.scalars(query)).all()
    return [
        {
            "lead_id": lead.id,
            "publisher": lead.publisher,
            "vertical": lead.vertical,
            "status": lead.status,
            "test": lead.test,
            "revenue": str(lead.revenue),
            "payout": str(lead.payout),
            "received_at": lead.received_at.isoformat(),
        }
        for lead in leads
    ]


@router.get("/{kind}", dependencies=[ReadDep])
async def list_resources(kind: str, rt: RuntimeDep) -> list[dict[str, Any]]:
    """Every resource of a kind (verticals, publishers, buyers, campaigns, trees, routes)."""
    async with rt.sessions() as session:
        document, _ = await load_document(session)
    items = getattr(document, _kind(kind))
    return [redact(kind, item.model_dump(mode="json", exclude_none=True)) for item in items]


class MarkdownResponse(PlainTextResponse):
    """A Markdown document."""

    media_type = "text/markdown"


def _json_refusals() -> dict[int | str, dict[str, Any]]:
    """The admin refusals documented as JSON on a route whose own answer is not JSON."""
    ref = {"$ref": "#/components/schemas/ErrorAnswer"}
    return {
        code: {
            "description": answer["description"],
            "content": {"application/json": {"schema": ref}},
        }
        for code, answer in admin_error_responses().items()
    }


@router.get(
    "/publishers/{name}/spec",
    dependencies=[ReadDep],
    response_class=MarkdownResponse,
    responses={
        200: {"content": {"text/markdown": {"example": "# Posting specification for pub\n"}}},
        **_json_refusals(),
    },
)
async def publisher_spec(
    name: str,
    request: Request,
    rt: RuntimeDep,
    vertical: str | None = Query(default=None, description="only this vertical"),
) -> MarkdownResponse:
    """The publisher's posting spec (Markdown), from the configuration in force."""
    try:
        markdown = posting_spec(
            rt.catalog.document,
            name,
            vertical=vertical,
            base_url=str(request.base_url),
            ping_ttl_s=rt.settings.inbound_ping_ttl_s,
        )
    except NoSpec as exc:
        raise refuse(404, "not_found", str(exc)) from None
    return MarkdownResponse(markdown)


@router.get("/{kind}/{name}", dependencies=[ReadDep])
async def get_resource(kind: str, name: str, rt: RuntimeDep) -> dict[str, Any]:
    """One resource (a route's name is publisher:vertical)."""
    async with rt.sessions() as session:
        document, _ = await load_document(session)
    found: BaseModel = _find(document, _kind(kind), name)
    return redact(kind, found.model_dump(mode="json", exclude_none=True))


def _find(document: ConfigDocument, kind: Kind, name: str) -> Any:
    for item in getattr(document, kind):
        if resource_key(kind, item) == name:
            return item
    raise refuse(404, "not_found", f"no {kind} {name!r}")


@router.put("/{kind}/{name}", operation_id="put_resource")
async def put(
    kind: str,
    name: str,
    rt: RuntimeDep,
    spec: dict[str, Any] = Body(description="the resource, as in the YAML file"),
    caller: Caller = ConfigureDep,
) -> dict[str, Any]:
    """Create or replace a resource; a new publisher's API key is in the answer, once."""
    checked = _kind(kind)
    async with rt.sessions() as session, session.begin():
        item, plan = await put_resource(
            session,
            checked,
            spec,
            now=rt.clock.now(),
            allow=rt.settings.buyer_allowlist,
            keys=rt.settings.secret_keys,
            actor=audit.operator(caller.name),
            source=Source.API,
        )
        if resource_key(checked, item) != name:  # raising here rolls the change back
            raise refuse(422, "name_mismatch", f"the body names {resource_key(checked, item)!r}")
    await rt.reload_config()
    answer: dict[str, Any] = redact(kind, item.model_dump(mode="json", exclude_none=True))
    if plan.new_api_keys:
        answer["api_key"] = next(iter(plan.new_api_keys.values()))
    return answer


@router.delete("/{kind}/{name}", status_code=204, operation_id="delete_resource")
async def delete(kind: str, name: str, rt: RuntimeDep, caller: Caller = ConfigureDep) -> None:
    """Remove a resource nothing else refers to."""
    async with rt.sessions() as session, session.begin():
        removed = await delete_resource(
            session,
            _kind(kind),
            name,
            now=rt.clock.now(),
            actor=audit.operator(caller.name),
            source=Source.API,
        )
    if not removed:
        raise refuse(404, "not_found", f"no {kind} {name!r}")
    await rt.reload_config()
