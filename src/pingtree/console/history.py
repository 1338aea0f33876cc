"""The configuration's history: every change made, by whom, when, and what it changed."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from pingtree.config import history
from pingtree.console.auth import ReaderDep
from pingtree.console.render import ConsoleRoute, page

router = APIRouter(prefix="/console", include_in_schema=False, route_class=ConsoleRoute)
PAGE = 50


@router.get("/history", response_class=HTMLResponse)
async def changes(request: Request, rt: ReaderDep, before: int | None = None) -> HTMLResponse:
    """The newest configuration changes first."""
    async with rt.sessions() as session:
        found = await history.changes(session, limit=PAGE, before_id=before)
    older = found[-1].id if len(found) == PAGE else None
    context = {"nav": "history", "changes": found, "older": older, "version": rt.catalog.version}
    return page(request, "history.html", context)
