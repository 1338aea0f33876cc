"""After a refused or failed request, the client's keep-alive connection still works
(a real uvicorn server, one socket, two requests)."""

from __future__ import annotations

import asyncio
import http.client
import json
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text

from tests.engine.conftest import ADMIN_TOKEN, Harness, sim_buyer
from tests.factories import API_KEY, LEAD_FIELDS, campaign, document, tier
from tests.serving import served

Exchange = tuple[int, bytes]


def _lead_with(field: str, value: str) -> bytes:
    # json.dumps escapes both as \u0000 and \ud800, as a client's JSON carries them.
    return json.dumps({"vertical": "auto", "fields": {**LEAD_FIELDS, field: value}}).encode()


async def _serve(h: Harness) -> AsyncIterator[int]:
    async with served(h.app) as port:
        yield port


@pytest.fixture
async def port(engine: Harness) -> AsyncIterator[int]:
    engine.buyers(sim_buyer("acme"))
    await engine.configure(
        document([campaign("acme", engine.sim)], [tier("t1", "priority", ["acme"])])
    )
    async for bound in _serve(engine):
        yield bound


def _two_requests(port: int, first: tuple[str, str, bytes | None]) -> list[Exchange]:
    """The first request, then a lead, on one connection; fails if the server dropped it."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"X-API-Key": API_KEY, "Content-Type": "application/json"}
    headers["Authorization"] = f"Bearer {ADMIN_TOKEN}"
    answers = []
    try:
        method, path, body = first
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        answers.append((response.status, response.read()))
        sock = conn.sock
        assert sock is not None and not response.will_close
        lead = json.dumps({"vertical": "auto", "fields": LEAD_FIELDS}).encode()
        conn.request("POST", "/api/v1/leads", body=lead, headers=headers)
        response = conn.getresponse()
        answers.append((response.status, response.read()))
        assert conn.sock is sock, "the server closed the connection"
    finally:
        conn.close()
    return answers


@pytest.mark.parametrize(
    ("first", "status"),
    [
        (("GET", "/api/v1/leads/abc%00", None), 404),
        (("GET", "/api/v1/admin/leads?status=%00", None), 422),
        (("POST", "/api/v1/leads", _lead_with("first_name", "Ada\x00")), 422),
        (("POST", "/api/v1/leads", _lead_with("first_name", "Ada\ud800")), 422),
    ],
    ids=["nul-in-id", "nul-in-query", "nul-in-field", "surrogate-in-field"],
)
async def test_bad_input_leaves_the_connection_usable(
    port: int, first: tuple[str, str, bytes | None], status: int
) -> None:
    (code, _), (after, body) = await asyncio.to_thread(_two_requests, port, first)
    assert code == status
    assert after == 200 and json.loads(body)["status"] == "sold"


async def test_an_unexpected_error_is_a_503_and_the_connection_goes_on(
    engine_sqlite: Harness,
) -> None:
    h = engine_sqlite
    h.buyers(sim_buyer("acme"))
    await h.configure(document([campaign("acme", h.sim)], [tier("t1", "priority", ["acme"])]))
    async for port in _serve(h):
        # The database loses the inbound pings table under the app: a post cannot read it.
        async with h.rt.engine.begin() as conn:
            await conn.execute(text("ALTER TABLE inbound_pings RENAME TO gone"))
        post = json.dumps({"ping_id": "p", "fields": LEAD_FIELDS}).encode()
        (code, body), (after, _) = await asyncio.to_thread(
            _two_requests, port, ("POST", "/api/v1/posts", post)
        )
        assert code == 503 and json.loads(body)["reasons"][0]["code"] == "unavailable"
        assert after == 200
