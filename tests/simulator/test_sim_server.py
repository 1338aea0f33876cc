"""The simulator over real HTTP: bids, posts, faults, latency, bodies and records."""

from __future__ import annotations

import asyncio
import time
import xml.etree.ElementTree as ET
from decimal import Decimal

import aiohttp
import pytest

from pingtree.simulator import RunningSimulator, SimBuyer
from pingtree.simulator.running import EndpointKind

from .conftest import StartSim, buyer


async def ping(
    http: aiohttp.ClientSession, sim: RunningSimulator, name: str = "acme"
) -> dict[str, str]:
    async with http.post(sim.url(name, "ping"), json={"zip": "90210", "state": "CA"}) as r:
        assert r.status == 200
        answer: dict[str, str] = await r.json()
        return answer


async def post(
    http: aiohttp.ClientSession, sim: RunningSimulator, name: str = "acme", **fields: str
) -> dict[str, str]:
    async with http.post(sim.url(name, "post"), json={"email": "a@b.example", **fields}) as r:
        assert r.status == 200
        answer: dict[str, str] = await r.json()
        return answer


async def test_health_and_unknown_buyer(start_sim: StartSim, http: aiohttp.ClientSession) -> None:
    sim = await start_sim(buyer("acme"), buyer("zeta"))
    async with http.get(f"{sim.base_url}/health") as r:
        assert r.status == 200
        assert await r.json() == {"status": "ok", "buyers": ["acme", "zeta"]}
    async with http.post(f"{sim.base_url}/buyers/nobody/ping", json={}) as r:
        assert r.status == 404
        assert (await r.json())["error"] == "unknown buyer 'nobody'"
    with pytest.raises(KeyError, match="nobody"):
        sim.url("nobody", "ping")


async def test_bids_fall_within_distribution(
    start_sim: StartSim, http: aiohttp.ClientSession
) -> None:
    sim = await start_sim(buyer(bid_min=Decimal("10.00"), bid_max=Decimal("12.00")))
    answers = await asyncio.gather(*(ping(http, sim) for _ in range(100)))
    for answer in answers:
        assert set(answer) == {"status", "bid_id", "price"}
        assert answer["status"] == "bid"
        assert Decimal("10.00") <= Decimal(answer["price"]) <= Decimal("12.00")
        assert len(answer["price"].split(".")[1]) == 2
    assert len({a["bid_id"] for a in answers}) == 100
    assert len({a["price"] for a in answers}) > 10


async def test_no_bid(start_sim: StartSim, http: aiohttp.ClientSession) -> None:
    sim = await start_sim(buyer(no_bid_rate=1.0), buyer("zero", bid_min=0, bid_max=0))
    assert (await ping(http, sim))["status"] == "no_bid"
    answer = await ping(http, sim, "zero")
    assert answer == {"status": "no_bid", "reason": "bid is zero"}


async def test_decisions_are_reproducible_under_a_seed(
    start_sim: StartSim, http: aiohttp.ClientSession
) -> None:
    def mixed(seed: int) -> SimBuyer:
        return buyer(
            seed=seed,
            accept_rate=0.5,
            no_bid_rate=0.3,
            duplicate_rate=0.1,
            error_rate=0.1,
            garbage_rate=0.1,
        )

    async def run(sim: RunningSimulator) -> list[tuple[str, ...]]:
        seen: list[tuple[str, ...]] = []
        for i in range(40):
            kind: EndpointKind = "ping" if i % 2 else "post"
            async with http.post(sim.url("acme", kind), json={"n": i}) as r:
                text = await r.text()
                if r.content_type == "application/json" and r.status == 200:
                    body = await r.json()
                    seen.append((str(r.status), body["status"], body.get("price", "")))
                else:
                    seen.append((str(r.status), text))
        return seen

    first = await run(await start_sim(mixed(7)))
    again = await run(await start_sim(mixed(7)))
    other = await run(await start_sim(mixed(8)))
    assert first == again
    assert first != other
    assert {s[1] for s in first if s[0] == "200"} >= {"accepted", "rejected"}


async def test_post_honours_bid_id_in_every_body_format(
    start_sim: StartSim, http: aiohttp.ClientSession
) -> None:
    sim = await start_sim(buyer(redirect_url="https://acme.example/next"))
    bids = [await ping(http, sim) for _ in range(4)]

    async with http.post(sim.url("acme", "post"), json={"bid_id": bids[0]["bid_id"]}) as r:
        json_answer = await r.json()
    async with http.post(sim.url("acme", "post"), data={"bid_id": bids[1]["bid_id"]}) as r:
        form_answer = await r.json()
    xml = f"<lead><email>a@b.example</email><bid_id>{bids[2]['bid_id']}</bid_id></lead>"
    async with http.post(
        sim.url("acme", "post"), data=xml, headers={"Content-Type": "application/xml"}
    ) as r:
        xml_answer = await r.json()
    async with http.post(
        sim.url("acme", "post"), json={"email": "x"}, headers={"X-Bid-Id": bids[3]["bid_id"]}
    ) as r:
        header_answer = await r.json()

    for bid, answer in zip(
        bids, [json_answer, form_answer, xml_answer, header_answer], strict=True
    ):
        assert answer["status"] == "accepted"
        assert answer["price"] == bid["price"]
        assert answer["redirect_url"] == "https://acme.example/next"
        assert set(answer) == {"status", "lead_id", "price", "redirect_url"}


