"""What endpoints need from a request: the runtime, the publisher, the operator and its role."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.types import ASGIApp, Receive, Scope, Send

from pingtree.api.ratelimits import hit_auth_failure, refuse_if_locked_out, take_intake
from pingtree.buyers.model import Buyer
from pingtree.intake.errors import IntakeRefused, refuse
from pingtree.intake.service import publisher_for_key
from pingtree.operators.access import (
    Caller,
    Credential,
    access_configured,
    credential_failed,
    identify,
)
from pingtree.operators.roles import Permission, roles_with
from pingtree.publishers.model import Publisher, hash_api_key
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


publisher_key = APIKeyHeader(
    name="X-API-Key",
    scheme_name="PublisherKey",
    description="a publisher's API key",
    auto_error=False,
)
buyer_key = APIKeyHeader(
    name="X-Buyer-Key",
    scheme_name="BuyerKey",
    description="a buyer's API key (`api_key` in the buyer's configuration)",
    auto_error=False,
)
operator_token = HTTPBearer(
    scheme_name="OperatorToken",
    description="an operator token (`pingtree operators create`) or PINGTREE_ADMIN_TOKEN; "
    "the roles a route allows are listed in its security requirement",
    auto_error=False,
)


async def publisher(
    request: Request,
    rt: RuntimeDep,
    api_key: Annotated[str | None, Security(publisher_key)] = None,
) -> Publisher:
    """The publisher whose key came in X-API-Key."""
    try:
        return publisher_for_key(rt.catalog, api_key)
    except IntakeRefused as exc:
        if exc.status_code == 401:
            await credential_failed(request, Credential.PUBLISHER_KEY)
        raise


PublisherDep = Annotated[Publisher, Depends(publisher)]


async def intake_publisher(rt: RuntimeDep, publisher: PublisherDep) -> Publisher:
    """The publisher, for a lead or ping within its intake rate (else 429)."""
    await take_intake(rt, publisher)
    return publisher


IntakePublisherDep = Annotated[Publisher, Depends(intake_publisher)]


async def buyer(
    request: Request,
    rt: RuntimeDep,
    api_key: Annotated[str | None, Security(buyer_key)] = None,
) -> Buyer:
    """The buyer whose key came in X-Buyer-Key."""
    if not api_key:
        await credential_failed(request, Credential.BUYER_KEY)
        raise refuse(401, "missing_buyer_key", "send your buyer API key in X-Buyer-Key")
    found = rt.catalog.buyers_by_key.get(hash_api_key(api_key))
    if found is None:
        await credential_failed(request, Credential.BUYER_KEY)
        raise refuse(401, "invalid_buyer_key", "this API key belongs to no buyer")
    return found


BuyerDep = Annotated[Buyer, Depends(buyer)]


def require(permission: Permission) -> Any:
    """A dependency: the operator calling, who must hold a role granting the permission.

    The allowed roles are declared in the route's OpenAPI security requirement.
    """
    roles = [role.value for role in roles_with(permission)]

    async def operator(
        request: Request,
        rt: RuntimeDep,
        # A default, not Annotated: the roles are local, and annotations are strings here.
        bearer: HTTPAuthorizationCredentials | None = Security(operator_token, scopes=roles),
    ) -> Caller:
        await refuse_if_locked_out(request)
        async with rt.sessions() as session:
            caller = None
            if bearer is not None:
                caller = await identify(
                    session, bearer.credentials.strip(), admin_token=rt.settings.admin_token
                )
            if caller is None:
                configured = await access_configured(session, admin_token=rt.settings.admin_token)
        if caller is None:
            await credential_failed(request, Credential.OPERATOR_TOKEN)
            if bearer is not None:  # a wrong token is a guess; no token at all is not
                await hit_auth_failure(request)
            if not configured:
                raise refuse(
                    403,
                    "admin_disabled",
                    "no operator exists: run `pingtree operators create` or set "
                    "PINGTREE_ADMIN_TOKEN to use the admin API",
                )
            raise refuse(
                401,
                "invalid_admin_token",
                "send Authorization: Bearer <operator token or PINGTREE_ADMIN_TOKEN>",
            )
        if not caller.may(permission):
            raise refuse(
                403,
                "forbidden_for_role",
                f"operator {caller.name!r} ({caller.role}) may not {permission.value}; "
                f"allowed roles: {', '.join(roles)}",
            )
        return caller

    return Depends(operator)


ReadDep = require(Permission.READ)
ConfigureDep = require(Permission.CONFIGURE)
ReviewDep = require(Permission.REVIEW)
ReviewCaller = Annotated[Caller, ReviewDep]
"""The operator deciding (when the route needs their name)."""
ReturnsDep = require(Permission.RETURNS)
ReturnsCaller = Annotated[Caller, ReturnsDep]
BookDep = require(Permission.BOOK)
BookCaller = Annotated[Caller, BookDep]
SuppressDep = require(Permission.SUPPRESS)
