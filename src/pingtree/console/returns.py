"""Returns to decide: the buyers' returns waiting for an operator, and the latest decided.

Approve and reject are the admin API's own decision (`returns.flows.decide`), with the
operator's role checked (returns permission, as the API's) and the form's CSRF token verified.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from pingtree.console.auth import ReaderDep, ReturnsDep
from pingtree.console.render import ConsoleRoute, console_root, notice, page
from pingtree.intake.errors import IntakeRefused
from pingtree.returns import flows, service
from pingtree.returns.schemas import DecisionIn, RejectionIn, ReturnStatus

router = APIRouter(prefix="/console", include_in_schema=False, route_class=ConsoleRoute)

QUEUE = 200
DECIDED = 50


@router.get("/returns", response_class=HTMLResponse)
async def returns_queue(request: Request, rt: ReaderDep) -> Response:
    """Pending returns (oldest first), then the latest decided."""
    async with rt.engine.connect() as conn:
        pending = await service.listed(
            conn, status=ReturnStatus.PENDING.value, limit=QUEUE, oldest_first=True
        )
        latest = await service.listed(conn, limit=DECIDED + len(pending))
    decided = [r for r in latest if r.status != ReturnStatus.PENDING.value][:DECIDED]
    context = {
        "nav": "returns",
        "pending": pending,
        "decided": decided,
        "now": rt.clock.now(),
        "done": request.query_params.get("done"),
        "failed": request.query_params.get("failed"),
    }
    return page(request, "returns.html", context)


def _after(request: Request, lead_id: str | None, next_: str, message: str, ok: bool) -> Response:
    root = console_root(request)
    where = f"{root}/leads/{quote(lead_id)}" if next_ == "lead" and lead_id else f"{root}/returns"
    return notice(where, message, ok=ok)


async def _decide(
    request: Request, acting: ReturnsDep, return_id: str, approve: bool, note: str, next_: str
) -> Response:
    async with acting.rt.engine.connect() as conn:
        asked = await service.one(conn, return_id)
    lead_id = asked.lead_id if asked is not None else None
    try:
        said = DecisionIn(note=note.strip() or None) if approve else RejectionIn(note=note.strip())
    except ValidationError:
        need = "A note is" if approve else "Say why the return is rejected:"
        return _after(request, lead_id, next_, f"{need} 1 to 1000 characters.", ok=False)
    try:
        decided = await flows.decide(
            acting.rt,
            return_id=return_id,
            approve=approve,
            actor=acting.caller.name,
            note=said.note,
        )
    except IntakeRefused as exc:
        return _after(request, lead_id, next_, exc.in_words(), ok=False)
    what = "Approved" if decided.status is ReturnStatus.APPROVED else "Rejected"
    message = f"{what} the return of lead {decided.lead_id[:8]} by {decided.buyer}"
    if decided.status is ReturnStatus.APPROVED:
        message += f": {decided.price:,.2f} back to the buyer"
    return _after(request, decided.lead_id, next_, message + ".", ok=True)


@router.post("/returns/{return_id}/approve")
async def approve(
    request: Request,
    return_id: str,
    acting: ReturnsDep,
    note: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",
) -> Response:
    """Approve a pending return: the sale is reversed, as the buyer's terms say."""
    return await _decide(request, acting, return_id, True, note, next)


@router.post("/returns/{return_id}/reject")
async def reject(
    request: Request,
    return_id: str,
    acting: ReturnsDep,
    note: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",
) -> Response:
    """Reject a pending return, saying why (the buyer is told)."""
    return await _decide(request, acting, return_id, False, note, next)