async def test_a_long_bid_id_is_honoured_whole_and_only_whole(
    start_sim: StartSim, http: aiohttp.ClientSession
) -> None:
    sim = await start_sim(buyer(bid_id_length=600))
    bid = await ping(http, sim)
    assert len(bid["bid_id"]) == 600
    assert (await post(http, sim, bid_id=bid["bid_id"][:255]))["status"] == "rejected"
    assert (await post(http, sim, bid_id=bid["bid_id"]))["status"] == "accepted"


async def test_unknown_bid_is_rejected(start_sim: StartSim, http: aiohttp.ClientSession) -> None:
    sim = await start_sim(buyer("acme"), buyer("other"))
    foreign = await ping(http, sim, "other")
    assert await post(http, sim, bid_id="not-a-bid") == {
        "status": "rejected",
        "reason": "unknown bid",
    }
    # A bid is honoured only by the buyer that issued it.
    assert (await post(http, sim, bid_id=foreign["bid_id"]))["reason"] == "unknown bid"


async def test_direct_post_prices_from_distribution(
    start_sim: StartSim, http: aiohttp.ClientSession
) -> None:
    sim = await start_sim(buyer(bid_min=Decimal("3.00"), bid_max=Decimal("4.00")))
    answer = await post(http, sim)
    assert answer["status"] == "accepted"
    assert Decimal("3.00") <= Decimal(answer["price"]) <= Decimal("4.00")
    assert "redirect_url" not in answer


async def test_rejected_duplicate_and_runtime_changes(
    start_sim: StartSim, http: aiohttp.ClientSession
) -> None:
    sim = await start_sim(buyer(accept_rate=0.0))
    answer = await post(http, sim)
    assert answer["status"] == "rejected" and answer["reason"]
    sim.buyer("acme").accept_rate = 1.0
    assert (await post(http, sim))["status"] == "accepted"
    sim.buyer("acme").duplicate_rate = 1.0
    assert await post(http, sim) == {"status": "duplicate", "reason": "already have this lead"}
    sim.set_buyer(buyer("acme", bid_min=Decimal("1.00"), bid_max=Decimal("1.00")))
    assert sim.received("acme") == []
    assert (await post(http, sim))["price"] == "1.00"


async def test_error_answers_500_json(start_sim: StartSim, http: aiohttp.ClientSession) -> None:
    sim = await start_sim(buyer(error_rate=1.0))
    for kind in ("ping", "post"):
        async with http.post(sim.url("acme", kind), json={}) as r:
            assert r.status == 500
            assert r.content_type == "application/json"
            assert (await r.json())["status"] == "error"
    assert [(r.outcome, r.http_status) for r in sim.received("acme")] == [("error", 500)] * 2


async def test_garbage_answers_200_html(start_sim: StartSim, http: aiohttp.ClientSession) -> None:
    sim = await start_sim(buyer(garbage_rate=1.0))
    for kind in ("ping", "post"):
        async with http.post(sim.url("acme", kind), json={}) as r:
            assert r.status == 200
            assert r.content_type == "text/html"
            assert await r.text() == "<html><body>Internal error</body></html>"


async def test_hang_times_the_client_out_and_does_not_block_stop(
    start_sim: StartSim, http: aiohttp.ClientSession
) -> None:
    sim = await start_sim(buyer(hang_rate=1.0))
    for kind in ("ping", "post"):
        with pytest.raises(asyncio.TimeoutError):
            await http.post(sim.url("acme", kind), json={}, timeout=aiohttp.ClientTimeout(0.3))
    assert [r.outcome for r in sim.received("acme")] == ["hang", "hang"]
    assert all(r.http_status is None for r in sim.received("acme"))

    pending = asyncio.ensure_future(http.post(sim.url("acme", "ping"), json={}))
    while len(sim.received("acme")) < 3:
        await asyncio.sleep(0.01)
    started = time.monotonic()
    await sim.stop()
    assert time.monotonic() - started < 1.0
    with pytest.raises(aiohttp.ClientError):
        await pending


