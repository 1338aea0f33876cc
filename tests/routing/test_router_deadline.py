"""The lead's one deadline: every ping and post gets only the time left of it.

Time is a StoppedClock: a buyer's answer takes its duration of it and nothing else moves
it, so the time left is exact, down to nothing left at all.
"""

from __future__ import annotations

import pytest

from pingtree.routing.engine import Router
from pingtree.routing.model import RoutingResult, Skip, SkipReason
from tests import factories
from tests.routing.catalogs import NOW, bidder, catalog, fixed, offer, sold
from tests.routing.memory_ports import (
    MemoryCapLedger,
    ScriptedGateway,
    StoppedClock,
    accepted,
    bid,
    rejected,
)

EXACT = 1e-9


def _ported(
    pings: dict | None = None, posts: dict | None = None
) -> tuple[StoppedClock, ScriptedGateway, MemoryCapLedger]:
    clock = StoppedClock(NOW)
    gateway = ScriptedGateway(pings=pings or {}, posts=posts or {}, clock=clock)
    return clock, gateway, MemoryCapLedger()


async def _route(
    tiers: list,
    campaigns: list,
    gateway: ScriptedGateway,
    clock: StoppedClock,
    ledger: MemoryCapLedger | None = None,
    max_ms: int = 1000,
) -> RoutingResult:
    built = catalog(campaigns, tiers, tree={"max_processing_ms": max_ms})
    router = Router(gateway=gateway, ledger=ledger or MemoryCapLedger(), clock=clock)
    return await router.route(offer(), built.trees["main"], built)


async def test_a_ping_and_its_post_share_the_time_left_of_the_lead() -> None:
    clock, gateway, _ = _ported(pings={"slow": bid("5.00", duration_ms=600)})
    result = await _route(
        [factories.tier("t", "priority", ["slow"])],
        [bidder("slow", timeout_ms=2000)],
        gateway,
        clock,
    )
    assert sold(result) == ["slow"]
    assert gateway.call("ping", "slow").timeout == pytest.approx(1.0, abs=EXACT)
    assert gateway.call("post", "slow").timeout == pytest.approx(0.4, abs=EXACT)
    assert not result.timed_out


async def test_with_time_to_spare_a_ping_and_a_post_get_the_campaign_timeout() -> None:
    clock, gateway, _ = _ported(pings={"b": bid("5.00", duration_ms=100)})
    result = await _route(
        [factories.tier("t", "priority", ["b"])],
        [bidder("b", timeout_ms=2000)],
        gateway,
        clock,
        max_ms=5000,
    )
    assert sold(result) == ["b"]
    assert gateway.call("ping", "b").timeout == pytest.approx(2.0, abs=EXACT)
    assert gateway.call("post", "b").timeout == pytest.approx(2.0, abs=EXACT)


async def test_a_post_is_sent_with_whatever_time_is_left_however_little() -> None:
    clock, gateway, ledger = _ported(pings={"b": bid("5.00", duration_ms=999.5)})
    result = await _route(
        [factories.tier("t", "priority", ["b"])], [bidder("b")], gateway, clock, ledger
    )
    assert sold(result) == ["b"]
    assert gateway.call("post", "b").timeout == pytest.approx(0.0005, abs=EXACT)
    assert [h.hold_s for h in ledger.holds] == [pytest.approx(0.0005, abs=EXACT)]


async def test_half_a_second_left_still_pings_the_next_campaign_and_tier() -> None:
    clock, gateway, _ = _ported(
        pings={
            "first": rejected(duration_ms=250),
            "second": rejected(duration_ms=250),
            "third": bid("5.00"),
        }
    )
    result = await _route(
        [
            factories.tier("t1", "priority", ["first", "second"]),
            factories.tier("t2", "priority", ["third"]),
        ],
        [bidder("first"), bidder("second"), bidder("third")],
        gateway,
        clock,
    )
    assert gateway.pinged() == ["first", "second", "third"]
    assert gateway.call("ping", "second").timeout == pytest.approx(0.75, abs=EXACT)
    assert gateway.call("ping", "third").timeout == pytest.approx(0.5, abs=EXACT)
    assert sold(result) == ["third"]
    assert not result.timed_out


