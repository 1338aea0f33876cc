"""The order a one-at-a-time tier offers a lead in, lead after lead, through the Router.

flows.py's own rules are in test_flows.py; here the Router picks the flow of each tier and
keeps each tier's turns apart.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterable
from typing import Any

from pingtree.clock import ManualClock
from pingtree.config.catalog import Catalog
from pingtree.routing.engine import Router
from tests import factories
from tests.routing.catalogs import NOW, catalog, fixed, offer, sold
from tests.routing.memory_ports import MemoryCapLedger, ScriptedGateway, rejected


class _Draws(random.Random):
    """A random source that draws the given numbers over and over."""

    def __init__(self, draws: Iterable[float]) -> None:
        super().__init__(0)
        self._draws = itertools.cycle(draws)

    def random(self) -> float:
        return next(self._draws)


async def _posts_per_lead(
    built: Catalog, gateway: ScriptedGateway, leads: int, **router: Any
) -> list[list[str]]:
    """The campaigns posted for each of leads leads in a row, through one Router."""
    engine = Router(gateway=gateway, ledger=MemoryCapLedger(), clock=ManualClock(NOW), **router)
    out = []
    for i in range(leads):
        before = len(gateway.posted())
        await engine.route(offer(f"lead-{i}"), built.trees["main"], built)
        out.append(gateway.posted()[before:])
    return out


async def test_a_priority_tier_offers_by_rank_every_time() -> None:
    built = catalog(
        [fixed("b"), fixed("a"), fixed("c")],
        [
            factories.tier(
                "t",
                "priority",
                [
                    {"campaign": "b", "rank": 2},
                    {"campaign": "a", "rank": 1},
                    {"campaign": "c", "rank": 3},
                ],
            )
        ],
    )
    gateway = ScriptedGateway(posts={"a": rejected()})
    assert await _posts_per_lead(built, gateway, 3) == [["a", "b"]] * 3


async def test_a_price_tier_offers_the_best_price_first_and_equal_prices_take_turns() -> None:
    built = catalog(
        [fixed("a", "10.00"), fixed("rich", "12.00"), fixed("b", "10.00")],
        [factories.tier("t", "price", ["a", "rich", "b"])],
    )
    gateway = ScriptedGateway(posts={"rich": rejected()})
    assert await _posts_per_lead(built, gateway, 4) == [
        ["rich", "a"],
        ["rich", "b"],
        ["rich", "a"],
        ["rich", "b"],
    ]


async def test_equal_prices_at_different_ranks_go_by_rank_without_turns() -> None:
    built = catalog(
        [fixed("a", "10.00"), fixed("b", "10.00")],
        [
            factories.tier(
                "t", "price", [{"campaign": "b", "rank": 2}, {"campaign": "a", "rank": 1}]
            )
        ],
    )
    assert await _posts_per_lead(built, ScriptedGateway(), 3) == [["a"]] * 3


async def test_with_ties_first_the_first_listed_of_equal_prices_always_goes_first() -> None:
    built = catalog(
        [fixed("a"), fixed("b")],
        [factories.tier("t", "price", ["a", "b"], ties="first")],
    )
    assert await _posts_per_lead(built, ScriptedGateway(), 3) == [["a"]] * 3


async def test_each_price_tier_keeps_its_own_turns() -> None:
    built = catalog(
        [fixed("a"), fixed("b"), fixed("c"), fixed("d")],
        [factories.tier("t1", "price", ["a", "b"]), factories.tier("t2", "price", ["c", "d"])],
    )
    gateway = ScriptedGateway(posts={"a": rejected(), "b": rejected()})
    assert await _posts_per_lead(built, gateway, 2) == [["a", "b", "c"], ["b", "a", "d"]]


async def test_a_weight_tier_draws_its_order_from_the_routers_random_source() -> None:
    built = catalog([fixed("a"), fixed("b")], [factories.tier("t", "weight", ["a", "b"])])
    # Equal weights: the campaign drawing the larger number goes first; b always does.
    posts = await _posts_per_lead(built, ScriptedGateway(), 12, rng=_Draws([0.1, 0.9]))
    assert posts == [["b"]] * 12


async def test_a_router_given_no_random_source_still_orders_a_weight_tier() -> None:
    built = catalog(
        [fixed("a"), fixed("b")],
        [factories.tier("t", "weight", [{"campaign": "a", "weight": 3}, "b"])],
    )
    posts = await _posts_per_lead(built, ScriptedGateway(), 4)
    assert all(p in (["a"], ["b"]) for p in posts)


async def test_an_even_tier_gives_each_campaign_the_first_offer_in_turn() -> None:
    built = catalog(
        [fixed("a"), fixed("b"), fixed("c")], [factories.tier("t", "even", ["a", "b", "c"])]
    )
    assert await _posts_per_lead(built, ScriptedGateway(), 4) == [["a"], ["b"], ["c"], ["a"]]


async def test_an_even_tier_keeps_turning_over_its_whole_list_when_one_is_not_eligible() -> None:
    built = catalog(
        [fixed("a"), fixed("b"), fixed("c"), fixed("d")],
        [factories.tier("t", "even", ["a", "b", "c", "d"])],
    )
    ledger = MemoryCapLedger()
    engine = Router(gateway=ScriptedGateway(), ledger=ledger, clock=ManualClock(NOW))
    firsts = []
    for i, closed in enumerate(["", "b", "", ""]):
        ledger.closed = {closed: "full"} if closed else {}
        result = await engine.route(offer(f"lead-{i}"), built.trees["main"], built)
        firsts += sold(result)
    # Lead 2 starts at b, which is full: c takes it; lead 3 still starts at c, lead 4 at d.
    assert firsts == ["a", "c", "c", "d"]


async def test_each_even_tier_keeps_its_own_turns() -> None:
    built = catalog(
        [fixed("a"), fixed("b"), fixed("c"), fixed("d")],
        [factories.tier("t1", "even", ["a", "b"]), factories.tier("t2", "even", ["c", "d"])],
    )
    gateway = ScriptedGateway(posts={"a": rejected(), "b": rejected()})
    assert await _posts_per_lead(built, gateway, 2) == [["a", "b", "c"], ["b", "a", "d"]]
