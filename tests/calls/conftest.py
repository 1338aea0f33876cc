"""Calls under test: the engine served by uvicorn on 127.0.0.1 (the provider calls its
webhooks over real HTTP), simulated buyers, and a provider that signs what it sends."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from twilio.request_validator import RequestValidator

from pingtree.calls.repository import CallRecord, CallStatus
from pingtree.clock import ManualClock
from pingtree.config.document import ConfigDocument
from pingtree.simulator import Agent, CallTranscript, Carrier, RunningSimulator
from tests.engine.conftest import WEDNESDAY_NOON, Harness, _harness
from tests.factories import API_KEY, JSON_PING, VERTICAL
from tests.serving import served

AUTH_TOKEN = "telephony-test-token"
TRACKING = "+18005550100"
CALLER = "+12127365000"
"""The caller: the same person as tests.factories.LEAD_FIELDS' phone."""

CALL_PING: dict[str, Any] = {
    **JSON_PING,
    "capture": {
        "dial": {"source": "json", "path": "$.dial"},
        "min_duration_s": {"source": "json", "path": "$.min_duration_s"},
        "expires_s": {"source": "json", "path": "$.expires_s"},
    },
}
CALL_VERTICAL: dict[str, Any] = {
    **VERTICAL,
    "calls": {
        "caller_field": "phone",
        "greeting": "Thanks for calling.",
        "ivr": [
            {"field": "zip", "say": "Enter your ZIP code.", "digits": 5},
            {
                "field": "credit",
                "say": "Press 1 for good credit.",
                "choices": {"1": "good", "2": "poor"},
            },
        ],
    },
}


def call_row(call_id: str, *, started_at: datetime, lead_id: str | None = None) -> CallRecord:
    """A call being routed, as stored (for tests below the webhooks)."""
    return CallRecord(
        id=call_id,
        publisher="pub",
        vertical="auto",
        tracking_number=TRACKING,
        caller=CALLER,
        status=CallStatus.ROUTING,
        started_at=started_at,
        lead_id=lead_id,
    )


class Calls:
    """The engine, served on a port, and a provider that posts signed webhooks to it."""

    def __init__(self, h: Harness, base_url: str) -> None:
        self.h = h
        self.base_url = base_url
        self.validator = RequestValidator(AUTH_TOKEN)

    @property
    def sim(self) -> RunningSimulator:
        return self.h.sim

    async def webhook(
        self, path: str, params: dict[str, str], *, signature: str | None = None
    ) -> tuple[int, str]:
        """POST a form to a webhook path as the provider does; (status, body)."""
        url = self.base_url + path
        sign = self.validator.compute_signature(url, params) if signature is None else signature
        headers = {"X-Twilio-Signature": sign}
        async with (
            aiohttp.ClientSession() as http,
            http.post(url, data=params, headers=headers) as got,
        ):
            return got.status, await got.text()

    async def configure(
        self, campaigns: list[dict[str, Any]], tiers: list[dict[str, Any]], **tree: Any
    ) -> None:
        await self.h.configure(call_document(campaigns, tiers, **tree))

    async def admin(self, method: str, path: str, **kwargs: Any) -> Any:
        """An admin API call; its JSON."""
        got = await self.h.client.request(
            method,
            f"/api/v1/admin{path}",
            headers={"Authorization": "Bearer admin-test-token"},
            **kwargs,
        )
        assert got.status_code < 300, got.text
        return got.json() if got.content else None

    def carrier(self, agents: dict[str, Agent]) -> Carrier:
        """The provider, placing calls to this engine's voice webhook."""
        return Carrier(
            self.base_url + "/calls/voice",
            AUTH_TOKEN,
            agents,
            status_callback_url=self.base_url + "/calls/status",
            clock=self.h.rt.clock,
        )

    async def place(
        self, agents: dict[str, Agent], digits: tuple[str, ...] = ("10001", "1")
    ) -> tuple[CallTranscript, dict[str, Any]]:
        """A whole call from CALLER to the tracking number: its transcript and its story."""
        call = await self.carrier(agents).place_call(from_=CALLER, to=TRACKING, digits=digits)
        return call, await self.story(call.call_sid)

    async def story(self, call_id: str) -> dict[str, Any]:
        """The call's story, once its routing is over and recorded."""
        session = self.h.rt.call_sessions.get(call_id)
        if session is not None and session.routing is not None:
            await asyncio.wait_for(asyncio.shield(session.routing), 60)
        await self.h.rt.in_flight.drain(60)
        got = await self.h.client.get(
            f"/api/v1/admin/calls/{call_id}", headers={"Authorization": "Bearer admin-test-token"}
        )
        assert got.status_code == 200, got.text
        data: dict[str, Any] = got.json()
        return data


def call_campaign(
    name: str,
    sim: RunningSimulator,
    *,
    dial: str | None = None,
    bid: bool = False,
    price: str = "25.00",
    caps: dict[str, Any] | None = None,
    **call: Any,
) -> dict[str, Any]:
    """A campaign buying calls: a fixed price (no ping) or a bid (the simulator's ping)."""
    spec: dict[str, Any] = {
        "name": name,
        "buyer": name,
        "vertical": "auto",
        "price": {"type": "bid"} if bid else {"type": "fixed", "amount": price},
        "delivery": {"timeout_ms": 2000},
        "call": {"dial": dial, **call},
        "caps": caps or {},
    }
    if bid:
        spec["delivery"]["ping"] = {"url": sim.url(name, "ping"), "response": CALL_PING}
    return spec


def call_document(
    campaigns: list[dict[str, Any]],
    tiers: list[dict[str, Any]],
    *,
    vertical: dict[str, Any] | None = None,
    **tree: Any,
) -> ConfigDocument:
    """The auto vertical taking calls, one publisher with a tracking number, one tree."""
    buyers = sorted({c["buyer"] for c in campaigns})
    return ConfigDocument.model_validate(
        {
            "verticals": [vertical or CALL_VERTICAL],
            "publishers": [
                {
                    "name": "pub",
                    "api_key": API_KEY,
                    "numbers": [{"number": TRACKING, "vertical": "auto"}],
                }
            ],
            "buyers": [{"name": b, "dedup_days": 0} for b in buyers],
            "campaigns": campaigns,
            "trees": [
                {
                    "name": "main",
                    "vertical": "auto",
                    "tiers": tiers,
                    "max_processing_ms": 120_000,
                    **tree,
                }
            ],
            "routes": [{"publisher": "pub", "vertical": "auto", "tree": "main"}],
        }
    )


@pytest.fixture
async def calls(database_url: str) -> AsyncIterator[Calls]:
    """Calls on each database backend; the wall clock is a Wednesday noon that moves when told."""
    async for h in _harness(
        database_url, clock=ManualClock(WEDNESDAY_NOON), telephony_auth_token=AUTH_TOKEN
    ):
        async with served(h.app, lifespan="off") as port:
            yield Calls(h, f"http://127.0.0.1:{port}")


PRICE = Decimal("25.00")
