"""Every route of the app, walked from its route table: who is refused and who gets in.

A new route is covered without editing this file: it is either in PUBLIC, or it must refuse
a caller with no or wrong credentials (401; a console page sends the browser to its login
form instead), refuse roles that may not (403), and let the right credential in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import httpx
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts
from fastapi.security.base import SecurityBase
from starlette.routing import Mount

from pingtree.api.deps import ConfigureDep
from pingtree.console.auth import COOKIE, console_access
from pingtree.operators import Permission, Role
from tests.engine.conftest import ADMIN_TOKEN, Harness, sim_buyer
from tests.factories import API_KEY, campaign, document, tier
from tests.operators.conftest import add_operator
from tests.returns.terms import with_terms

BUYER_KEY = "alpha-buyer-key-000000000"

# (method, path) that anyone may call; mounts by path. Kept small on purpose.
PUBLIC: frozenset[tuple[str, str]] = frozenset(
    {
        ("GET", "/openapi.json"),
        ("GET", "/docs"),
        ("GET", "/docs/oauth2-redirect"),
        ("GET", "/redoc"),
        ("GET", "/console/login"),
        ("POST", "/console/login"),
        ("POST", "/console/logout"),
        ("GET", "/healthz"),
        ("GET", "/readyz"),
        ("GET", "/metrics"),  # unless PINGTREE_METRICS_TOKEN is set
        ("GET", "/api/v1/consent/{consent_id}"),  # the signed, expiring link is the credential
    }
)
PUBLIC_MOUNTS = frozenset({"/console/static"})
STRANGERS: list[tuple[str, dict[str, str]]] = [
    ("no credentials", {}),
    ("a wrong token", {"Authorization": "Bearer pto_not-a-token"}),
    ("an empty bearer", {"Authorization": "Bearer "}),
    ("the admin token as Basic", {"Authorization": f"Basic {ADMIN_TOKEN}"}),
    ("a wrong publisher key", {"X-API-Key": "not-a-publisher-key"}),
    ("a wrong buyer key", {"X-Buyer-Key": "not-a-buyer-key"}),
    ("a wrong session cookie", {"Cookie": f"{COOKIE}=not-a-session"}),
]


@dataclass
class Walk:
    """What the walk tried, and what it found wrong."""

    tried: int = 0
    problems: list[str] = field(default_factory=list)
    seen_public: set[tuple[str, str]] = field(default_factory=set)


def _schemes(route: RouteContext) -> dict[str, list[str]]:
    """The security schemes a route's dependencies declare, with the roles each allows."""
    declared: dict[str, list[str]] = {}

    def visit(dependant: Dependant) -> None:
        if isinstance(dependant.call, SecurityBase):
            roles = declared.setdefault(dependant.call.scheme_name, [])
            roles += [s for s in dependant.own_oauth_scopes or [] if s not in roles]
        for sub in dependant.dependencies:
            visit(sub)

    visit(route.dependant)
    return declared


def _refused(response: httpx.Response, console: bool) -> bool:
    if response.status_code == 401:
        return True
    # A browser is sent to the login form: the console's way of saying 401.
    return (
        console
        and response.status_code == 303
        and "/console/login" in response.headers.get("location", "")
    )


def _let_in(response: httpx.Response) -> bool:
    return response.status_code not in (401, 403) and response.status_code < 500


