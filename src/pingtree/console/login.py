"""The login form that trades the admin token for an httponly cookie, and logout."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from pingtree.console.auth import COOKIE, admin_token, safe_next, session_value, token_matches
from pingtree.console.render import console_root, page
from pingtree.ratelimits.requests import auth_locked_out, hit_auth_failure

router = APIRouter(prefix="/console", include_in_schema=False)


@router.get("/login")
async def login_form(request: Request, next: str | None = None) -> Response:
    """The token form (or the console-off page when no admin token is configured)."""
    if admin_token(request) is None:
        return page(request, "disabled.html", status_code=403)
    return page(request, "login.html", {"next": safe_next(next, request), "error": None})


@router.post("/login")
async def login(
    request: Request, token: Annotated[str, Form()] = "", next: Annotated[str, Form()] = ""
) -> Response:
    """Set the session cookie when token is the admin token."""
    expected = admin_token(request)
    if expected is None:
        return page(request, "disabled.html", status_code=403)
    target = safe_next(next, request)
    if (wait := await auth_locked_out(request)) is not None:
        return _locked_out(request, target, wait)
    if not token_matches(token.strip(), expected):
        await hit_auth_failure(request)
        context = {"next": target, "error": "That is not the admin token."}
        return page(request, "login.html", context, status_code=401)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        COOKIE,
        session_value(expected),
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
    """Forget the session cookie."""
    response = RedirectResponse(f"{console_root(request)}/login", status_code=303)
    response.delete_cookie(COOKIE, path=console_root(request))
    return response
