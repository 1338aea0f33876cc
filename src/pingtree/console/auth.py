"""Who may see the console: holders of the admin token, by login cookie or bearer header."""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated, Literal
from urllib.parse import quote, urlsplit

from fastapi import Depends, Request
from fastapi.responses import RedirectResponse, Response

from pingtree.console.render import console_root, page
from pingtree.ratelimits.requests import hit_auth_failure, refuse_if_locked_out
from pingtree.runtime import Runtime

COOKIE = "pingtree_console"


class ConsoleLocked(Exception):
    """The request may not see the console: it is off, or the caller has not logged in."""

    def __init__(self, why: Literal["disabled", "login"]) -> None:
        super().__init__(why)
        self.why = why


def session_value(token: str) -> str:
    """The cookie a login sets: derived from the token, so it is not the token itself."""
    return hmac.new(token.encode(), b"pingtree-console-session", hashlib.sha256).hexdigest()


def token_matches(given: str, token: str) -> bool:
    """Whether given is the admin token, in constant time."""
    return hmac.compare_digest(given.encode(), token.encode())


def authorized(request: Request, token: str) -> bool:
    """Whether the request carries the login cookie or Authorization: Bearer <admin token>."""
    cookie = request.cookies.get(COOKIE, "")
    if cookie and hmac.compare_digest(cookie.encode(), session_value(token).encode()):
        return True
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and token_matches(given.strip(), token)


def admin_token(request: Request) -> str | None:
    """The admin token in force, or None when the console is off."""
    rt: Runtime = request.app.state.runtime
    return rt.settings.admin_token or None


async def operator(request: Request) -> Runtime:
    """The runtime, for a caller holding the admin token; else ConsoleLocked."""
    token = admin_token(request)
    if token is None:
        raise ConsoleLocked("disabled")
    bearer = "authorization" in request.headers  # a token sent with the request is a guess
    if bearer:
        await refuse_if_locked_out(request)
    if not authorized(request, token):
        if bearer:
            await hit_auth_failure(request)
        raise ConsoleLocked("login")
    rt: Runtime = request.app.state.runtime
    return rt


OperatorDep = Annotated[Runtime, Depends(operator)]


def safe_next(target: str | None, request: Request) -> str:
    """Where to go after login: a console path only, never another site."""
    root = console_root(request)
    if not target:
        return root
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith(root):
        return root
    if any(ord(ch) < 32 for ch in target) or "\\" in target:
        return root
    return target


def locked_response(request: Request, exc: ConsoleLocked) -> Response:
    """The console-off page, or a way to the login form (HTMX polls are told to go there)."""
    if exc.why == "disabled":
        return page(request, "disabled.html", status_code=403)
    if request.headers.get("hx-request"):
        current = urlsplit(request.headers.get("hx-current-url", "")).path
        login = f"{console_root(request)}/login?next={quote(safe_next(current, request))}"
        return Response(status_code=401, headers={"HX-Redirect": login})
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    login = f"{console_root(request)}/login?next={quote(safe_next(here, request))}"
    return RedirectResponse(login, status_code=303)
