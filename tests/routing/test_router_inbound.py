"""Inbound ping-post through the Router: collect_bids answers a publisher's ping with every
tier's bids, best first; sell_to_bids posts the full lead to them later, in that order.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from pingtree.config.catalog import Catalog
from pingtree.routing.engine import Router
from pingtree.routing.model import RoutingResult, SaleResult, Skip, SkipReason
from pingtree.routing.ports import Bid
from tests import factories
from tests.routing.catalogs import NOW, bidder, catalog, fixed, offer, sold
from tests.routing.memory_ports import (
    Claim,
    MemoryCapLedger,
    MemoryPurchases,
    ScriptedGateway,
    StoppedClock,
    bid,
    rejected,
)

EXACT = 1e-9


def _router(
    gateway: ScriptedGateway,
    ledger: MemoryCapLedger | None = None,
    purchases: MemoryPurchases | None = None,
) -> Router:
    ledger = ledger or MemoryCapLedger()
    ledger.purchases = ledger.purchases or purchases  # claimed with the hold, as in SQL
    return Router(
        gateway=gateway,
        ledger=ledger,
        clock=gateway.clock or StoppedClock(NOW),
        purchases=purchases,
    )


async def _collect(
    built: Catalog, gateway: ScriptedGateway, *, test: bool = False, ledger: Any = None
) -> tuple[list[tuple[str, Bid]], RoutingResult]:
    router = _router(gateway, ledger)
    return await router.collect_bids(offer(test=test), built.trees["main"], built)


def _bids(*entries: tuple[str, str, str]) -> list[tuple[str, Bid]]:
    """(tier, campaign, price) as collect_bids hands them out."""
    return [(tier, Bid(campaign, Decimal(price), None)) for tier, campaign, price in entries]


# --- collect_bids --------------------------------------------------------------------------


async def test_every_tier_is_asked_at_once_and_the_bids_come_best_first() -> None:
    built = catalog(
        [bidder("a"), bidder("b"), bidder("c")],
        [
            factories.tier("t1", "priority", ["a"]),
            factories.tier("t2", "parallel", ["b", "c"]),
        ],
    )
    gateway = ScriptedGateway(
        pings={"a": bid("5.00"), "b": bid("7.00", reference="b-1"), "c": bid("6.00")}
    )
    bids, record = await _collect(built, gateway)
    assert bids == [
        ("t2", Bid("b", Decimal("7.00"), "b-1")),
        ("t2", Bid("c", Decimal("6.00"), None)),
        ("t1", Bid("a", Decimal("5.00"), None)),
    ]
    assert gateway.posted() == []
    assert sorted(a.campaign for a in record.attempts) == ["a", "b", "c"]
    assert {a.tier for a in record.attempts if a.campaign == "a"} == {"t1"}


async def test_equal_bids_in_two_tiers_rank_the_earlier_tier_first() -> None:
    built = catalog(
        [bidder("late"), bidder("early")],
        [factories.tier("t1", "parallel", ["early"]), factories.tier("t2", "parallel", ["late"])],
    )
    gateway = ScriptedGateway(pings={"early": bid("5.00"), "late": bid("5.00")})
    bids, _ = await _collect(built, gateway)
    assert bids == _bids(("t1", "early", "5.00"), ("t2", "late", "5.00"))


async def test_a_campaign_in_two_tiers_keeps_its_best_bid() -> None:
    built = catalog(
        [bidder("twice"), bidder("other")],
        [
            factories.tier("t1", "parallel", ["twice", "other"]),
            factories.tier("t2", "parallel", ["twice"]),
        ],
    )
    # The first tier's ping is answered first.
    gateway = ScriptedGateway(pings={"twice": [bid("6.00"), bid("8.00")], "other": bid("7.00")})
    bids, _ = await _collect(built, gateway)
    assert bids == _bids(("t2", "twice", "8.00"), ("t1", "other", "7.00"))


async def test_a_fixed_price_campaign_bids_its_price_unasked() -> None:
    built = catalog(
        [fixed("f", "9.00"), bidder("b")], [factories.tier("t", "parallel", ["f", "b"])]
    )
    gateway = ScriptedGateway(pings={"b": bid("8.00")})
    bids, _ = await _collect(built, gateway)
    assert bids == _bids(("t", "f", "9.00"), ("t", "b", "8.00"))
    assert gateway.pinged() == ["b"]


async def test_floors_and_eligibility_are_recorded_in_the_ping_record() -> None:
    built = catalog(
        [bidder("low"), bidder("full"), bidder("ok")],
        [factories.tier("t", "ping_post", ["low", "full", "ok"], floor="3.00")],
    )
    gateway = ScriptedGateway(pings={"low": bid("2.99"), "ok": bid("3.00")})
    ledger = MemoryCapLedger(closed={"full": "daily cap 5 reached"})
    bids, record = await _collect(built, gateway, ledger=ledger)
    assert bids == _bids(("t", "ok", "3.00"))
    assert record.skips == [
        Skip("full", SkipReason.CAP, "daily cap 5 reached", "t"),
        Skip("low", SkipReason.BELOW_FLOOR, "bid 2.99 < floor 3.00", "t"),
    ]
    assert (record.sales, ledger.holds) == ([], [])


async def test_a_test_ping_asks_campaigns_whose_caps_are_full() -> None:
    built = catalog([bidder("full")], [factories.tier("t", "parallel", ["full"])])
    gateway = ScriptedGateway(pings={"full": bid("4.00")})
    ledger = MemoryCapLedger(closed={"full": "daily cap 5 reached"})
    bids, record = await _collect(built, gateway, ledger=ledger, test=True)
    assert bids == _bids(("t", "full", "4.00"))
    assert gateway.call("ping", "full").test
    assert record.skips == []


async def test_pings_get_the_time_left_of_the_trees_maximum_processing_time() -> None:
    built = catalog(
        [bidder("b", timeout_ms=3000)],
        [factories.tier("t", "parallel", ["b"])],
        tree={"max_processing_ms": 1500},
    )
    gateway = ScriptedGateway(pings={"b": bid("4.00")})
    await _collect(built, gateway)
    assert gateway.call("ping", "b").timeout == pytest.approx(1.5, abs=EXACT)


async def test_nothing_to_post_lets_bids_take_all_the_time_left() -> None:
    built = catalog(
        [bidder("slow", timeout_ms=60), bidder("fast", timeout_ms=60)],
        [factories.tier("t", "ping_post", ["slow", "fast"])],
        tree={"max_processing_ms": 60},
    )
    gateway = ScriptedGateway(pings={"fast": bid("4.00")}, silent={"slow"})
    bids, record = await _collect(built, gateway)
    assert bids == _bids(("t", "fast", "4.00"))
    assert record.skips == [
        Skip("slow", SkipReason.LATE, "late for the auction: no bid within its 60 ms window", "t")
    ]


async def test_a_tiers_auction_ms_bounds_the_wait_for_an_inbound_ping() -> None:
    built = catalog(
        [bidder("slow")],
        [factories.tier("t", "parallel", ["slow"], auction_ms=15)],
    )
    gateway = ScriptedGateway(silent={"slow"})
    bids, record = await _collect(built, gateway)
    assert bids == []
    assert record.skips == [
        Skip("slow", SkipReason.LATE, "late for the auction: no bid within its 15 ms window", "t")
    ]


# --- sell_to_bids --------------------------------------------------------------------------


def _inbound(**tree: Any) -> Catalog:
    return catalog(
        [
            bidder("a", buyer="acme", timeout_ms=3000),
            bidder("a2", buyer="acme"),
            bidder("b"),
            bidder("c"),
        ],
        [
            factories.tier("t1", "parallel", ["a", "a2"]),
            factories.tier("t2", "parallel", ["b", "c"]),
        ],
        tree=tree or None,
    )


async def _sell(
    built: Catalog,
    gateway: ScriptedGateway,
    bids: list[tuple[str, Bid]],
    *,
    ledger: MemoryCapLedger | None = None,
    purchases: MemoryPurchases | None = None,
    test: bool = False,
    people: tuple[str, ...] = (),
) -> RoutingResult:
    router = _router(gateway, ledger, purchases)
    return await router.sell_to_bids(
        offer(test=test, people=people),
        built.trees["main"],
        built,
        bids,
        held=None if test else "held-1",
    )


async def test_the_winning_bid_is_posted_on_the_room_already_held() -> None:
    ledger = MemoryCapLedger()
    gateway = ScriptedGateway(posts={"a": bid("9.00")})
    result = await _sell(
        _inbound(), gateway, [("t1", Bid("a", Decimal("9.00"), "bid-a"))], ledger=ledger
    )
    assert result.sales == [
        SaleResult(
            campaign="a",
            buyer="acme",
            price=Decimal("9.00"),
            reference=None,
            redirect_url=None,
            reservation_id="held-1",
            tier="t1",
        )
    ]
    assert gateway.call("post", "a").bid == Bid("a", Decimal("9.00"), "bid-a")
    assert (ledger.holds, result.released) == ([], [])


async def test_a_rejected_winner_gives_its_room_back_and_the_next_bid_takes_room_now() -> None:
    ledger = MemoryCapLedger()
    gateway = ScriptedGateway(posts={"a": rejected()})
    result = await _sell(
        _inbound(), gateway, _bids(("t1", "a", "9.00"), ("t2", "b", "7.00")), ledger=ledger
    )
    assert gateway.posted() == ["a", "b"]
    assert [(h.campaign, h.lead_id, h.price) for h in ledger.holds] == [
        ("b", "lead-1", Decimal("7.00"))
    ]
    assert result.released == ["held-1"]
    assert [(s.campaign, s.reservation_id, s.tier) for s in result.sales] == [
        ("b", ledger.holds[0].reservation, "t2")
    ]


async def test_bids_whose_campaign_or_tier_left_the_configuration_are_skipped() -> None:
    """The configuration may change between a publisher's ping and its post."""
    ledger = MemoryCapLedger()
    gateway = ScriptedGateway()
    result = await _sell(
        _inbound(),
        gateway,
        _bids(("t1", "gone", "9.00"), ("t9", "b", "8.00"), ("t2", "c", "7.00")),
        ledger=ledger,
    )
    assert result.skips == [
        Skip("gone", SkipReason.REMOVED, "campaign gone is no longer in the configuration", "t1"),
        Skip("b", SkipReason.REMOVED, "tier t9 is no longer in the configuration", "t9"),
    ]
    assert result.released == ["held-1"]  # the winner's room, held at the ping
    assert (gateway.posted(), sold(result)) == (["c"], ["c"])


