"""Daily operations: the review queue, sales to reconcile, and do-not-contact lists.

Each action is the admin API's own (approve/reject, resolve, suppression lists), called
with the operator's role checked and the form's CSRF token verified.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import select

from pingtree.api import recovery as uncertain
from pingtree.api import screening as review_api
from pingtree.console.auth import ReaderDep, ReviewDep, SuppressDep
from pingtree.console.render import ConsoleRoute, console_root, notice, page
from pingtree.identity import suppression_hash
from pingtree.intake import review
from pingtree.intake.errors import IntakeRefused
from pingtree.leads.schemas import LeadStatus
from pingtree.recovery import service as recovery
from pingtree.screening import repository as lists
from pingtree.screening.lists import ParsedList, hash_values, parse_csv
from pingtree.screening.service import GLOBAL, PUBLISHER, SCOPES
from pingtree.storage.tables import Lead

router = APIRouter(prefix="/console", include_in_schema=False, route_class=ConsoleRoute)

QUEUE = 200
MAX_UPLOAD_BYTES = 20 * 1024 * 1024


def _kind(value: str) -> Literal["email", "phone"]:
    return "email" if "@" in value else "phone"


def _back(request: Request, where: str, message: str) -> RedirectResponse:
    return notice(where, message)


# --- review --------------------------------------------------------------------------------


@router.get("/review", response_class=HTMLResponse)
async def review_queue(request: Request, rt: ReaderDep) -> Response:
    """Flagged leads (oldest first) and posts whose sale waits to be confirmed."""
    async with rt.sessions() as session:
        waiting = (
            await session.scalars(
                select(Lead)
                .where(Lead.status == LeadStatus.REVIEW.value)
                .order_by(Lead.received_at)
                .limit(QUEUE)
            )
        ).all()
    uncertain = await recovery.uncertain_posts(engine=rt.engine, catalog=rt.catalog, limit=QUEUE)
    context = {
        "nav": "review",
        "waiting": waiting,
        "uncertain": uncertain,
        "done": request.query_params.get("done"),
        "failed": request.query_params.get("failed"),
    }
    return page(request, "review.html", context)


def _after_review(request: Request, lead_id: str, next_: str, message: str, ok: bool) -> Response:
    root = console_root(request)
    where = f"{root}/leads/{quote(lead_id)}" if next_ == "lead" else f"{root}/review"
    return notice(where, message, ok=ok)


@router.post("/review/{lead_id}/approve")
async def approve(
    request: Request, lead_id: str, acting: ReviewDep, next: Annotated[str, Form()] = ""
) -> Response:
    """Approve a flagged lead: it is routed now."""
    try:
        answer = await review.approve(acting.rt, lead_id, acting.caller.name)
    except IntakeRefused as exc:
        return _after_review(request, lead_id, next, exc.in_words(), ok=False)
    message = f"Approved lead {lead_id[:8]}: {answer.status.value}"
    if answer.status is LeadStatus.SOLD:
        message += f" (payout {answer.payout:,.2f})"
    return _after_review(request, lead_id, next, message + ".", ok=True)


@router.post("/review/{lead_id}/reject")
async def reject(
    request: Request,
    lead_id: str,
    acting: ReviewDep,
    reason: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",
) -> Response:
    """Reject a flagged lead with a reason; it is never routed."""
    try:
        decision = review_api.Decision(reason=reason.strip())
    except ValidationError:
        return _after_review(
            request, lead_id, next, "Say why the lead is rejected (1 to 500 characters).", False
        )
    try:
        await review.reject(acting.rt, lead_id, decision.reason, acting.caller.name)
    except IntakeRefused as exc:
        return _after_review(request, lead_id, next, exc.in_words(), ok=False)
    return _after_review(request, lead_id, next, f"Rejected lead {lead_id[:8]}.", ok=True)


@router.post("/uncertain/{reservation_id}")
async def resolve(
    request: Request,
    reservation_id: str,
    acting: ReviewDep,
    sold: Annotated[str, Form()] = "",
) -> Response:
    """Book an uncertain post as sold, or give its cap room back."""
    took = sold.strip().lower() == "true"
    try:
        resolved = await uncertain.settle(
            acting.rt, reservation_id, sold=took, operator=acting.caller.name
        )
    except IntakeRefused as exc:
        where = f"{console_root(request)}/review"
        return notice(where, exc.in_words(), ok=False)
    message = (
        f"Lead {resolved.lead_id[:8]}: {'sold' if resolved.sold else 'not sold'}; "
        f"the lead is now {resolved.lead_status.value}."
    )
    return _back(request, f"{console_root(request)}/leads/{resolved.lead_id}", message)


# --- suppression lists ---------------------------------------------------------------------


@router.get("/suppression", response_class=HTMLResponse)
async def suppression(request: Request, rt: ReaderDep) -> Response:
    """Each list's size; a search by email or phone; forms to add, upload and remove."""
    q = request.query_params
    looked_for = (q.get("value") or "").strip()
    found: list[tuple[str, str]] | None = None
    problem = None
    if looked_for:
        kind = _kind(looked_for)
        hashed = suppression_hash(kind, looked_for)
        if hashed is None:
            problem = f"{looked_for!r} is not a valid {kind}"
        else:
            async with rt.sessions() as session:
                found, _ = await lists.lookups(session, [hashed], lists=True, bought_since=None)
    async with rt.sessions() as session:
        counts = await lists.count_suppressions(session)
    context = {
        "nav": "suppression",
        "counts": counts,
        "looked_for": looked_for,
        "found": found,
        "problem": problem,
        "scopes": SCOPES,
        "publisher_names": sorted(rt.catalog.publishers),
        "buyer_names": sorted(rt.catalog.buyers),
        "done": q.get("done"),
        "failed": q.get("failed"),
    }
    return page(request, "suppression.html", context)


