"""Small in-memory implementations of the routing ports, for unit tests of the pure core.

The gateway answers from a script (campaign name -> Answer) instead of HTTP: the core's
rules (floors, ranks, cascades, deadlines, records) are tested here; buyer HTTP stays real
in tests/engine.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from pingtree.buyers.model import Campaign, Outcome
from pingtree.clock import ManualClock
from pingtree.routing.model import ConsentReference, Reading
from pingtree.routing.ports import Answer, Bid, PersonClaim, PersonTaken

SILENT_S = 5.0
"""How long a silent buyer keeps a ping waiting before the gateway gives up on it: far past
any auction window in these tests, so a router that waits for it fails instead of hanging."""


def bid(price: str, duration_ms: float = 5.0, reference: str | None = None) -> Answer:
    reading = Reading(Outcome.ACCEPTED, price=Decimal(price), reference=reference)
    return Answer(reading, duration_ms=duration_ms)


def accepted(duration_ms: float = 5.0, **extra: Any) -> Answer:
    return Answer(Reading(Outcome.ACCEPTED, **extra), duration_ms=duration_ms)


def rejected(duration_ms: float = 5.0) -> Answer:
    return Answer(Reading(Outcome.REJECTED, reason="no thanks"), duration_ms=duration_ms)


class StoppedClock(ManualClock):
    """A ManualClock whose monotonic time moves only with advance() too.

    The pure core waits on no real buyer, so its deadlines can be exact: a buyer's answer
    takes its duration of this clock (ScriptedGateway), nothing else moves it.
    """

    def __init__(self, now: datetime, monotonic: float = 1000.0) -> None:
        super().__init__(now)
        self._monotonic = monotonic

    def monotonic(self) -> float:
        return self._monotonic

    def advance(self, seconds: float) -> None:
        super().advance(seconds)
        self._monotonic += seconds

    def advance_to(self, monotonic: float) -> None:
        """Move both clocks forward to monotonic time, unless already past it."""
        if monotonic > self._monotonic:
            self.advance(monotonic - self._monotonic)


@dataclass(frozen=True)
class Call:
    """One ping or post as the buyer received it."""

    kind: str
    campaign: str
    lead_id: str
    fields: dict[str, Any]
    bid: Bid | None
    test: bool
    timeout: float


Script = dict[str, Answer | list[Answer]]


@dataclass
class ScriptedGateway:
    """Answers pings and posts from a script; a campaign not in it accepts without a price.

    A list in the script answers one call after the other. silent: campaigns whose pings
    are never answered (until SILENT_S). clock: each answer takes its duration_ms of it,
    counted from when the call was sent (calls sent together overlap, as over HTTP).
    """

    pings: Script = field(default_factory=dict)
    posts: Script = field(default_factory=dict)
    silent: set[str] = field(default_factory=set)
    clock: StoppedClock | None = None
    sent: list[tuple[str, str]] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
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
        self._sent(Call("ping", campaign.name, lead_id, fields, None, test, timeout))
        if campaign.name in self.silent:
            await asyncio.sleep(SILENT_S)
            return Answer(Reading(Outcome.TIMEOUT), duration_ms=SILENT_S * 1000)
        return await self._answer(self.pings, campaign.name)

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
        self._sent(Call("post", campaign.name, lead_id, fields, bid, test, timeout))
        self.consents.append(consent)
        return await self._answer(self.posts, campaign.name)

    def _sent(self, call: Call) -> None:
        self.sent.append((call.kind, call.campaign))
        self.calls.append(call)

    async def _answer(self, script: Script, name: str) -> Answer:
        answer = script.get(name, accepted())
        if isinstance(answer, list):
            answer = answer.pop(0)
        if self.clock is not None:
            started = self.clock.monotonic()
            await asyncio.sleep(0)  # let the calls sent at the same time start too
            self.clock.advance_to(started + answer.duration_ms / 1000)
        return answer

    def posted(self) -> list[str]:
        return [name for kind, name in self.sent if kind == "post"]

    def pinged(self) -> list[str]:
        return [name for kind, name in self.sent if kind == "ping"]

    def call(self, kind: str, campaign: str) -> Call:
        """The one call of this kind sent to campaign."""
        (found,) = [c for c in self.calls if (c.kind, c.campaign) == (kind, campaign)]
        return found


@dataclass(frozen=True)
class Hold:
    """Cap room held for one lead."""

    reservation: str
    campaign: str
    lead_id: str
    price: Decimal
    at: datetime
    hold_s: float


@dataclass
class MemoryCapLedger:
    """Counts holds per campaign against a plain per-campaign cap (no windows); claims the
    person in `purchases` with the hold, as the SQL ledger does in one transaction.

    closed: campaign -> why its room() hint says it is full; down: campaigns whose
    reserve() fails (the storage did not answer); clock: each reserve() takes takes_ms of it.
    reopened: closed campaigns whose room another process gave back: recheck() finds it,
    and room() says so from then on; recheck_s: how long recheck() takes to answer (real
    seconds, which the router's wait for it counts). spare_room: campaigns spare() says have
    room to spare (the router may take their hold ahead of the post); none unless named.
    """

    caps: dict[str, int] = field(default_factory=dict)
    closed: dict[str, str] = field(default_factory=dict)
    down: set[str] = field(default_factory=set)
    clock: StoppedClock | None = None
    takes_ms: float = 0.0
    held: dict[str, str] = field(default_factory=dict)  # reservation id -> campaign
    holds: list[Hold] = field(default_factory=list)
    given_back: list[str] = field(default_factory=list)
    purchases: MemoryPurchases | None = None
    reopened: set[str] = field(default_factory=set)
    recheck_s: float = 0.0
    rechecked: list[tuple[tuple[str, ...], datetime]] = field(default_factory=list)
    looked: list[tuple[str, datetime]] = field(default_factory=list)  # room()'s questions

    spare_room: set[str] = field(default_factory=set)
    budgets: dict[str, Decimal] = field(default_factory=dict)
    """campaign -> a plain budget its open and kept holds' prices count against."""
    prices: dict[str, Decimal] = field(default_factory=dict)  # reservation id -> its price now
    raises: list[tuple[str, Decimal, bool]] = field(default_factory=list)  # (id, to, granted)

    def spare(self, campaign: Campaign, at: datetime, price: Decimal) -> bool:
        return campaign.name in self.spare_room and campaign.name not in self.closed

    def room(self, campaign: Campaign, at: datetime) -> str | None:
        self.looked.append((campaign.name, at))
        return self.closed.get(campaign.name)

    async def recheck(self, campaigns: Sequence[Campaign], at: datetime) -> bool:
        self.rechecked.append((tuple(c.name for c in campaigns), at))
        found = [c.name for c in campaigns if c.name in self.reopened]
        for name in found:
            self.closed.pop(name, None)
        if self.recheck_s:
            await asyncio.sleep(self.recheck_s)
        return bool(found)

    async def reserve(
        self,
        campaign: Campaign,
        *,
        lead_id: str,
        price: Decimal,
        at: datetime,
        hold_s: float,
        person: PersonClaim | None = None,
    ) -> str | None:
        if self.clock is not None:
            self.clock.advance(self.takes_ms / 1000)
        if campaign.name in self.down:
            raise TimeoutError("the cap ledger did not answer")
        taken = sum(1 for c in self.held.values() if c == campaign.name)
        if taken >= self.caps.get(campaign.name, 1_000_000):
            return None
        if not self._fits(campaign.name, price):
            return None
        if person is not None:
            assert self.purchases is not None, "a dedup window needs MemoryPurchases"
            holder = await self.purchases.claim(
                buyer=person.buyer, days=person.days, people=person.people, lead_id=lead_id, at=at
            )
            if holder is not None:
                raise PersonTaken(holder)
        reservation = f"r{len(self.holds) + 1}"
        self.held[reservation] = campaign.name
        self.holds.append(Hold(reservation, campaign.name, lead_id, price, at, hold_s))
        self.prices[reservation] = price
        return reservation

    def spent(self, campaign: str) -> Decimal:
        """What the campaign's open and kept holds count against its budget."""
        return sum((self.prices[r] for r, c in self.held.items() if c == campaign), Decimal("0"))

    def _fits(self, campaign: str, more: Decimal) -> bool:
        budget = self.budgets.get(campaign)
        return budget is None or self.spent(campaign) + more <= budget

    async def raise_hold(
        self, campaign: Campaign, reservation_id: str, *, price: Decimal, to: Decimal
    ) -> bool:
        if to <= price:
            raise ValueError(f"a raise goes up: {price} to {to}")
        if campaign.name in self.down:
            raise TimeoutError("the cap ledger did not answer")
        granted = (
            self.held.get(reservation_id) == campaign.name
            and self.prices.get(reservation_id) == price
            and self._fits(campaign.name, to - price)
        )
        if granted:
            self.prices[reservation_id] = to
        self.raises.append((reservation_id, to, granted))
        return granted

    async def settle(
        self, conn: Any, *, sold: Mapping[str, Decimal], released: Iterable[str]
    ) -> None:
        for reservation, price in sold.items():
            if reservation in self.held:
                self.prices[reservation] = price  # kept at the booked price
        for reservation in released:
            await self.release(reservation)

    async def release(self, reservation_id: str) -> None:
        if self.held.pop(reservation_id, None) is not None:
            self.given_back.append(reservation_id)
            self.prices.pop(reservation_id, None)


@dataclass(frozen=True)
class Claim:
    """A claim asked for: this buyer, the person's hashes, this lead, its window of days."""

    buyer: str
    days: int
    people: tuple[str, ...]
    lead_id: str
    at: datetime


@dataclass
class MemoryPurchases:
    """Buyer purchase claims: (buyer, person) -> (lead, at); a window of whole days that
    includes its first moment, as screening.purchases' does."""

    rows: dict[tuple[str, str], tuple[str, datetime]] = field(default_factory=dict)
    claims: list[Claim] = field(default_factory=list)

    async def claim(
        self, *, buyer: str, days: int, people: Sequence[str], lead_id: str, at: datetime
    ) -> str | None:
        self.claims.append(Claim(buyer, days, tuple(people), lead_id, at))
        since = at - timedelta(days=days)
        for person in people:
            holder = self.rows.get((buyer, person))
            if holder is not None and holder[0] != lead_id and holder[1] >= since:
                return holder[0]
        for person in people:
            self.rows[(buyer, person)] = (lead_id, at)
        return None


@dataclass
class MemoryFunds:
    """Funds left per buyer (a buyer not in it is not checked), as the books' hint says."""

    left: dict[str, Decimal] = field(default_factory=dict)

    def short(self, buyer: str, price: Decimal) -> str | None:
        left = self.left.get(buyer)
        if left is None or price <= left:
            return None
        return f"funds left {left}, price {price}"