async def test_latency_is_respected(start_sim: StartSim, http: aiohttp.ClientSession) -> None:
    sim = await start_sim(buyer(latency_ms_min=200, latency_ms_max=300))
    for kind in ("ping", "post"):
        started = time.monotonic()
        async with http.post(sim.url("acme", kind), json={}) as r:
            assert r.status == 200
        elapsed = time.monotonic() - started
        assert 0.19 <= elapsed < 2.0


async def test_latency_does_not_serialise_concurrent_requests(
    start_sim: StartSim,
) -> None:
    sim = await start_sim(buyer(latency_ms_min=300, latency_ms_max=300))
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        started = time.monotonic()
        answers = await asyncio.gather(*(ping(http, sim) for _ in range(300)))
        elapsed = time.monotonic() - started
    assert all(a["status"] == "bid" for a in answers)
    # Serialised, 300 answers of 300 ms would take 90 s; concurrent, well under a second
    # plus the machine's load. A tenth of the serial time leaves a loaded CI room.
    serial = 300 * 0.3
    assert elapsed < serial / 10, elapsed


async def test_bodies_are_parsed_and_recorded(
    start_sim: StartSim, http: aiohttp.ClientSession
) -> None:
    sim = await start_sim(buyer())
    await http.post(sim.url("acme", "ping"), json={"zip": "90210", "age": 40})
    await http.post(sim.url("acme", "post"), data={"zip": "90210", "email": "a@b.example"})
    await http.post(
        sim.url("acme", "post"),
        data="<lead><zip>90210</zip><email>a@b.example</email></lead>",
        headers={"Content-Type": "text/xml", "Authorization": "Bearer k"},
    )
    records = sim.received("acme")
    assert [r.kind for r in records] == ["ping", "post", "post"]
    assert records[0].body == {"zip": "90210", "age": 40}
    assert records[1].body == {"zip": "90210", "email": "a@b.example"}
    assert records[2].body == {"zip": "90210", "email": "a@b.example"}
    assert records[2].header("authorization") == "Bearer k"
    assert records[2].raw_body.startswith("<lead>")
    assert all(r.received_at.tzinfo is not None for r in records)
    assert [r.outcome for r in records] == ["bid", "accepted", "accepted"]


async def test_unparseable_body_is_400_and_recorded(
    start_sim: StartSim, http: aiohttp.ClientSession
) -> None:
    sim = await start_sim(buyer())
    async with http.post(
        sim.url("acme", "post"), data="{broken", headers={"Content-Type": "application/json"}
    ) as r:
        assert r.status == 400
        answer = await r.json()
    assert answer["status"] == "error" and "not valid JSON" in answer["error"]
    async with http.post(
        sim.url("acme", "ping"), data="<lead><a></lead>", headers={"Content-Type": "text/xml"}
    ) as r:
        assert r.status == 400
    (first, second) = sim.received("acme")
    assert (first.outcome, first.http_status, first.raw_body) == ("bad_request", 400, "{broken")
    assert second.error is not None and "XML" in second.error


async def test_xml_responses(start_sim: StartSim, http: aiohttp.ClientSession) -> None:
    sim = await start_sim(buyer(respond_as="xml", redirect_url="https://x.example/?a=1&b=2"))
    async with http.post(sim.url("acme", "ping"), json={}) as r:
        assert r.content_type == "application/xml"
        bid = ET.fromstring(await r.text())
    assert bid.tag == "response"
    assert [child.tag for child in bid] == ["status", "bid_id", "price"]
    assert bid.findtext("status") == "bid"
    async with http.post(sim.url("acme", "post"), json={"bid_id": bid.findtext("bid_id")}) as r:
        accepted = ET.fromstring(await r.text())
    assert accepted.findtext("status") == "accepted"
    assert accepted.findtext("price") == bid.findtext("price")
    assert accepted.findtext("redirect_url") == "https://x.example/?a=1&b=2"
    assert accepted.findtext("lead_id")


async def test_received_endpoints(start_sim: StartSim, http: aiohttp.ClientSession) -> None:
    sim = await start_sim(buyer())
    await ping(http, sim)
    await post(http, sim)
    async with http.get(sim.url("acme", "received")) as r:
        listing = await r.json()
    assert listing["buyer"] == "acme" and listing["count"] == 2
    first = listing["requests"][0]
    assert set(first) == {
        "kind",
        "received_at",
        "headers",
        "body",
        "raw_body",
        "outcome",
        "http_status",
        "error",
        "path",
    }
    assert first["kind"] == "ping" and first["body"] == {"zip": "90210", "state": "CA"}
    assert first["path"] == "/buyers/acme/ping"
    assert first["outcome"] == "bid" and first["http_status"] == 200
    async with http.delete(sim.url("acme", "received")) as r:
        assert await r.json() == {"status": "ok", "cleared": 2}
    assert sim.received("acme") == []
