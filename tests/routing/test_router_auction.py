"""Auctions (parallel and ping_post tiers) through the Router: floors, ranks, turns, and the
auction window that closes on bidders too slow to answer.

A silent bidder keeps its ping open until the window closes: those tests wait the window
(tens of milliseconds) on the event loop, and assert what was recorded, never how long.
"""

from __future__ import annotations

from typing import Any

import pytest

from pingtree.buyers.model import Exchange, Outcome
from pingtree.clock import Deadline
from pingtree.routing.engine import Router
from pingtree.routing.model import Answer, Attempt, Reading, RoutingResult, Skip, SkipReason
from tests import factories
from tests.routing.catalogs import NOW, bidder, catalog, offer, sold
from tests.routing.memory_ports import (
    MemoryCapLedger,
    ScriptedGateway,
    StoppedClock,
    bid,
    rejected,
)


async def _route(
    campaigns: list[dict[str, Any]],
    tiers: list[dict[str, Any]],
    gateway: ScriptedGateway,
    *,
    leads: int = 1,
    **kw: Any,
) -> list[RoutingResult]:
    built = catalog(campaigns, tiers, **kw)
    clock = gateway.clock or StoppedClock(NOW)
    router = Router(gateway=gateway, ledger=MemoryCapLedger(), clock=clock)
    return [
        await router.route(offer(f"lead-{i}"), built.trees["main"], built) for i in range(leads)
    ]


async def test_the_best_bid_wins_every_lead_when_equal_bids_take_turns() -> None:
    gateway = ScriptedGateway(pings={"x": bid("6.00"), "y": bid("5.00"), "z": bid("5.00")})
    results = await _route(
        [bidder("y"), bidder("z"), bidder("x")],
        [factories.tier("t", "parallel", ["y", "z", "x"])],
        gateway,
        leads=3,
    )
    assert [sold(r) for r in results] == [["x"]] * 3


async def test_each_auction_tier_keeps_its_own_turns() -> None:
    gateway = ScriptedGateway(
        pings={name: bid("5.00") for name in "abcd"}, posts={"a": rejected(), "b": rejected()}
    )
    await _route(
        [bidder(name) for name in "abcd"],
        [
            factories.tier("t1", "parallel", ["a", "b"]),
            factories.tier("t2", "ping_post", ["c", "d"]),
        ],
        gateway,
    )
    assert gateway.posted() == ["a", "b", "c"]


async def test_a_bidder_declining_does_not_keep_the_others_from_the_auction() -> None:
    gateway = ScriptedGateway(pings={"no": rejected(), "yes": bid("2.00")})
    [result] = await _route(
        [bidder("no"), bidder("yes")], [factories.tier("t", "parallel", ["no", "yes"])], gateway
    )
    assert sold(result) == ["yes"]


async def test_bids_under_the_campaign_or_ping_post_floor_are_dropped_with_the_floor() -> None:
    gateway = ScriptedGateway(pings={"picky": bid("6.50"), "under": bid("5.99"), "at": bid("6.00")})
    [result] = await _route(
        [bidder("picky", "7.00"), bidder("under"), bidder("at")],
        [factories.tier("t", "ping_post", ["picky", "under", "at"], floor="6.00")],
        gateway,
    )
    assert result.skips == [
        Skip("picky", SkipReason.BELOW_FLOOR, "bid 6.50 < floor 7.00", "t"),
        Skip("under", SkipReason.BELOW_FLOOR, "bid 5.99 < floor 6.00", "t"),
    ]
    assert sold(result) == ["at"]


async def test_a_bidder_silent_past_the_auction_window_is_recorded_late_and_never_posted() -> None:
    clock = StoppedClock(NOW)
    gateway = ScriptedGateway(pings={"fast": bid("5.00", duration_ms=15)}, clock=clock)
    gateway.silent.add("slow")
    [result] = await _route(
        [bidder("slow"), bidder("fast")],
        [factories.tier("t", "parallel", ["slow", "fast"], auction_ms=20)],
        gateway,
    )
    reason = "late for the auction: no bid within its 20 ms window"
    late = Attempt(
        campaign="slow",
        buyer="slow",
        kind=Exchange.PING,
        started_at=NOW,
        answer=Answer(
            Reading(Outcome.TIMEOUT, reason=reason),
            # the auction opened at NOW and closed after the fast bid came in
            duration_ms=pytest.approx(15),
        ),
        tier="t",
    )
    assert [a for a in result.attempts if a.campaign == "slow"] == [late]
    assert result.skips == [Skip("slow", SkipReason.LATE, reason, "t")]
    assert gateway.posted() == ["fast"]
    assert sold(result) == ["fast"]


async def test_without_auction_ms_the_window_keeps_one_post_timeout_for_the_post() -> None:
    clock = StoppedClock(NOW)
    gateway = ScriptedGateway(pings={"fast": bid("5.00")}, clock=clock)
    gateway.silent.add("slow")
    [result] = await _route(
        [bidder("slow", timeout_ms=20), bidder("fast", timeout_ms=20)],
        [factories.tier("t", "ping_post", ["slow", "fast"])],
        gateway,
        tree={"max_processing_ms": 100},
    )
    assert result.skips == [
        Skip("slow", SkipReason.LATE, "late for the auction: no bid within its 80 ms window", "t")
    ]
    assert sold(result) == ["fast"]


async def test_the_window_is_the_time_left_less_the_post_timeout_to_the_millisecond() -> None:
    clock = StoppedClock(NOW)
    gateway = ScriptedGateway(pings={"fast": bid("5.00")}, clock=clock, silent={"slow"})
    built = catalog(
        [bidder("slow", timeout_ms=100), bidder("fast", timeout_ms=100)],
        [factories.tier("t", "ping_post", ["slow", "fast"])],
    )
    router = Router(gateway=gateway, ledger=MemoryCapLedger(), clock=clock)
    # 300.45 ms left, less 100 ms for the post: a window of 200.45 ms, stated as 200.
    result = await router.route(
        offer(), built.trees["main"], built, deadline=Deadline.after_ms(clock, 300.45)
    )
    reason = "late for the auction: no bid within its 200 ms window"
    assert result.skips == [Skip("slow", SkipReason.LATE, reason, "t")]
    assert sold(result) == ["fast"]
