"""Call buyers in the buyer simulator: bids with a dial target, a minimum duration and an
expiry, and the availability check before a dial."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import aiohttp
import pytest
from pydantic import ValidationError

from pingtree.delivery.signing import sign

from .conftest import StartSim, buyer


async def test_call_bids_carry_dial_min_duration_and_expiry(
    start_sim: StartSim, http: aiohttp.ClientSession
) -> None:
    sim = await start_sim(
        buyer("calls", dial="sip:agents@calls.example", min_duration_s=90, bid_expires_s=30),
        buyer("leads"),
    )
    async with http.post(sim.url("calls", "ping"), json={"zip": "94107"}) as r:
        bid = await r.json()
    assert bid["dial"] == "sip:agents@calls.example"
    assert (bid["min_duration_s"], bid["expires_s"]) == (90, 30)
    async with http.post(sim.url("calls", "post"), json={"bid_id": bid["bid_id"]}) as r:
        accepted = await r.json()
    assert accepted["status"] == "accepted" and accepted["dial"] == "sip:agents@calls.example"
    assert "min_duration_s" not in accepted
    # A buyer without the options answers as it always did.
    async with http.post(sim.url("leads", "ping"), json={}) as r:
        assert set(await r.json()) == {"status", "bid_id", "price"}


async def test_bid_fields_go_as_sent_over_the_others(
    start_sim: StartSim, http: aiohttp.ClientSession
) -> None:
    sim = await start_sim(buyer(bid_expires_s=30, bid_fields={"expires_s": "1e9999999"}))
    async with http.post(sim.url("acme", "ping"), json={}) as r:
        bid = await r.json()
    assert bid["expires_s"] == "1e9999999" and bid["status"] == "bid"


async def test_call_bid_in_xml(start_sim: StartSim, http: aiohttp.ClientSession) -> None:
    sim = await start_sim(buyer(respond_as="xml", dial="+13125550001", min_duration_s=60))
    async with http.post(sim.url("acme", "ping"), json={}) as r:
        bid = ET.fromstring(await r.text())
    assert bid.findtext("dial") == "+13125550001"
    assert bid.findtext("min_duration_s") == "60"
    assert bid.find("expires_s") is None


async def test_no_bid_carries_no_dial(start_sim: StartSim, http: aiohttp.ClientSession) -> None:
    sim = await start_sim(buyer(no_bid_rate=1.0, dial="+13125550001"))
    async with http.post(sim.url("acme", "ping"), json={}) as r:
        assert "dial" not in await r.json()


async def test_availability_answers_and_is_recorded(
    start_sim: StartSim, http: aiohttp.ClientSession
) -> None:
    sim = await start_sim(buyer())
    async with http.get(sim.url("acme", "available")) as r:
        assert r.status == 200
        assert await r.json() == {"available": True}
    sim.buyer("acme").available = False
    async with http.post(sim.url("acme", "available"), json={"caller_state": "CA"}) as r:
        assert await r.json() == {"available": False, "reason": "all agents are busy"}
    first, second = sim.received("acme")
    assert (first.kind, first.outcome, first.http_status) == ("available", "available", 200)
    assert (second.kind, second.outcome) == ("available", "unavailable")
    assert second.body == {"caller_state": "CA"}
    assert second.path == "/buyers/acme/available"


async def test_availability_rate_is_seeded_and_leaves_bids_alone(
    start_sim: StartSim, http: aiohttp.ClientSession
) -> None:
    async def run(checks: bool) -> tuple[list[bool], list[str]]:
        sim = await start_sim(buyer(seed=5, available_rate=0.5))
        seen: list[bool] = []
        prices: list[str] = []
        for _ in range(30):
            if checks:
                async with http.get(sim.url("acme", "available")) as r:
                    seen.append((await r.json())["available"])
            async with http.post(sim.url("acme", "ping"), json={}) as r:
                prices.append((await r.json())["price"])
        return seen, prices

    seen, prices = await run(checks=True)
    again, _ = await run(checks=True)
    _, prices_without_checks = await run(checks=False)
    assert seen == again
    assert True in seen and False in seen
    # Availability draws from its own stream: the n-th bid is the same with or without checks.
    assert prices == prices_without_checks


async def test_availability_checks_signatures_and_bodies(
    start_sim: StartSim, http: aiohttp.ClientSession
) -> None:
    sim = await start_sim(buyer(signing_secret="s3cret"), buyer("open", respond_as="xml"))
    async with http.post(sim.url("acme", "available"), json={}) as r:
        assert r.status == 401
    signed = {"X-Pingtree-Signature": sign("s3cret", b"", datetime.now(UTC))}
    async with http.get(sim.url("acme", "available"), headers=signed) as r:
        assert r.status == 200
    assert [r.outcome for r in sim.received("acme")] == ["bad_signature", "available"]
    async with http.post(
        sim.url("open", "available"), data="{", headers={"Content-Type": "application/json"}
    ) as r:
        assert r.status == 400
    async with http.get(sim.url("open", "available")) as r:
        answer = ET.fromstring(await r.text())
    assert answer.findtext("available") == "true"


def test_call_options_are_validated() -> None:
    with pytest.raises(ValidationError, match="min_duration_s"):
        buyer(min_duration_s=-1)
    with pytest.raises(ValidationError, match="bid_expires_s"):
        buyer(bid_expires_s=0)
    with pytest.raises(ValidationError, match="available_rate"):
        buyer(available_rate=1.5)
    with pytest.raises(ValidationError, match="dial"):
        buyer(dial="")
