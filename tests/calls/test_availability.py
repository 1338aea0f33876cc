"""A buyer's availability answer: only a clear yes in time dials; a hostile or broken answer
is a busy buyer, never an error that stops the call."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from pingtree.buyers.calls import CallTerms
from pingtree.buyers.model import Campaign
from pingtree.calls.gateway import AVAILABILITY_MAX_BYTES, CallGateway
from pingtree.calls.lines import CallLines
from pingtree.calls.sessions import Sessions
from pingtree.clock import SystemClock
from pingtree.delivery.connections import BuyerConnections
from pingtree.delivery.destinations import Allowlist
from pingtree.delivery.gateway import HttpGateway
from pingtree.delivery.outbound import new_session
from pingtree.storage.db import create_engine


async def _answers(request: web.Request) -> web.StreamResponse:
    kind = request.match_info["kind"]
    if kind == "yes":
        return web.json_response({"available": True})
    if kind == "no":
        return web.json_response({"available": False, "reason": "lunch"})
    if kind == "truthy":
        return web.json_response({"available": "yes"})
    if kind == "huge":
        return web.json_response({"available": True, "pad": "x" * AVAILABILITY_MAX_BYTES})
    if kind == "garbage":
        return web.Response(text="<html>OK</html>")
    if kind == "redirect":
        raise web.HTTPFound("/yes")
    if kind == "error":
        return web.json_response({"available": True}, status=503)
    await asyncio.sleep(5)  # slow
    return web.json_response({"available": True})


@pytest.fixture
async def base() -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_post("/{kind}", _answers)
    app.router.add_get("/yes", _answers)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


@pytest.mark.parametrize(
    ("kind", "why"),
    [
        ("yes", None),
        ("no", "no agent available (lunch)"),
        ("truthy", "no agent available"),
        ("huge", "availability answered too much"),
        ("garbage", "availability failed: JSONDecodeError"),
        ("redirect", "availability answered HTTP 302"),
        ("error", "availability answered HTTP 503"),
        ("slow", "availability did not answer in time"),
    ],
)
async def test_only_a_clear_yes_in_time_is_available(
    base: str, sqlite_url: str, kind: str, why: str | None
) -> None:
    engine = create_engine(sqlite_url)
    http = new_session(allow=Allowlist.parse("127.0.0.1"))
    try:
        clock = SystemClock()
        buyers = BuyerConnections(Allowlist.parse("127.0.0.1"))
        gateway = CallGateway(
            HttpGateway(buyers, clock), Sessions(), CallLines(engine), clock, http
        )
        terms = CallTerms(
            dial="+15550001111", availability_url=f"{base}/{kind}", availability_timeout_ms=300
        )
        campaign = Campaign.model_validate(
            {
                "name": "acme",
                "buyer": "acme",
                "vertical": "auto",
                "price": {"type": "fixed", "amount": "10"},
                "delivery": {},
                "call": terms.model_dump(),
            }
        )
        assert await gateway.unavailable(terms, campaign, "lead-1") == why
    finally:
        await http.close()
        await engine.dispose()