async def test_an_exclusive_lead_stops_at_the_first_sale() -> None:
    gateway = ScriptedGateway()
    result = await _sell(_inbound(), gateway, _bids(("t2", "b", "9.00"), ("t2", "c", "7.00")))
    assert (gateway.posted(), sold(result)) == (["b"], ["b"])
    assert result.skips == []


async def test_no_campaign_is_posted_twice_and_no_buyer_buys_twice() -> None:
    gateway = ScriptedGateway(posts={"b": [rejected()]})
    result = await _sell(
        _inbound(lead_type="shared", max_buyers=3),
        gateway,
        _bids(
            ("t1", "a", "9.00"),
            ("t2", "b", "8.50"),
            ("t1", "a2", "8.00"),
            ("t2", "b", "7.50"),
            ("t2", "c", "7.00"),
        ),
    )
    assert gateway.posted() == ["a", "b", "c"]
    assert sold(result) == ["a", "c"]
    assert result.skips == [Skip("a2", SkipReason.ALREADY_SOLD_TO_BUYER, "", "t1")]


async def test_posts_get_the_time_left_and_none_is_sent_once_it_is_gone() -> None:
    clock = StoppedClock(NOW)
    ledger = MemoryCapLedger()
    gateway = ScriptedGateway(
        posts={"a": rejected(duration_ms=400), "b": rejected(duration_ms=600)}, clock=clock
    )
    result = await _sell(
        _inbound(max_processing_ms=1000),
        gateway,
        _bids(("t1", "a", "9.00"), ("t2", "b", "8.00"), ("t2", "c", "7.00")),
        ledger=ledger,
    )
    assert gateway.call("post", "a").timeout == pytest.approx(1.0, abs=EXACT)
    assert gateway.call("post", "b").timeout == pytest.approx(0.6, abs=EXACT)
    assert gateway.posted() == ["a", "b"]
    assert result.skips == [Skip("c", SkipReason.DEADLINE, "no time left to post", "t2")]
    assert [h.campaign for h in ledger.holds] == ["b"]
    assert result.released == ["held-1", ledger.holds[0].reservation]
    assert result.sales == []


