"""The login form that trades an operator token for a session cookie, and logout."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from pingtree.api.ratelimits import auth_locked_out, hit_auth_failure
from pingtree.console import csrf, sessions
from pingtree.console.auth import COOKIE, lifetime, runtime_of, safe_next
from pingtree.console.render import console_root, page
from pingtree.operators.access import Credential, access_configured, credential_failed, identify

router = APIRouter(prefix="/console", include_in_schema=False)


async def _configured(request: Request) -> bool:
    rt = runtime_of(request)
    async with rt.sessions() as session:
        return await access_configured(session, admin_token=rt.settings.admin_token)


@router.get("/login")
async def login_form(request: Request, next: str | None = None) -> Response:
    """The token form (or the console-off page when nobody can log in)."""
    if not await _configured(request):
        return page(request, "disabled.html", status_code=403)
    return page(request, "login.html", {"next": safe_next(next, request), "error": None})


@router.post("/login")
async def login(
    request: Request, token: Annotated[str, Form()] = "", next: Annotated[str, Form()] = ""
) -> Response:
    """Open a session when token is an operator's token (or PINGTREE_ADMIN_TOKEN)."""
    rt = runtime_of(request)
    target = safe_next(next, request)
    if csrf.foreign_origin(request):  # another site may not log the browser in
        return page(request, "expired.html", status_code=403)
    if (wait := await auth_locked_out(request)) is not None:
        return _locked_out(request, target, wait)
    now = rt.clock.now()
    async with rt.sessions() as session, session.begin():
        caller = await identify(session, token.strip(), admin_token=rt.settings.admin_token)
        if caller is None:
            configured = await access_configured(session, admin_token=rt.settings.admin_token)
        else:
            await sessions.purge_expired(session, now=now, lifetime=lifetime(rt))
            previous = request.cookies.get(COOKIE)
            if previous:  # a login never keeps an id the browser held before
                await sessions.end(session, previous)
            session_id = await sessions.open_session(session, caller.credential_hash, now=now)
    if caller is None:
        if not configured:
            return page(request, "disabled.html", status_code=403)
        await credential_failed(request, Credential.CONSOLE_LOGIN)
        await hit_auth_failure(request)
        context = {"next": target, "error": "That is not the admin token or an operator token."}
        return page(request, "login.html", context, status_code=401)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        COOKIE,
        session_id,
        max_age=int(rt.settings.console_session_lifetime.total_seconds()),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path=console_root(request),
    )
    return response


def _locked_out(request: Request, target: str, wait: int) -> Response:
    error = f"Too many failed logins from your address; try again in {wait} seconds."
    response = page(request, "login.html", {"next": target, "error": error}, status_code=429)
    response.headers["Retry-After"] = str(wait)
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    """End the session on the server and forget the cookie (a form of this session only)."""
    session_id = request.cookies.get(COOKIE)
    if session_id and (csrf.foreign_origin(request) or not await csrf.valid(request, session_id)):
        return page(request, "expired.html", status_code=403)
    if session_id:
        rt = runtime_of(request)
        async with rt.sessions() as session, session.begin():
            await sessions.end(session, session_id)
    response = RedirectResponse(f"{console_root(request)}/login", status_code=303)
    response.delete_cookie(
        COOKIE,
        path=console_root(request),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response