def _owner_problem(rt: Any, scope: str, owner: str) -> str | None:
    if scope not in SCOPES:
        return f"scope: one of {', '.join(SCOPES)}"
    if scope == GLOBAL:
        return "owner: a global list has no owner" if owner else None
    known = rt.catalog.publishers if scope == PUBLISHER else rt.catalog.buyers
    if owner not in known:
        return f"owner: no {scope} {owner!r}"
    return None


async def _store(rt: Any, parsed: ParsedList, scope: str, owner: str) -> tuple[int, int]:
    rows = [
        {"value_hash": h, "scope": scope, "owner": owner, "kind": kind}
        for kind, h in parsed.entries
    ]
    async with rt.sessions() as session, session.begin():
        added = await lists.add_suppressions(session, rows, now=rt.clock.now())
    return added, len(parsed.entries) - added


def _list_name(scope: str, owner: str) -> str:
    return "the global list" if scope == GLOBAL else f"{owner}'s {scope} list"


@router.post("/suppression/add")
async def add_values(
    request: Request,
    acting: SuppressDep,
    values: Annotated[str, Form()] = "",
    scope: Annotated[str, Form()] = GLOBAL,
    owner: Annotated[str, Form()] = "",
) -> Response:
    """Add emails and phones (one per line) to a list: only their hashes are kept."""
    where = f"{console_root(request)}/suppression"
    owner = owner if scope != GLOBAL else ""
    if problem := _owner_problem(acting.rt, scope, owner):
        return notice(where, problem, ok=False)
    parsed = ParsedList()
    for line in values.splitlines():
        value = line.strip().strip(",")
        if value:
            hash_values(_kind(value), [value], parsed)
    added, already = await _store(acting.rt, parsed, scope, owner)
    message = f"{added} added to {_list_name(scope, owner)}, {already} already on it"
    if parsed.bad_rows:
        message += f"; {len(parsed.bad_rows)} not valid: " + "; ".join(parsed.bad_rows[:5])
    return _back(request, where, message + ".")


@router.post("/suppression/upload")
async def upload(
    request: Request,
    acting: SuppressDep,
    file: Annotated[UploadFile | None, File()] = None,
    scope: Annotated[str, Form()] = GLOBAL,
    owner: Annotated[str, Form()] = "",
) -> Response:
    """Upload a CSV (email and/or phone columns, or one value per line) to a list."""
    where = f"{console_root(request)}/suppression"
    owner = owner if scope != GLOBAL else ""
    if problem := _owner_problem(acting.rt, scope, owner):
        return notice(where, problem, ok=False)
    if file is None:
        return notice(where, "choose a CSV file", ok=False)
    data = await file.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        message = f"the file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB; split it"
        return notice(where, message, ok=False)
    parsed = parse_csv(data.decode("utf-8-sig", errors="replace"))
    added, already = await _store(acting.rt, parsed, scope, owner)
    message = (
        f"{file.filename or 'The file'}: {added} added to {_list_name(scope, owner)}, "
        f"{already} already on it"
    )
    if parsed.bad_rows:
        message += f", {len(parsed.bad_rows)} rows not valid (" + "; ".join(parsed.bad_rows[:5])
        message += ")"
    return _back(request, where, message + ".")


@router.post("/suppression/remove")
async def remove_value(
    request: Request,
    acting: SuppressDep,
    value: Annotated[str, Form()] = "",
    scope: Annotated[str, Form()] = GLOBAL,
    owner: Annotated[str, Form()] = "",
) -> Response:
    """Take an email or phone off one list."""
    where = f"{console_root(request)}/suppression"
    kind = _kind(value)
    hashed = suppression_hash(kind, value.strip())
    if hashed is None or scope not in SCOPES:
        message = f"{value!r} is not a valid {kind}" if hashed is None else "unknown list"
        return notice(where, message, ok=False)
    async with acting.rt.sessions() as session, session.begin():
        removed = await lists.remove_suppressions(session, [hashed], scope=scope, owner=owner)
    message = (
        f"Removed from {_list_name(scope, owner)}."
        if removed
        else f"It was not on {_list_name(scope, owner)}."
    )
    return _back(request, f"{where}", message)