async def test_a_test_lead_takes_no_room_for_any_bid() -> None:
    ledger = MemoryCapLedger()
    gateway = ScriptedGateway(posts={"a": rejected()})
    result = await _sell(
        _inbound(),
        gateway,
        _bids(("t1", "a", "9.00"), ("t2", "b", "8.00")),
        ledger=ledger,
        test=True,
    )
    assert sold(result) == ["b"]
    assert [c.test for c in gateway.calls] == [True, True]
    assert (ledger.holds, result.released) == ([], [])


async def _acme_wins_held(
    purchases: MemoryPurchases,
) -> tuple[RoutingResult, MemoryCapLedger, ScriptedGateway]:
    """acme's campaign a (held, 9.00) and b (8.00) bid for person-1; acme keeps 30 days."""
    ledger = MemoryCapLedger()
    gateway = ScriptedGateway()
    result = await _sell(
        catalog(
            [bidder("a", buyer="acme"), bidder("b")],
            [factories.tier("t", "parallel", ["a", "b"])],
            buyer_dedup_days=30,
        ),
        gateway,
        _bids(("t", "a", "9.00"), ("t", "b", "8.00")),
        ledger=ledger,
        purchases=purchases,
        people=("person-1",),
    )
    return result, ledger, gateway


async def test_a_buyer_holding_the_person_is_skipped_and_the_held_room_given_back() -> None:
    purchases = MemoryPurchases({("acme", "person-1"): ("lead-0", NOW)})
    result, ledger, gateway = await _acme_wins_held(purchases)
    detail = "duplicate: lead lead-0 holds or bought this person (window 30 days)"
    assert result.skips == [Skip("a", SkipReason.BLOCKED, detail, "t")]
    assert gateway.posted() == ["b"]
    assert result.released == ["held-1"]
    assert [s.reservation_id for s in result.sales] == [ledger.holds[0].reservation]


