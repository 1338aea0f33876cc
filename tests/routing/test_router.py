"""The Router's own rules with in-memory ports: floors, ranks, cascades, records.

No database and no HTTP: buyers answer from a script (tests/routing/memory_ports.py).
Real buyers over HTTP are in tests/engine.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from pingtree.clock import ManualClock
from pingtree.config.catalog import Catalog
from pingtree.routing.engine import Router
from pingtree.routing.model import LeadOffer, RoutingResult, SkipReason
from tests import factories
from tests.routing.catalogs import NOW, URLS
from tests.routing.catalogs import bidder as _bidder
from tests.routing.catalogs import catalog as _catalog
from tests.routing.catalogs import skips as _skips
from tests.routing.memory_ports import (
    MemoryCapLedger,
    MemoryPurchases,
    ScriptedGateway,
    bid,
    rejected,
)


async def _route(
    catalog: Catalog,
    gateway: ScriptedGateway,
    *,
    ledger: MemoryCapLedger | None = None,
    purchases: MemoryPurchases | None = None,
    people: tuple[str, ...] = (),
    lead_id: str = "lead-1",
) -> RoutingResult:
    router = Router(
        gateway=gateway,
        ledger=ledger or MemoryCapLedger(purchases=purchases),
        clock=ManualClock(NOW),
        purchases=purchases,
    )
    offer = LeadOffer(lead_id, "auto", "pub", dict(factories.LEAD_FIELDS), people=people)
    return await router.route(offer, catalog.trees["main"], catalog)


async def test_a_bid_at_the_floor_sells_in_a_one_at_a_time_tier() -> None:
    catalog = _catalog(
        [_bidder("at_floor", "5.00")], [factories.tier("t", "priority", ["at_floor"])]
    )
    result = await _route(catalog, ScriptedGateway(pings={"at_floor": bid("5.00")}))
    assert [(s.campaign, s.price) for s in result.sales] == [("at_floor", Decimal("5.00"))]


async def test_a_bid_under_the_floor_is_skipped_and_the_lead_cascades() -> None:
    catalog = _catalog(
        [_bidder("low", "5.00"), factories.campaign("fixed", URLS, price="3.00")],
        [factories.tier("t", "priority", [{"campaign": "low", "rank": 1}, "fixed"])],
    )
    gateway = ScriptedGateway(pings={"low": bid("4.99")})
    result = await _route(catalog, gateway)
    assert _skips(result) == {"low": SkipReason.BELOW_FLOOR}
    assert gateway.posted() == ["fixed"]
    assert [s.campaign for s in result.sales] == ["fixed"]


async def test_equal_bids_in_an_auction_go_to_the_better_rank_first() -> None:
    # Listed worse rank first, so neither the tier's order nor the bid decides.
    catalog = _catalog(
        [_bidder("second"), _bidder("first")],
        [
            factories.tier(
                "t",
                "parallel",
                [{"campaign": "second", "rank": 2}, {"campaign": "first", "rank": 1}],
                ties="first",
            )
        ],
    )
    gateway = ScriptedGateway(pings={"second": bid("7.00"), "first": bid("7.00")})
    result = await _route(catalog, gateway)
    assert gateway.posted() == ["first"]
    assert [s.campaign for s in result.sales] == ["first"]


async def test_the_higher_bid_wins_an_auction_whatever_the_rank() -> None:
    catalog = _catalog(
        [_bidder("ranked"), _bidder("rich")],
        [
            factories.tier(
                "t",
                "parallel",
                [{"campaign": "ranked", "rank": 1}, {"campaign": "rich", "rank": 9}],
            )
        ],
    )
    gateway = ScriptedGateway(pings={"ranked": bid("7.00"), "rich": bid("7.01")})
    result = await _route(catalog, gateway)
    assert [s.campaign for s in result.sales] == ["rich"]


async def test_a_ping_post_tier_floor_takes_a_bid_at_it_and_skips_one_under_it() -> None:
    catalog = _catalog(
        [_bidder("at"), _bidder("under")],
        [factories.tier("t", "ping_post", ["at", "under"], floor="6.00")],
    )
    gateway = ScriptedGateway(pings={"at": bid("6.00"), "under": bid("5.99")})
    result = await _route(catalog, gateway)
    assert _skips(result) == {"under": SkipReason.BELOW_FLOOR}
    assert [s.campaign for s in result.sales] == ["at"]


async def test_an_attempt_is_recorded_as_started_its_duration_before_the_answer() -> None:
    catalog = _catalog([_bidder("b")], [factories.tier("t", "priority", ["b"])])
    result = await _route(catalog, ScriptedGateway(pings={"b": bid("2.00", duration_ms=250)}))
    ping = result.attempts[0]
    assert (ping.kind, ping.answer.duration_ms) == ("ping", 250)
    assert ping.started_at == NOW - timedelta(milliseconds=250)


async def test_a_rejected_post_gives_its_hold_back_and_cascades() -> None:
    catalog = _catalog(
        [factories.campaign("no", URLS, price="12.00"), factories.campaign("yes", URLS)],
        [factories.tier("t", "price", ["no", "yes"])],
    )
    gateway = ScriptedGateway(posts={"no": rejected()})
    result = await _route(catalog, gateway)
    assert gateway.posted() == ["no", "yes"]
    assert [s.campaign for s in result.sales] == ["yes"]
    assert len(result.released) == 1
    assert result.released[0] != result.sales[0].reservation_id


async def test_a_full_cap_skips_the_campaign_and_the_lead_cascades() -> None:
    catalog = _catalog(
        [factories.campaign("full", URLS, price="12.00"), factories.campaign("open", URLS)],
        [factories.tier("t", "price", ["full", "open"])],
    )
    gateway = ScriptedGateway()
    result = await _route(catalog, gateway, ledger=MemoryCapLedger(caps={"full": 0}))
    assert _skips(result) == {"full": SkipReason.CAP_REACHED}
    assert gateway.posted() == ["open"]


async def test_a_buyer_holding_the_person_is_skipped_before_the_post() -> None:
    catalog = _catalog(
        [factories.campaign("alpha", URLS, price="12.00"), factories.campaign("beta", URLS)],
        [factories.tier("t", "price", ["alpha", "beta"])],
        buyer_dedup_days=30,
    )
    purchases = MemoryPurchases({("alpha", "person-1"): ("lead-0", NOW)})
    gateway = ScriptedGateway()
    result = await _route(catalog, gateway, purchases=purchases, people=("person-1",))
    assert "alpha" in _skips(result)
    assert gateway.posted() == ["beta"]
    assert purchases.rows[("beta", "person-1")] == ("lead-1", NOW)


async def test_a_fixed_price_campaign_without_a_ping_stands_in_an_auction_at_its_price() -> None:
    catalog = _catalog(
        [factories.campaign("fixed", URLS, price="8.00"), _bidder("bidder")],
        [factories.tier("t", "parallel", ["bidder", "fixed"])],
    )
    gateway = ScriptedGateway(pings={"bidder": bid("7.00")})
    result = await _route(catalog, gateway)
    assert ("ping", "fixed") not in gateway.sent
    assert [(s.campaign, s.price) for s in result.sales] == [("fixed", Decimal("8.00"))]


async def test_a_shared_lead_is_sold_once_per_buyer_in_either_kind_of_tier() -> None:
    for flow in ("priority", "parallel"):
        catalog = _catalog(
            [
                _bidder("a1", buyer="acme"),
                _bidder("a2", buyer="acme"),
                _bidder("other"),
            ],
            [factories.tier("t", flow, ["a1", "a2", "other"], ties="first")],
            tree={"lead_type": "shared", "max_buyers": 3},
        )
        gateway = ScriptedGateway(
            pings={"a1": bid("9.00"), "a2": bid("8.00"), "other": bid("7.00")}
        )
        result = await _route(catalog, gateway)
        assert [s.campaign for s in result.sales] == ["a1", "other"], flow
        assert _skips(result) == {"a2": SkipReason.ALREADY_SOLD_TO_BUYER}, flow
        assert "a2" not in gateway.posted(), flow


async def test_equal_bids_at_the_same_rank_take_turns_winning_an_auction() -> None:
    catalog = _catalog(
        [_bidder("x"), _bidder("y")],
        [factories.tier("t", "parallel", ["x", "y"])],
    )
    gateway = ScriptedGateway(pings={"x": bid("5.00"), "y": bid("5.00")})
    router = Router(gateway=gateway, ledger=MemoryCapLedger(), clock=ManualClock(NOW))
    winners = []
    for i in range(4):
        offer = LeadOffer(f"lead-{i}", "auto", "pub", dict(factories.LEAD_FIELDS))
        result = await router.route(offer, catalog.trees["main"], catalog)
        winners.append(result.sales[0].campaign)
    assert winners == ["x", "y", "x", "y"]


class _TimedGateway(ScriptedGateway):
    """Notes the timeout each post was given."""

    def __init__(self) -> None:
        super().__init__()
        self.timeouts: list[float] = []

    async def post(self, campaign: Any, **kw: Any) -> Any:
        self.timeouts.append(kw["timeout"])
        return await super().post(campaign, **kw)


async def test_a_late_running_loop_cuts_every_time_budget_by_its_lateness() -> None:
    # Timers fire as late as the event loop runs: a post given the whole time left would
    # end past the deadline. With the loop 0.3 s late, a 1 s tree leaves 0.7 s to post,
    # and when the lateness eats all the time left there is no post at all.
    catalog = _catalog(
        [factories.campaign("only", URLS, timeout_ms=5000)],
        [factories.tier("t", "priority", ["only"])],
        tree={"max_processing_ms": 1000},
    )
    offer = LeadOffer("lead-1", "auto", "pub", dict(factories.LEAD_FIELDS))
    for late, posts in ((0.3, 1), (1.5, 0)):
        gateway = _TimedGateway()
        router = Router(
            gateway=gateway,
            ledger=MemoryCapLedger(),
            clock=ManualClock(NOW),
            lateness=lambda late=late: late,
        )
        result = await router.route(offer, catalog.trees["main"], catalog)
        assert len(gateway.timeouts) == posts
        if posts:
            assert 0.6 < gateway.timeouts[0] <= 0.7  # 1 s - 0.3 s, less the time routing took
        else:
            assert result.timed_out and not result.sales
