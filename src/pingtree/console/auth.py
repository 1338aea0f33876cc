"""Who may see the console: operators, by session cookie (after login) or bearer header."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal
from urllib.parse import quote, urlsplit

from fastapi import Depends, Request, Security
from fastapi.responses import RedirectResponse, Response
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer

from pingtree.api.ratelimits import hit_auth_failure, refuse_if_locked_out
from pingtree.console import csrf, sessions
from pingtree.console.render import console_root, page
from pingtree.operators.access import (
    Caller,
    Credential,
    access_configured,
    credential_failed,
    identify,
    identify_hash,
)
from pingtree.operators.roles import Permission, roles_with
from pingtree.runtime import Runtime

COOKIE = "pingtree_console"

session_cookie = APIKeyCookie(name=COOKIE, scheme_name="ConsoleSession", auto_error=False)
console_bearer = HTTPBearer(scheme_name="OperatorToken", auto_error=False)


class ConsoleLocked(Exception):
    """The request may not see the page: console off, not logged in, or role too weak."""

    def __init__(self, why: Literal["disabled", "login", "forbidden", "csrf"]) -> None:
        super().__init__(why)
        self.why = why


def runtime_of(request: Request) -> Runtime:
    """The app's runtime."""
    rt: Runtime = request.app.state.runtime
    return rt


def lifetime(rt: Runtime) -> sessions.Lifetime:
    """Session lifetimes from the settings."""
    return sessions.Lifetime(
        idle=rt.settings.console_idle_timeout, absolute=rt.settings.console_session_lifetime
    )


def polling(request: Request) -> bool:
    """Whether the request is the dashboard refreshing a part of itself, not the operator."""
    return request.headers.get("hx-request") == "true" and "/partials/" in request.url.path


async def console_caller(
    request: Request, cookie: str | None, bearer: str | None
) -> tuple[Caller | None, bool]:
    """The operator behind a session cookie or bearer token, and whether anyone can log in.

    A caller found by its session cookie gets the session's form token (request.state.csrf).
    """
    rt = runtime_of(request)
    admin_token = rt.settings.admin_token
    caller: Caller | None = None
    request.state.csrf = ""
    async with rt.sessions() as session, session.begin():
        if cookie:
            hashed = await sessions.resume(
                session,
                cookie,
                now=rt.clock.now(),
                lifetime=lifetime(rt),
                active=not polling(request),
            )
            if hashed is not None:
                caller = await identify_hash(session, hashed, admin_token=admin_token)
                if caller is None:  # its token was rotated or revoked: the session is over
                    await sessions.end(session, cookie)
                else:
                    request.state.csrf = csrf.token_for(cookie)
        if caller is None and bearer:
            caller = await identify(session, bearer, admin_token=admin_token)
        configured = caller is not None or await access_configured(session, admin_token=admin_token)
    if caller is None and bearer:
        await credential_failed(request, Credential.OPERATOR_TOKEN)
    elif caller is None and cookie:
        await credential_failed(request, Credential.CONSOLE_SESSION)
    return caller, configured


@dataclass(frozen=True)
class Acting:
    """An operator changing something from the console, and the runtime it changes."""

    rt: Runtime
    caller: Caller


def console_access(permission: Permission, *, changes: bool = False) -> Any:
    """A dependency: the runtime, for an operator whose role grants the permission.

    changes: the request changes something (a form post): it must come from a console page
    (its session's CSRF token, no foreign Origin); the dependency then gives an Acting.
    """
    roles = [role.value for role in roles_with(permission)]

    async def operator(
        request: Request,
        # Defaults, not Annotated: the roles are local, and annotations are strings here.
        cookie: str | None = Security(session_cookie, scopes=roles),
        bearer: HTTPAuthorizationCredentials | None = Security(console_bearer, scopes=roles),
    ) -> Runtime | Acting:
        token = bearer.credentials.strip() if bearer is not None else None
        if token:  # a token sent with the request is a guess; a session cookie is not
            await refuse_if_locked_out(request)
        caller, configured = await console_caller(request, cookie, token)
        if caller is None and token:
            await hit_auth_failure(request)
        if caller is None:
            raise ConsoleLocked("login" if configured else "disabled")
        request.state.caller = caller  # the page header shows who is logged in
        if not caller.may(permission):
            raise ConsoleLocked("forbidden")
        if not changes:
            return runtime_of(request)
        if csrf.foreign_origin(request):
            raise ConsoleLocked("csrf")
        if request.state.csrf and not await csrf.valid(request, str(cookie)):
            raise ConsoleLocked("csrf")
        return Acting(runtime_of(request), caller)

    return Depends(operator)


ReaderDep = Annotated[Runtime, console_access(Permission.READ)]
ConfigureDep = Annotated[Acting, console_access(Permission.CONFIGURE, changes=True)]
ReviewDep = Annotated[Acting, console_access(Permission.REVIEW, changes=True)]
SuppressDep = Annotated[Acting, console_access(Permission.SUPPRESS, changes=True)]
ReturnsDep = Annotated[Acting, console_access(Permission.RETURNS, changes=True)]
AccountsDep = Annotated[Acting, console_access(Permission.ACCOUNTS, changes=True)]


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
    """The console-off page, the role's refusal, or a way to the login form."""
    if exc.why == "disabled":
        return page(request, "disabled.html", status_code=403)
    if exc.why == "forbidden":
        return page(request, "forbidden.html", status_code=403)
    if exc.why == "csrf":
        return page(request, "expired.html", status_code=403)
    if request.headers.get("hx-request"):
        current = urlsplit(request.headers.get("hx-current-url", "")).path
        login = f"{console_root(request)}/login?next={quote(safe_next(current, request))}"
        return Response(status_code=401, headers={"HX-Redirect": login})
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    login = f"{console_root(request)}/login?next={quote(safe_next(here, request))}"
    return RedirectResponse(login, status_code=303)