async def test_an_unsold_lead_with_time_left_is_not_timed_out() -> None:
    clock, gateway, _ = _ported(pings={"no": rejected(duration_ms=500)})
    result = await _route([factories.tier("t", "priority", ["no"])], [bidder("no")], gateway, clock)
    assert (result.sales, result.timed_out) == ([], False)


async def test_no_time_left_for_the_post_skips_it_and_takes_no_cap_room() -> None:
    clock, gateway, ledger = _ported(pings={"b": bid("5.00", duration_ms=1000)})
    result = await _route(
        [factories.tier("t", "priority", ["b"])], [bidder("b")], gateway, clock, ledger
    )
    assert gateway.posted() == []
    assert result.skips == [Skip("b", SkipReason.DEADLINE, "no time left to post", "t")]
    assert (result.sales, ledger.holds, result.released) == ([], [], [])
    assert result.timed_out


async def test_out_of_time_the_rest_of_the_tree_is_skipped_campaign_by_campaign() -> None:
    clock, gateway, _ = _ported(pings={"slow": rejected(duration_ms=1000)})
    result = await _route(
        [
            factories.tier("t1", "priority", ["slow", "next"]),
            factories.tier("t2", "parallel", ["p1", "p2"]),
            factories.tier("t3", "price", ["fixed"]),
        ],
        [bidder("slow"), bidder("next"), bidder("p1"), bidder("p2"), fixed("fixed")],
        gateway,
        clock,
    )
    assert gateway.pinged() == ["slow"]
    assert gateway.posted() == []
    late = "maximum processing time reached"
    assert result.skips == [
        Skip("next", SkipReason.DEADLINE, "no time left to ping", "t1"),
        Skip("p1", SkipReason.DEADLINE, late, "t2"),
        Skip("p2", SkipReason.DEADLINE, late, "t2"),
        Skip("fixed", SkipReason.DEADLINE, late, "t3"),
    ]
    assert result.timed_out


async def test_a_sold_lead_is_not_timed_out_and_later_tiers_are_left_alone() -> None:
    clock, gateway, _ = _ported(pings={"b": bid("5.00", duration_ms=10)})
    result = await _route(
        [
            factories.tier("t1", "priority", ["b"]),
            factories.tier("t2", "priority", ["later"]),
        ],
        [bidder("b"), bidder("later")],
        gateway,
        clock,
    )
    assert sold(result) == ["b"]
    assert gateway.sent == [("ping", "b"), ("post", "b")]
    assert (result.skips, result.timed_out) == ([], False)


async def test_a_post_that_takes_the_last_of_the_time_still_sells() -> None:
    clock, gateway, _ = _ported(posts={"f": accepted(duration_ms=1000)})
    result = await _route([factories.tier("t", "priority", ["f"])], [fixed("f")], gateway, clock)
    assert sold(result) == ["f"]
    assert not result.timed_out


async def test_a_cap_hold_that_takes_the_last_of_the_time_is_given_back_unposted() -> None:
    clock, gateway, _ = _ported()
    ledger = MemoryCapLedger(clock=clock, takes_ms=1000)
    result = await _route(
        [factories.tier("t", "priority", ["f", "g"])],
        [fixed("f"), fixed("g")],
        gateway,
        clock,
        ledger,
    )
    assert gateway.posted() == []
    assert [h.campaign for h in ledger.holds] == ["f"]
    assert result.released == [ledger.holds[0].reservation]
    assert result.skips == [
        Skip("f", SkipReason.DEADLINE, "no time left to post", "t"),
        Skip("g", SkipReason.DEADLINE, "no time left to post", "t"),
    ]
    assert result.timed_out


async def test_a_cap_hold_lasts_as_long_as_the_lead_has_time_left() -> None:
    clock, gateway, ledger = _ported(pings={"b": bid("5.00", duration_ms=300)})
    await _route([factories.tier("t", "priority", ["b"])], [bidder("b")], gateway, clock, ledger)
    assert [h.hold_s for h in ledger.holds] == [pytest.approx(0.7, abs=EXACT)]
