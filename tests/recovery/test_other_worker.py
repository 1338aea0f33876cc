"""Another worker's recovery (`pingtree serve --workers 2`) leaves a live lead alone.

Recovery takes a lead still `received` long after it arrived for one a crash cut off; the
other worker does not know which leads this one is routing. A lead routed again long after
its arrival (a returned lead offered to the other buyers, a lead approved in review) is
live all the same: its sale must be recorded, not settled away as interrupted.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from pingtree.recovery import service as recovery
from pingtree.reporting.periods import By
from pingtree.reporting.reports import publisher_report
from pingtree.runtime import Runtime
from tests.engine.conftest import ADMIN_TOKEN, WEDNESDAY_NOON, Harness, sim_buyer
from tests.factories import LEAD_FIELDS, campaign, document, tier
from tests.reporting.books import keep_books
from tests.returns.terms import buyer_key, with_terms

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
SLOW_MS = 3000
"""zenith answers its post this late: time for the other worker's recovery pass."""
DAY = WEDNESDAY_NOON.date()
UTC_ZONE = ZoneInfo("UTC")


@asynccontextmanager
async def other_worker(h: Harness) -> AsyncIterator[Runtime]:
    """A second runtime on the same database and clock, as a second worker process is."""
    rt = Runtime(h.rt.settings, clock=h.rt.clock, rng=random.Random(2))
    await rt.start(watch=False)
    try:
        yield rt
    finally:
        await rt.stop()


async def _while_at_zenith(
    h: Harness, routing: Callable[[], Awaitable[Any]]
) -> tuple[Any, recovery.Settled]:
    """Run routing; while zenith holds its post, the other worker's recovery pass."""
    task = asyncio.ensure_future(routing())
    for _ in range(1000):
        if [r for r in h.sim.received("zenith") if r.kind == "post"]:
            break
        await asyncio.sleep(0.01)
    else:
        raise AssertionError("zenith never got the post")
    async with other_worker(h) as rt:
        settled = await rt.recover()
    return await task, settled


async def test_a_returned_lead_offered_again_is_not_settled_by_another_workers_recovery(
    engine_clocked: Harness,
) -> None:
    h = engine_clocked
    h.buyers(sim_buyer("apex"), sim_buyer("zenith", latency_ms_min=SLOW_MS, latency_ms_max=SLOW_MS))
    terms = {"returns": {"reasons": ["fraud"], "auto_approve": True, "offer_again": True}}
    doc = document(
        [campaign(n, h.sim, timeout_ms=10_000) for n in ("apex", "zenith")],
        [tier("t", "priority", ["apex", "zenith"])],
        tree={"max_processing_ms": 10_000},
    )
    await h.configure(with_terms(doc, buyers={"apex": terms, "zenith": terms}))
    sold = (await h.post_lead()).json()
    assert sold["status"] == "sold"
    lead_id = sold["lead_id"]
    h.rt.clock.set(h.rt.clock.now() + timedelta(hours=3))  # apex returns it 3 hours later

    async def returned() -> Any:
        return await h.client.post(
            "/api/v1/returns",
            json={"lead_id": lead_id, "reason": "fraud"},
            headers=buyer_key("apex"),
        )

    answer, settled = await _while_at_zenith(h, returned)
    assert answer.status_code == 201, answer.text
    assert settled == recovery.Settled()
    story = await h.timeline(lead_id)
    assert story["status"] == "sold"
    assert [s["buyer"] for s in story["sales"]] == ["apex", "zenith"]
    assert (await h.client.get("/api/v1/admin/uncertain", headers=ADMIN)).json() == []


async def test_a_lead_approved_in_review_is_not_settled_by_another_workers_recovery(
    engine_clocked: Harness,
) -> None:
    h = engine_clocked
    h.buyers(sim_buyer("zenith", latency_ms_min=SLOW_MS, latency_ms_max=SLOW_MS))
    doc = document(
        [campaign("zenith", h.sim, timeout_ms=10_000)],
        [tier("t", "priority", ["zenith"])],
        tree={"max_processing_ms": 10_000},
        screening={"checks": [{"check": "zip_state_mismatch"}]},  # flags it for review
    )
    await h.configure(doc)
    held = (await h.post_lead({**LEAD_FIELDS, "zip": "90210"})).json()  # a New York lead
    assert held["status"] == "review", held
    lead_id = held["lead_id"]
    h.rt.clock.set(h.rt.clock.now() + timedelta(hours=3))  # reviewed 3 hours later

    async def approved() -> Any:
        return await h.client.post(f"/api/v1/admin/review/{lead_id}/approve", headers=ADMIN)

    answer, settled = await _while_at_zenith(h, approved)
    assert answer.status_code == 200, answer.text
    assert settled == recovery.Settled()
    story = await h.timeline(lead_id)
    assert story["status"] == "sold"
    assert [s["buyer"] for s in story["sales"]] == ["zenith"]


