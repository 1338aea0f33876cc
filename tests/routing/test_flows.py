"""The order one-at-a-time tiers offer a lead in: pure, no database, no HTTP."""

from __future__ import annotations

import random
from collections import Counter
from decimal import Decimal
from typing import Any

from pingtree.buyers.model import Campaign
from pingtree.routing import flows
from pingtree.routing.model import TierCampaign

POST = {
    "url": "http://127.0.0.1:1/post",
    "response": {"rules": [{"source": "status", "equals": "200", "outcome": "accepted"}]},
}


def _campaign(name: str, price: dict[str, Any]) -> Campaign:
    return Campaign.model_validate(
        {
            "name": name,
            "buyer": name,
            "vertical": "auto",
            "price": price,
            "delivery": {
                "post": POST,
                "ping": POST if price.get("type") == "bid" else None,
            },
        }
    )


def _fixed(name: str, amount: str, rank: int = 0, weight: int = 1) -> flows.Candidate:
    return (
        TierCampaign(campaign=name, rank=rank, weight=weight),
        _campaign(name, {"type": "fixed", "amount": amount}),
    )


def _names(candidates: list[flows.Candidate]) -> list[str]:
    return [c.name for _, c in candidates]


def test_priority_is_lowest_rank_first_and_keeps_the_tier_order_on_ties() -> None:
    ordered = flows.by_priority(
        [_fixed("b", "1", rank=2), _fixed("a", "1", rank=1), _fixed("c", "1", rank=1)]
    )
    assert _names(ordered) == ["a", "c", "b"]


def test_price_is_highest_first_and_a_tie_goes_to_the_better_rank() -> None:
    ordered = flows.by_price(
        [
            _fixed("cheap", "5.00", rank=0),
            _fixed("late", "20.00", rank=2),
            _fixed("early", "20.00", rank=1),
        ]
    )
    assert _names(ordered) == ["early", "late", "cheap"]


def test_a_bid_campaign_is_listed_at_its_floor() -> None:
    bidder = (
        TierCampaign(campaign="bidder", rank=0),
        _campaign("bidder", {"type": "bid", "floor": "12.00"}),
    )
    assert flows.listed_price(bidder[1]) == Decimal("12.00")
    assert _names(flows.by_price([_fixed("fixed", "10.00"), bidder])) == ["bidder", "fixed"]


def test_a_bid_campaign_is_listed_at_its_floor_whatever_amount_it_states() -> None:
    bidder = _campaign("bidder", {"type": "bid", "floor": "8.00", "amount": "20.00"})
    assert flows.listed_price(bidder) == Decimal("8.00")


def test_weights_80_20_put_the_heavy_campaign_first_about_80_percent_of_leads() -> None:
    rng = random.Random(7)
    tier = [_fixed("heavy", "1", weight=80), _fixed("light", "1", weight=20)]
    firsts = Counter(_names(flows.by_weight(tier, rng))[0] for _ in range(4000))
    assert 0.76 < firsts["heavy"] / 4000 < 0.84
    # every campaign stays in the order as a cascade candidate
    assert sorted(_names(flows.by_weight(tier, rng))) == ["heavy", "light"]


async def test_rotation_gives_each_campaign_an_equal_share_of_first_offers() -> None:
    rotation = flows.MemoryRotation()
    firsts = Counter(
        [
            flows.by_rotation(["a", "b", "c"], await rotation.next_start("tree/tier", 3))[0]
            for _ in range(300)
        ]
    )
    assert firsts == {"a": 100, "b": 100, "c": 100}
    assert flows.by_rotation([], 5) == []
    assert flows.by_rotation(["a", "b", "c"], 4) == ["b", "c", "a"]


async def test_rotation_counters_are_kept_per_tier() -> None:
    rotation = flows.MemoryRotation()
    assert [await rotation.next_start("x", 2) for _ in range(3)] == [0, 1, 0]
    assert await rotation.next_start("y", 2) == 0


async def test_equal_prices_and_ranks_take_turns_going_first() -> None:
    rotation = flows.MemoryRotation()
    candidates = [_fixed("a", "20.00"), _fixed("b", "20.00"), _fixed("c", "30.00")]
    firsts = []
    for _ in range(4):
        ordered = await flows.rotate_ties(
            flows.by_price(candidates),
            lambda c: (flows.listed_price(c[1]), c[0].rank),
            rotation,
            "tree/tier",
        )
        assert ordered[0][1].name == "c"  # the dearest is never part of the rotation
        firsts.append(ordered[1][1].name)
    assert firsts == ["a", "b", "a", "b"]


async def test_different_ranks_are_no_tie() -> None:
    rotation = flows.MemoryRotation()
    candidates = [_fixed("a", "20.00", rank=1), _fixed("b", "20.00", rank=2)]
    for _ in range(3):
        ordered = await flows.rotate_ties(
            flows.by_price(candidates),
            lambda c: (flows.listed_price(c[1]), c[0].rank),
            rotation,
            "tree/tier",
        )
        assert [c[1].name for c in ordered] == ["a", "b"]


async def test_rotation_goes_forward_and_an_empty_tier_starts_at_zero() -> None:
    rotation = flows.MemoryRotation()
    assert [await rotation.next_start("z", 3) for _ in range(4)] == [0, 1, 2, 0]
    assert await rotation.next_start("empty", 0) == 0


async def test_tie_counters_are_kept_per_tier() -> None:
    rotation = flows.MemoryRotation()
    candidates = [_fixed("a", "20.00"), _fixed("b", "20.00")]

    async def first(key: str) -> str:
        ordered = await flows.rotate_ties(
            flows.by_price(candidates),
            lambda c: (flows.listed_price(c[1]), c[0].rank),
            rotation,
            key,
        )
        return ordered[0][1].name

    assert [await first("tree/one"), await first("tree/two"), await first("tree/one")] == [
        "a",
        "a",
        "b",
    ]