async def test_the_held_winner_claims_the_person_for_its_buyer_before_the_post() -> None:
    purchases = MemoryPurchases()
    result, ledger, gateway = await _acme_wins_held(purchases)
    assert purchases.claims == [Claim("acme", 30, ("person-1",), "lead-1", NOW)]
    assert (result.claimed, gateway.posted(), sold(result)) == (["acme"], ["a"], ["a"])
    assert (ledger.holds, result.released) == ([], [])


async def test_bids_left_after_the_sale_or_already_posted_give_nothing_back() -> None:
    gateway = ScriptedGateway(posts={"b": [rejected()]})
    result = await _sell(
        _inbound(), gateway, _bids(("t2", "b", "9.00"), ("t2", "b", "8.00"), ("t2", "c", "7.00"))
    )
    assert (gateway.posted(), sold(result)) == (["b", "c"], ["c"])
    assert result.released == ["held-1"]
    exclusive = await _sell(
        _inbound(), ScriptedGateway(), _bids(("t2", "b", "9"), ("t2", "c", "7"))
    )
    assert (sold(exclusive), exclusive.released) == (["b"], [])


async def test_a_held_winner_with_no_time_left_to_post_gives_its_room_back() -> None:
    clock = StoppedClock(NOW)
    gateway = ScriptedGateway()
    router = Router(gateway=gateway, ledger=MemoryCapLedger(), clock=clock, lateness=lambda: 60.0)
    built = _inbound()
    result = await router.sell_to_bids(
        offer(), built.trees["main"], built, _bids(("t1", "a", "9.00")), held="held-1"
    )
    assert result.skips == [Skip("a", SkipReason.DEADLINE, "no time left to post", "t1")]
    assert (gateway.sent, result.released) == ([], ["held-1"])
