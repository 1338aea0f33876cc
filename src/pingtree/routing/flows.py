"""The order in which a one-at-a-time tier offers a lead: priority, price, weight, even."""

from __future__ import annotations

import random
from collections.abc import Callable, Hashable, Sequence
from decimal import Decimal
from itertools import groupby
from typing import TypeVar

from pingtree.buyers.model import Campaign, PriceType
from pingtree.routing.model import TierCampaign
from pingtree.routing.ports import Rotation

Candidate = tuple[TierCampaign, Campaign]
T = TypeVar("T")


def listed_price(campaign: Campaign) -> Decimal:
    """The price a campaign is known to pay before asking it: fixed amount, else its floor."""
    if campaign.price.type is PriceType.FIXED and campaign.price.amount is not None:
        return campaign.price.amount
    return campaign.price.floor


def by_priority(candidates: Sequence[Candidate]) -> list[Candidate]:
    """Lowest rank first; ties keep the tier's order."""
    return sorted(candidates, key=lambda c: c[0].rank)


def by_price(candidates: Sequence[Candidate]) -> list[Candidate]:
    """Highest listed price first; ties by rank."""
    return sorted(candidates, key=lambda c: (-listed_price(c[1]), c[0].rank))


async def rotate_ties(
    ordered: Sequence[T],
    tie: Callable[[T], Hashable],
    rotation: Rotation,
    key: str,
) -> list[T]:
    """Each run of equal tie keys in an ordered list takes turns going first.

    One counter per tier (key), advanced by every tie it breaks: campaigns that keep tying
    share first offers evenly, lead after lead, and the counters stay one per tier however
    many prices bids come at.
    """
    out: list[T] = []
    for _value, group in groupby(ordered, key=tie):
        members = list(group)
        if len(members) > 1:
            start = await rotation.next_start(f"{key}/ties", len(members))
            members = by_rotation(members, start)
        out.extend(members)
    return out


def by_weight(candidates: Sequence[Candidate], rng: random.Random) -> list[Candidate]:
    """A weighted random order without replacement (Efraimidis-Spirakis keys).

    With weights 80/20 the first campaign comes first in about 80% of leads, and the rest
    still follow as cascade candidates.
    """
    keyed = [(rng.random() ** (1.0 / c[0].weight), i) for i, c in enumerate(candidates)]
    keyed.sort(reverse=True)
    return [candidates[i] for _, i in keyed]


def by_rotation(items: Sequence[T], start: int) -> list[T]:
    """The tier's order rotated to start, so each campaign gets an equal share of first offers."""
    if not items:
        return []
    start %= len(items)
    return [*items[start:], *items[:start]]


class MemoryRotation:
    """Rotation counters kept in this process: exact for one process only (several share
    theirs through rotation.SharedRotation)."""

    def __init__(self) -> None:
        self._next: dict[str, int] = {}

    async def next_start(self, key: str, size: int) -> int:
        """The start index for this lead, advancing the tier's counter."""
        value = self._next.get(key, 0)
        self._next[key] = value + 1
        return value % size if size else 0