async def walk(app: FastAPI, client: httpx.AsyncClient, tokens: dict[Role, str]) -> Walk:
    """Call every route with no, wrong, other-kind and each role's credentials."""
    found = Walk()
    # FastAPI's own iterator over the route table: included routers come out flattened.
    for route in iter_route_contexts(app.routes):
        assert route.path is not None, route
        if isinstance(route.original_route, Mount):
            if route.path not in PUBLIC_MOUNTS:
                found.problems.append(f"mount {route.path} is neither public nor guarded")
            continue
        path = re.sub(r"\{[^}]+\}", "x", route.path)
        for method in sorted((route.methods or set()) - {"HEAD"}):
            where = f"{method} {route.path}"
            if (method, route.path) in PUBLIC:
                found.seen_public.add((method, route.path))
                continue
            if not isinstance(route.original_route, APIRoute):
                found.problems.append(f"{where}: not an API route and not public")
                continue
            schemes = _schemes(route)
            console = route.path.startswith("/console")

            async def call(
                headers: dict[str, str], method: str = method, path: str = path
            ) -> httpx.Response:
                found.tried += 1
                client.cookies.clear()
                return await client.request(method, path, headers=headers)

            for label, headers in STRANGERS:
                got = await call(headers)
                if not _refused(got, console):
                    found.problems.append(f"{where}: {label} gave {got.status_code}")
            if "PublisherKey" in schemes:
                got = await call({"X-API-Key": API_KEY})
                if not _let_in(got):
                    found.problems.append(f"{where}: the publisher got {got.status_code}")
                got = await call({"Authorization": f"Bearer {tokens[Role.ADMIN]}"})
                if got.status_code != 401:
                    found.problems.append(f"{where}: an operator token got {got.status_code}")
                continue
            if "BuyerKey" in schemes:
                got = await call({"X-Buyer-Key": BUYER_KEY})
                if not _let_in(got):
                    found.problems.append(f"{where}: the buyer got {got.status_code}")
                for label, other in (
                    ("an operator token", {"Authorization": f"Bearer {tokens[Role.ADMIN]}"}),
                    ("a publisher key", {"X-API-Key": API_KEY}),
                ):
                    got = await call(other)
                    if got.status_code != 401:
                        found.problems.append(f"{where}: {label} got {got.status_code}")
                continue
            if "ProviderSignature" in schemes:  # signed webhooks: tests/calls signs them
                for label, other in (
                    ("an operator token", {"Authorization": f"Bearer {tokens[Role.ADMIN]}"}),
                    ("a publisher key", {"X-API-Key": API_KEY}),
                ):
                    got = await call(other)
                    if got.status_code != 401:
                        found.problems.append(f"{where}: {label} got {got.status_code}")
                continue
            if "OperatorToken" not in schemes:
                found.problems.append(f"{where}: declares no credential and is not public")
                continue
            roles = schemes["OperatorToken"]
            if (method == "GET") != ("analyst" in roles):
                found.problems.append(f"{where}: analysts are read-only, declared {roles}")
            got = await call({"X-API-Key": API_KEY})
            if not _refused(got, console):
                found.problems.append(f"{where}: a publisher key got {got.status_code}")
            for role, token in tokens.items():
                got = await call({"Authorization": f"Bearer {token}"})
                # An analyst may only read, whatever a route declares; other roles as declared.
                allowed = method == "GET" if role is Role.ANALYST else role.value in roles
                if allowed and not _let_in(got):
                    found.problems.append(f"{where}: {role} got {got.status_code}")
                if not allowed and got.status_code != 403:
                    found.problems.append(f"{where}: {role} got {got.status_code}, not 403")
    return found


async def _operators(h: Harness) -> dict[Role, str]:
    h.buyers(sim_buyer("alpha"))
    doc = document([campaign("alpha", h.sim)], [tier("t1", "priority", ["alpha"])])
    await h.configure(with_terms(doc, buyers={"alpha": {"api_key": BUYER_KEY}}))
    tokens = {role: await add_operator(h.rt, f"{role.value}-1", role) for role in Role}
    return {**tokens, Role.ADMIN: tokens[Role.ADMIN]}


async def test_every_route_refuses_strangers_and_weak_roles(engine_walked: Harness) -> None:
    h = engine_walked
    tokens = await _operators(h)
    app = h.client._transport.app  # type: ignore[attr-defined]
    found = await walk(app, h.client, tokens)
    assert found.problems == []
    assert found.seen_public == PUBLIC  # the allowlist names only routes that exist
    assert found.tried >= 242  # 25 guarded operations today, each with every credential
    # PINGTREE_ADMIN_TOKEN still works as an admin on every guarded route
    legacy = await walk(app, h.client, {Role.ADMIN: ADMIN_TOKEN})
    assert legacy.problems == []


async def test_a_new_route_is_walked_too(engine_walked: Harness) -> None:
    h = engine_walked
    tokens = await _operators(h)
    app: FastAPI = h.client._transport.app  # type: ignore[attr-defined]

    @app.post("/api/v1/admin/widgets", dependencies=[ConfigureDep])
    async def guarded() -> dict[str, str]:
        return {}

    @app.post("/console/widgets", dependencies=[console_access(Permission.CONFIGURE)])
    async def console_write() -> dict[str, str]:
        return {}

    assert (await walk(app, h.client, tokens)).problems == []

    @app.get("/api/v1/status")
    async def forgotten() -> dict[str, str]:
        return {}

    problems = (await walk(app, h.client, tokens)).problems
    assert problems == [
        *(f"GET /api/v1/status: {label} gave 200" for label, _ in STRANGERS),
        "GET /api/v1/status: declares no credential and is not public",
    ]
