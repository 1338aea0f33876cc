"""One slow bidder never empties an auction: bids are collected for a window only."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

from tests.engine.conftest import Harness, sim_buyer
from tests.factories import campaign, document, tier

LEADS = 16


def _default_timeout(spec: dict[str, Any]) -> dict[str, Any]:
    del spec["delivery"]["timeout_ms"]  # the campaign's default, 3000 ms
    return spec


async def test_a_hanging_bidder_does_not_keep_the_auction_from_posting(engine: Harness) -> None:
    h = engine
    h.buyers(
        sim_buyer("hang", hang_rate=1.0),
        sim_buyer("fast", bid_min=Decimal("20.00"), bid_max=Decimal("20.00")),
    )
    await h.configure(
        document(
            [
                _default_timeout(campaign("hang", h.sim, bid=True)),
                _default_timeout(campaign("fast", h.sim, bid=True)),
            ],
            [tier("auction", "ping_post", ["hang", "fast"])],
            tree={"max_processing_ms": 3000},
        )
    )
    answers = [a.json() for a in await asyncio.gather(*(h.post_lead() for _ in range(LEADS)))]

    assert [a["status"] for a in answers] == ["sold"] * LEADS, [
        (a["status"], a["reasons"]) for a in answers
    ]
    for answer in answers:
        story = await h.timeline(answer["lead_id"])
        assert [(s["campaign"], s["price"]) for s in story["sales"]] == [("fast", "20.00")]
        late = [a for a in story["attempts"] if a["campaign"] == "hang"]
        assert [(a["kind"], a["outcome"]) for a in late] == [("ping", "timeout")]
        assert late[0]["reason"].startswith("late for the auction")
        # The window (half of the time left) closed well before the hang's own 3 s timeout.
        assert late[0]["duration_ms"] < 2500
        assert {s["campaign"]: s["reason"] for s in story["skipped"]} == {"hang": "late"}
    assert len([r for r in h.sim.received("fast") if r.kind == "post"]) == LEADS


async def test_a_late_bid_is_never_used(engine_sqlite: Harness) -> None:
    h = engine_sqlite
    # slow would win at $50, but only answers after the tier's 200 ms window.
    h.buyers(
        sim_buyer(
            "slow",
            bid_min=Decimal("50.00"),
            bid_max=Decimal("50.00"),
            latency_ms_min=600,
            latency_ms_max=600,
        ),
        sim_buyer("fast", bid_min=Decimal("20.00"), bid_max=Decimal("20.00")),
    )
    await h.configure(
        document(
            [campaign("slow", h.sim, bid=True), campaign("fast", h.sim, bid=True)],
            [tier("auction", "ping_post", ["slow", "fast"], auction_ms=200)],
        )
    )
    answer = (await h.post_lead()).json()
    story = await h.timeline(answer["lead_id"])
    assert [s["campaign"] for s in story["sales"]] == ["fast"]
    assert [(a["campaign"], a["kind"], a["outcome"]) for a in story["attempts"]] == [
        ("fast", "ping", "accepted"),
        ("slow", "ping", "timeout"),
        ("fast", "post", "accepted"),
    ]
    assert [r.kind for r in h.sim.received("slow")] == ["ping"]
