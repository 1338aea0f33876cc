"""Small in-memory implementations of the routing ports, for unit tests of the pure core.

The gateway answers from a script (campaign name -> Answer) instead of HTTP: the core's
rules (floors, ranks, cascades, records) are tested here; buyer HTTP stays real in
tests/engine.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from pingtree.buyers.model import Campaign, Outcome
from pingtree.routing.model import ConsentReference
from pingtree.routing.ports import Answer, Bid


def bid(price: str, duration_ms: float = 5.0) -> Answer:
    return Answer(outcome=Outcome.ACCEPTED, duration_ms=duration_ms, price=Decimal(price))


def accepted(duration_ms: float = 5.0) -> Answer:
    return Answer(outcome=Outcome.ACCEPTED, duration_ms=duration_ms)


def rejected(duration_ms: float = 5.0) -> Answer:
    return Answer(outcome=Outcome.REJECTED, duration_ms=duration_ms, reason="no thanks")


@dataclass
class ScriptedGateway:
    """Answers pings and posts from a script; a campaign not in it accepts without a price."""

    pings: dict[str, Answer] = field(default_factory=dict)
    posts: dict[str, Answer] = field(default_factory=dict)
    sent: list[tuple[str, str]] = field(default_factory=list)
    consents: list[ConsentReference | None] = field(default_factory=list)

    async def ping(
        self,
        campaign: Campaign,
        *,
        lead_id: str,
        fields: dict[str, Any],
        test: bool,
        timeout: float,
    ) -> Answer:
        self.sent.append(("ping", campaign.name))
        return self.pings.get(campaign.name, accepted())

    async def post(
        self,
        campaign: Campaign,
        *,
        lead_id: str,
        fields: dict[str, Any],
        bid: Bid | None,
        test: bool,
        timeout: float,
        consent: ConsentReference | None = None,
    ) -> Answer:
        self.sent.append(("post", campaign.name))
        self.consents.append(consent)
        return self.posts.get(campaign.name, accepted())

    def posted(self) -> list[str]:
        return [name for kind, name in self.sent if kind == "post"]


@dataclass
class MemoryCapLedger:
    """Counts holds per campaign against a plain per-campaign cap (no windows)."""

    caps: dict[str, int] = field(default_factory=dict)
    held: dict[str, str] = field(default_factory=dict)  # reservation id -> campaign
    given_back: list[str] = field(default_factory=list)

    def room(self, campaign: Campaign, at: datetime) -> str | None:
        return None

    async def reserve(
        self, campaign: Campaign, *, lead_id: str, price: Decimal, at: datetime, hold_s: float
    ) -> str | None:
        taken = sum(1 for c in self.held.values() if c == campaign.name)
        if taken >= self.caps.get(campaign.name, 1_000_000):
            return None
        reservation = f"r{len(self.held) + len(self.given_back) + 1}"
        self.held[reservation] = campaign.name
        return reservation

    async def settle(self, conn: Any, *, sold: Iterable[str], released: Iterable[str]) -> None:
        for reservation in released:
            await self.release(reservation)

    async def release(self, reservation_id: str) -> None:
        if self.held.pop(reservation_id, None) is not None:
            self.given_back.append(reservation_id)


@dataclass
class MemoryPurchases:
    """Buyer purchase claims: (buyer, person) -> (lead, at); a window of whole days."""

    rows: dict[tuple[str, str], tuple[str, datetime]] = field(default_factory=dict)

    async def claim(
        self, *, buyer: str, days: int, people: Sequence[str], lead_id: str, at: datetime
    ) -> str | None:
        for person in people:
            holder = self.rows.get((buyer, person))
            if holder is not None and holder[0] != lead_id:
                return holder[0]
        for person in people:
            self.rows[(buyer, person)] = (lead_id, at)
        return None
