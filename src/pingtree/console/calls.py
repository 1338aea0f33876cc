"""Calls: the latest phone calls, and one call told in order (its IVR answers, the form lead
it was matched to, each dial and how it went), linked to the lead it became."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from pingtree.calls import repository
from pingtree.console import readable
from pingtree.console.auth import ReaderDep
from pingtree.console.render import ConsoleRoute, page
from pingtree.leads.repository import timeline

router = APIRouter(prefix="/console", include_in_schema=False, route_class=ConsoleRoute)

LATEST = 100
STATUS_BADGES = {
    "ivr": "received",
    "routing": "received",
    "connected": "accepted",
    "completed": "sold",
    "unsold": "unsold",
    "refused": "rejected",
}
"""The badge colour of each call status (the lead statuses' colours, by likeness)."""


@router.get("/calls", response_class=HTMLResponse)
async def calls_page(request: Request, rt: ReaderDep) -> HTMLResponse:
    """The latest calls, newest first."""
    async with rt.engine.connect() as conn:
        found = await repository.recent_calls(conn, limit=LATEST)
    context = {"nav": "calls", "calls": found, "latest": LATEST, "badges": STATUS_BADGES}
    return page(request, "calls.html", context)


@router.get("/calls/{call_id}", response_class=HTMLResponse)
async def call_page(request: Request, call_id: str, rt: ReaderDep) -> HTMLResponse:
    """One call: where it came in, what the caller answered, its steps, how it ended."""
    async with rt.engine.connect() as conn:
        call = await repository.get_call(conn, call_id)
        events = await repository.events_of(conn, call_id) if call is not None else []
    lead = None
    if call is not None and call.lead_id is not None:
        async with rt.sessions() as session:
            lead = await timeline(session, call.lead_id)
    if call is None:
        return page(
            request,
            "not_found.html",
            {"nav": "calls", "heading": "No such call", "what": f"There is no call {call_id!r}."},
            status_code=404,
        )
    context = {
        "nav": "calls",
        "call": call,
        "badges": STATUS_BADGES,
        "answers": readable.field_rows(rt.catalog.verticals.get(call.vertical), call.answers),
        "moments": readable.call_moments(events),
        "attempts": lead.attempts if lead is not None else [],
    }
    return page(request, "call.html", context)
