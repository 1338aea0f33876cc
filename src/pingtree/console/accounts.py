"""Operator accounts: every role reads the list; only admins create, rotate and disable.

The same operations as `pingtree operators` (operators.repository). A token is shown once, on
the page that answers the form, never in an address; only its hash is kept.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from pingtree import audit
from pingtree.console.auth import AccountsDep, Acting, ReaderDep
from pingtree.console.render import ConsoleRoute, console_root, notice, page
from pingtree.operators import OperatorError, Role, repository
from pingtree.operators.access import ADMIN_TOKEN_OPERATOR

router = APIRouter(prefix="/console", include_in_schema=False, route_class=ConsoleRoute)


@router.get("/accounts", response_class=HTMLResponse)
async def accounts(request: Request, rt: ReaderDep) -> Response:
    """Every operator: role, and when its token was made, rotated or disabled."""
    async with rt.sessions() as session:
        found = await repository.all_operators(session)
    context = {
        "nav": "accounts",
        "operators": found,
        "roles": list(Role),
        "admin_token_set": rt.settings.admin_token is not None,
        "done": request.query_params.get("done"),
        "failed": request.query_params.get("failed"),
    }
    return page(request, "accounts.html", context)


def _back(request: Request, message: str, *, ok: bool) -> RedirectResponse:
    return notice(f"{console_root(request)}/accounts", message, ok=ok)


def _token_page(request: Request, name: str, token: str, what: str, yours: bool) -> Response:
    context = {"nav": "accounts", "name": name, "token": token, "what": what, "yours": yours}
    return page(request, "operator_token.html", context)


@router.post("/accounts")
async def create(
    request: Request,
    acting: AccountsDep,
    name: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "",
) -> Response:
    """Add an operator with a role; its token is shown once."""
    if role not in {r.value for r in Role}:
        return _back(request, f"role: one of {', '.join(r.value for r in Role)}", ok=False)
    name = name.strip()
    rt = acting.rt
    try:
        async with rt.sessions() as session, session.begin():
            token = await repository.create(
                session, name, Role(role), now=rt.clock.now(), actor=_actor(acting)
            )
    except OperatorError as exc:
        return _back(request, str(exc), ok=False)
    return _token_page(request, name, token, f"Created {name} ({role})", yours=False)


@router.post("/accounts/{name}/rotate")
async def rotate(request: Request, name: str, acting: AccountsDep) -> Response:
    """Give an operator a new token: the old one and its console sessions stop at once."""
    rt = acting.rt
    try:
        async with rt.sessions() as session, session.begin():
            token = await repository.rotate(session, name, now=rt.clock.now(), actor=_actor(acting))
    except OperatorError as exc:
        return _back(request, _named(exc, name), ok=False)
    yours = name == acting.caller.name
    return _token_page(request, name, token, f"New token for {name}", yours=yours)


@router.post("/accounts/{name}/disable")
async def disable(request: Request, name: str, acting: AccountsDep) -> Response:
    """Stop an operator's token and console sessions for good (the record stays)."""
    if name == acting.caller.name:
        return _back(request, "you cannot disable your own account: another admin can", ok=False)
    rt = acting.rt
    try:
        async with rt.sessions() as session, session.begin():
            await repository.revoke(session, name, now=rt.clock.now(), actor=_actor(acting))
    except OperatorError as exc:
        return _back(request, _named(exc, name), ok=False)
    return _back(request, f"Disabled {name}: its token and sessions stopped.", ok=True)


def _actor(acting: Acting) -> str:
    return audit.operator(acting.caller.name)


def _named(exc: OperatorError, name: str) -> str:
    if name == ADMIN_TOKEN_OPERATOR:
        return f"{name} is PINGTREE_ADMIN_TOKEN, set in the settings, not an account here"
    return str(exc)