@pytest.mark.parametrize("routed_again", ["review", "return"])
async def test_a_lead_cut_off_while_routed_again_is_counted_once(
    engine_clocked: Harness, routed_again: str
) -> None:
    # A crash while a lead approved in review (or offered again after a return) is routed:
    # recovery settles it, and reports move it from review (sold), not count it sent twice.
    h = engine_clocked
    h.buyers(sim_buyer("apex"), sim_buyer("zenith", hang_rate=1.0))
    terms = {"returns": {"reasons": ["fraud"], "auto_approve": True, "offer_again": True}}
    names = ["apex", "zenith"] if routed_again == "return" else ["zenith"]
    doc = document(
        [campaign(n, h.sim, timeout_ms=60_000) for n in names],
        [tier("t", "priority", names)],
        tree={"max_processing_ms": 60_000},
        screening={"checks": [{"check": "zip_state_mismatch"}]}
        if routed_again == "review"
        else None,
    )
    await h.configure(with_terms(doc, buyers={n: terms for n in names}))
    if routed_again == "review":
        lead_id = (await h.post_lead({**LEAD_FIELDS, "zip": "90210"})).json()["lead_id"]
        path, kw = f"/api/v1/admin/review/{lead_id}/approve", {"headers": ADMIN}
    else:
        lead_id = (await h.post_lead()).json()["lead_id"]
        body = {"lead_id": lead_id, "reason": "fraud"}
        path, kw = "/api/v1/returns", {"json": body, "headers": buyer_key("apex")}
    request = asyncio.ensure_future(h.client.post(path, **kw))
    while not [r for r in h.sim.received("zenith") if r.kind == "post"]:
        await asyncio.sleep(0.01)
    request.cancel()  # the process dies while zenith holds the post
    with pytest.raises(asyncio.CancelledError):
        await request
    h.rt.clock.set(h.rt.clock.now() + timedelta(seconds=1))
    settled = await recovery.settle_interrupted(
        engine=h.rt.engine, clock=h.rt.clock, older_than=timedelta(0), skip=h.rt.in_flight
    )
    assert settled.uncertain == 1
    assert (await h.timeline(lead_id))["status"] == "uncertain"

    await keep_books(h.rt)
    async with h.rt.engine.connect() as conn:
        report = await publisher_report(conn, start=DAY, end=DAY, zone=UTC_ZONE, by=By.TOTAL)
    (pub,) = report.rows
    figures = {k: pub.figures[k] for k in ("sent", "sold", "review", "uncertain", "unsold")}
    assert figures == {"sent": 1, "sold": 0, "review": 0, "uncertain": 1, "unsold": 0}


async def test_a_tree_shortened_while_its_lead_is_routed_does_not_let_recovery_take_it(
    engine_clocked: Harness,
) -> None:
    # A lead of a 200 s tree is at its buyer when the operator shortens the tree to 10 s
    # (`pingtree apply`). The other worker reloads the configuration: recovery must still
    # wait out the 200 s the lead may take, not settle it as interrupted after 120 s.
    h = engine_clocked
    h.buyers(sim_buyer("zenith", latency_ms_min=SLOW_MS, latency_ms_max=SLOW_MS))

    def shaped(tree_ms: int) -> Any:
        return document(
            [campaign("zenith", h.sim, timeout_ms=10_000)],
            [tier("t", "priority", ["zenith"])],
            tree={"max_processing_ms": tree_ms},
        )

    await h.configure(shaped(200_000))
    async with other_worker(h) as rt:
        selling = asyncio.ensure_future(h.post_lead())
        while not [r for r in h.sim.received("zenith") if r.kind == "post"]:
            await asyncio.sleep(0.01)
        await h.configure(shaped(10_000))
        await rt.reload_config()
        h.rt.clock.set(h.rt.clock.now() + timedelta(seconds=130))  # the lead is 130 s old
        settled = await rt.recover()
    answer = (await selling).json()
    assert settled == recovery.Settled()
    assert answer["status"] == "sold"
    assert (await h.timeline(answer["lead_id"]))["status"] == "sold"
