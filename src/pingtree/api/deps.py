"""What endpoints need from a request: the runtime, the publisher, the admin."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Header, Request
from starlette.types import ASGIApp, Receive, Scope, Send

from pingtree.intake.errors import refuse
from pingtree.intake.service import publisher_for_key
from pingtree.publishers.model import Publisher
from pingtree.ratelimits.requests import hit_auth_failure, refuse_if_locked_out, take_intake
from pingtree.runtime import Runtime


async def runtime(request: Request) -> Runtime:
    """The app's runtime."""
    rt: Runtime = request.app.state.runtime
    return rt


RuntimeDep = Annotated[Runtime, Depends(runtime)]


def arrival(request: Request) -> float | None:
    """When the request reached the app (monotonic seconds), stamped before body parsing."""
    arrived: float | None = request.scope.get("state", {}).get(ARRIVED)
    return arrived


ARRIVED = "pingtree_arrived"


class StampArrival:
    """ASGI middleware: note when each request arrives, so a lead's deadline counts from then."""

    def __init__(self, app: ASGIApp, runtime: Runtime) -> None:
        self.app = app
        self.rt = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope.setdefault("state", {})[ARRIVED] = self.rt.clock.monotonic()
        await self.app(scope, receive, send)


async def publisher(
    rt: RuntimeDep, x_api_key: Annotated[str | None, Header(description="publisher API key")] = None
) -> Publisher:
    """The publisher whose key came in X-API-Key."""
    return publisher_for_key(rt, x_api_key)


PublisherDep = Annotated[Publisher, Depends(publisher)]


async def intake_publisher(rt: RuntimeDep, publisher: PublisherDep) -> Publisher:
    """The publisher, for a lead or ping within its intake rate (else 429)."""
    await take_intake(rt, publisher)
    return publisher


IntakePublisherDep = Annotated[Publisher, Depends(intake_publisher)]


async def admin(
    request: Request,
    rt: RuntimeDep,
    authorization: Annotated[str | None, Header(description="Bearer <admin token>")] = None,
) -> None:
    """Only callers with the admin token pass."""
    await refuse_if_locked_out(request)
    token = rt.settings.admin_token
    if not token:
        raise refuse(403, "admin_disabled", "set PINGTREE_ADMIN_TOKEN to use the admin API")
    scheme, _, given = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        given.strip().encode(), token.encode()
    ):
        if authorization:  # a wrong token is a guess; no token at all is not
            await hit_auth_failure(request)
        raise refuse(401, "invalid_admin_token", "send Authorization: Bearer <admin token>")


AdminDep = Depends(admin)
