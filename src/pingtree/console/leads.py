"""Leads: search them (id, email or phone, publisher, buyer, status, period), read one."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from pingtree.calls.repository import calls_of_lead
from pingtree.console import periods, readable
from pingtree.console.auth import ReaderDep
from pingtree.console.editors import time_zones
from pingtree.console.render import ConsoleRoute, page
from pingtree.identity import suppression_hash
from pingtree.leads.repository import timeline
from pingtree.leads.schemas import LeadStatus
from pingtree.leads.search import Cursor, LeadQuery, find_leads
from pingtree.ledger import entries
from pingtree.ledger.schemas import EntryOut
from pingtree.postbacks import queue
from pingtree.postbacks.schemas import PostbackOut
from pingtree.returns import service as returns
from pingtree.storage.tables import CapReservation

router = APIRouter(prefix="/console", include_in_schema=False, route_class=ConsoleRoute)

PAGE = 50
TEST_CHOICES = {"": None, "no": False, "only": True}


def _person(text: str) -> tuple[str | None, str | None, str | None]:
    """What the search box holds: (lead id, email, phone)."""
    value = text.strip()
    if not value:
        return None, None, None
    if "@" in value:
        return None, value, None
    digits = sum(ch.isdigit() for ch in value)
    phone_like = digits >= 7 and all(ch.isdigit() or ch in " +-()." for ch in value)
    # A lead id may begin with digits only: what is no valid phone is an id.
    if phone_like and suppression_hash("phone", value) is not None:
        return None, None, value
    return value, None, None


@router.get("/leads", response_class=HTMLResponse)
async def search(request: Request, rt: ReaderDep) -> Response:
    """Leads matching the search, newest first, a page at a time."""
    q = request.query_params
    problems = []
    try:
        window = (
            periods.window(
                q.get("period"),
                now=rt.clock.now(),
                tz=q.get("tz"),
                since=q.get("from"),
                until=q.get("to"),
                default="today",
            )
            if q.get("period") or q.get("from") or q.get("to")
            else periods.window("all", now=rt.clock.now(), tz=q.get("tz"))
        )
    except periods.BadPeriod as exc:
        field, _, message = str(exc).partition(": ")
        problems.append({"field": field, "message": message})
        window = periods.window("all", now=rt.clock.now())
    status = q.get("status") or None
    if status is not None and status not in {s.value for s in LeadStatus}:
        problems.append({"field": "status", "message": f"no lead status {status!r}"})
        status = None
    test = q.get("test", "")
    if test not in TEST_CHOICES:
        problems.append({"field": "test", "message": "any, no or only"})
        test = ""
    lead_id, email, phone = _person(q.get("q", ""))
    query = LeadQuery(
        lead_id=lead_id,
        email=email,
        phone=phone,
        publisher=q.get("publisher") or None,
        vertical=q.get("vertical") or None,
        buyer=q.get("buyer") or None,
        campaign=q.get("campaign") or None,
        status=status,
        since=window.since,
        until=window.until,
        test=TEST_CHOICES[test],
    )
    after = _cursor(q.get("after", ""))
    async with rt.sessions() as session:
        found, following = await find_leads(session, query, limit=PAGE, after=after)
    more = None
    if following is not None:
        params = dict(q)
        params["after"] = f"{following.received_at.isoformat()}|{following.lead_id}"
        more = f"?{urlencode(params)}"
    context = {
        "nav": "leads",
        "leads": found,
        "q": q,
        "query": query,
        "window": window,
        "problems": problems,
        "more": more,
        "searching_person": email is not None or phone is not None,
        "statuses": [s.value for s in LeadStatus],
        "zones": time_zones(),
        "publisher_names": sorted(rt.catalog.publishers),
        "vertical_names": sorted(rt.catalog.verticals),
        "buyer_names": sorted(rt.catalog.buyers),
        "choices": periods.CHOICES,
    }
    return page(request, "leads.html", context, status_code=400 if problems else 200)


def _cursor(text: str) -> Cursor | None:
    at, _, lead_id = text.partition("|")
    try:
        moment = datetime.fromisoformat(at)
    except ValueError:
        return None
    return Cursor(moment, lead_id) if lead_id and moment.tzinfo else None


@router.get("/leads/{lead_id}", response_class=HTMLResponse)
async def lead_page(request: Request, lead_id: str, rt: ReaderDep) -> HTMLResponse:
    """Everything about one lead, told in order."""
    async with rt.sessions() as session:
        found = await timeline(session, lead_id)
        uncertain = (
            (
                await session.scalars(
                    select(CapReservation).where(
                        CapReservation.lead_id == lead_id, CapReservation.status == "uncertain"
                    )
                )
            ).all()
            if found is not None and found.status is LeadStatus.UNCERTAIN
            else []
        )
    if found is None:
        return page(
            request,
            "not_found.html",
            {"nav": "leads", "lead_id": lead_id, "heading": "No such lead"},
            status_code=404,
        )
    # The money story: the same reads as the admin API's lead story (api/story.py).
    async with rt.engine.connect() as conn:
        asked = await returns.listed(conn, lead_id=lead_id)
        booked = await entries.read(conn, lead_id=lead_id)
        called = await queue.listed(conn, lead_id=lead_id)
        phoned = await calls_of_lead(conn, lead_id)
    vertical = rt.catalog.verticals.get(found.vertical)
    context = {
        "nav": "leads",
        "t": found,
        "rows": readable.field_rows(vertical, found.fields),
        "screening": readable.screening_view(found.screening),
        "skip_reason": readable.skip_reason,
        "moments": readable.moments(found),
        "uncertain": uncertain,
        "returns": asked,
        "ledger": [EntryOut.model_validate(e, from_attributes=True) for e in reversed(booked)],
        "postbacks": [PostbackOut.model_validate(p) for p in reversed(called)],
        "calls": phoned,
        "now": rt.clock.now(),
    }
    return page(request, "lead.html", context)
