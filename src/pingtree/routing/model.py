"""Ping trees, and what routing a lead through one produced."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pingtree.buyers.model import Exchange, Outcome
from pingtree.money import Money
from pingtree.names import NAME_PATTERN


class Flow(StrEnum):
    """How a tier offers a lead to its campaigns (DOMAIN.md, the six flows)."""

    PRIORITY = "priority"
    PRICE = "price"
    WEIGHT = "weight"
    EVEN = "even"
    PARALLEL = "parallel"
    PING_POST = "ping_post"


class SkipReason(StrEnum):
    """Why a campaign was considered and not offered a lead (or its offer came to nothing),
    as the timeline and the reports name it."""

    # found before offering (routing.eligibility, routing.index)
    INACTIVE = "inactive"
    CHANNEL = "channel"
    """a call to a campaign that buys no calls, or a form lead to one that buys calls only"""
    BUYER_INACTIVE = "buyer_inactive"
    BLOCKED = "blocked"
    ALREADY_SOLD_TO_BUYER = "already_sold_to_buyer"
    CONSENT = "consent"
    FILTER = "filter"
    SCHEDULE = "schedule"
    CAP = "cap"
    FUNDS = "funds"
    # found while offering (routing.engine)
    CAP_REACHED = "cap_reached"
    CAP_UNAVAILABLE = "cap_unavailable"
    DEADLINE = "deadline"
    NO_BID = "no_bid"
    BELOW_FLOOR = "below_floor"
    LATE = "late"
    REMOVED = "removed"
    """a bid's campaign or tier left the configuration between an inbound ping and its post"""


class LeadType(StrEnum):
    """Sold to one buyer, or to up to N different buyers."""

    EXCLUSIVE = "exclusive"
    SHARED = "shared"


class Ties(StrEnum):
    """Which of several equal offers goes first."""

    ROTATE = "rotate"
    FIRST = "first"


class TierCampaign(BaseModel):
    """A campaign's place in a tier."""

    model_config = ConfigDict(extra="forbid")

    campaign: str
    rank: int = Field(default=100, ge=0)
    weight: int = Field(default=1, ge=1)


class Tier(BaseModel):
    """One step of a tree: campaigns and the flow that offers the lead to them."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN)
    flow: Flow
    floor: Money = Decimal("0")
    auction_ms: int | None = Field(
        default=None,
        gt=0,
        le=300_000,
        description="parallel and ping_post tiers: the longest the tier waits for bids; "
        "default: until one post timeout is left, at most half of the time left",
    )
    ties: Ties = Field(
        default=Ties.ROTATE,
        description="price, parallel and ping_post tiers: campaigns at the same price and rank "
        "take turns going first (rotate), or the first listed always wins (first)",
    )
    campaigns: list[TierCampaign] = Field(
        default_factory=list, description="may be empty: the tier offers the lead to no one"
    )

    @model_validator(mode="after")
    def _auction_window_needs_an_auction(self) -> Tier:
        if self.auction_ms is not None and self.flow not in (Flow.PARALLEL, Flow.PING_POST):
            raise ValueError("auction_ms applies to parallel and ping_post tiers only")
        return self


class Tree(BaseModel):
    """An ordered list of tiers a lead goes through until it is sold."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN)
    vertical: str
    lead_type: LeadType = LeadType.EXCLUSIVE
    max_buyers: int = Field(default=1, ge=1, le=50)
    max_processing_ms: int = Field(default=5000, gt=0, le=300_000)
    tiers: list[Tier] = Field(
        default_factory=list,
        description="may be empty: leads routed here are answered unsold (no_eligible_buyer)",
    )

    @model_validator(mode="after")
    def _exclusive_sells_once(self) -> Tree:
        if self.lead_type is LeadType.EXCLUSIVE and self.max_buyers != 1:
            raise ValueError("an exclusive tree sells to one buyer: max_buyers must be 1")
        return self

    @property
    def buyers_wanted(self) -> int:
        """How many sales end the routing."""
        return 1 if self.lead_type is LeadType.EXCLUSIVE else self.max_buyers


class Route(BaseModel):
    """Which tree a publisher's leads of a vertical go to."""

    model_config = ConfigDict(extra="forbid")

    publisher: str
    vertical: str
    tree: str
    band: str | None = Field(
        default=None,
        description="screening score band this route takes (e.g. premium); none: every other lead",
    )


# --- what routing produced ------------------------------------------------------------------


@dataclass(frozen=True)
class ConsentReference:
    """What a post hands the buyer about the lead's consent (delivery templates read it)."""

    id: str
    sha256: str
    """SHA-256 of the certificate as the link serves it."""
    url: str | None = None
    """A signed link to the certificate; None when no key signs links."""
    expires_at: datetime | None = None


@dataclass(frozen=True)
class LeadOffer:
    """A lead as the routing core sees it."""

    lead_id: str
    vertical: str
    publisher: str
    fields: dict[str, Any]
    test: bool = False
    people: tuple[str, ...] = ()
    """The person's identity hashes (screening's), for buyers' dedup windows."""
    consent: ConsentReference | None = None
    consented_buyers: frozenset[str] | None = None
    """One-to-one consent: the only buyers that may take the lead; None: any buyer."""
    call: bool = False
    """A phone call: only campaigns that buy calls are offered it (and only it)."""
    left: asyncio.Event | None = None
    """Set when the consumer is gone (a caller hung up): the lead is offered to nobody else."""


# --- one exchange with a buyer: a ping or a post ---------------------------------------------
# Composed, never copied: a Reading is what the rules made of an answer, an Answer is a
# Reading with its timing and its request and answer as recorded, and an Attempt is an
# Answer with who was asked, where and when, and at what agreed price. Storage and the API
# flatten an Attempt in one place each (leads.repository.attempt_values, AttemptOut).


@dataclass
class Reading:
    """What a campaign's response rules made of a buyer's answer."""

    outcome: Outcome
    price: Decimal | None = None
    reference: str | None = None
    reason: str | None = None
    redirect_url: str | None = None
    answered_price: str | None = None
    """The price text an accepted answer stated that is not a valid price (kept for the record)."""
    captured: dict[str, str] = field(default_factory=dict)
    """Named values the answer carried (regex named groups, `capture:` entries)."""


@dataclass(frozen=True)
class Answer:
    """What a buyer answered to one ping or post: the reading, how long it took, and the
    request and the answer as recorded (secrets masked, bodies bounded)."""

    reading: Reading
    duration_ms: float
    request: dict[str, Any] = field(default_factory=dict)
    response: dict[str, Any] = field(default_factory=dict)
    bid_reference: str | None = None
    """A bid's id at the buyer as it came (a signed token may be longer than the reading's,
    which is the record's): what the post sends back. None: the reading's."""


@dataclass(frozen=True)
class Attempt:
    """One ping or post to a campaign: who was asked, in which tier and when, what came back,
    and the price agreed before it was sent."""

    campaign: str
    buyer: str
    kind: Exchange
    started_at: datetime
    answer: Answer
    tier: str | None = None
    bid_price: Decimal | None = None
    """A post's agreed price: the bid it answers, or the campaign's fixed amount."""

    @property
    def price(self) -> Decimal | None:
        """The price the answer stated, else the agreed one: what the attempt is reported at."""
        return reported_price(self.answer.reading, self.bid_price)

    @property
    def price_mismatch(self) -> bool:
        """An accepted post whose answer stated a price other than the agreed one."""
        return mismatched(self.answer.reading, self.bid_price)


# Plain functions, not the properties' bodies: mutation testing (mutmut) leaves decorated
# functions alone, and these decide what a post is booked and reported at.


def reported_price(reading: Reading, agreed: Decimal | None) -> Decimal | None:
    """The price an answer stated, else the price agreed before it was sent."""
    return reading.price if reading.price is not None else agreed


def mismatched(reading: Reading, agreed: Decimal | None) -> bool:
    """An accept that stated a price other than the one agreed (a post's bid or fixed price)."""
    return (
        agreed is not None
        and reading.outcome is Outcome.ACCEPTED
        and reading.price is not None
        and reading.price != agreed
    )


@dataclass(frozen=True)
class Skip:
    """A campaign that was considered and not offered the lead, and why."""

    campaign: str
    reason: SkipReason
    detail: str = ""
    tier: str | None = None


@dataclass(frozen=True)
class SaleResult:
    """A campaign that bought the lead."""

    campaign: str
    buyer: str
    price: Decimal
    reference: str | None
    redirect_url: str | None
    reservation_id: str | None
    tier: str


@dataclass
class RoutingResult:
    """Everything routing did for one lead."""

    sales: list[SaleResult] = field(default_factory=list)
    attempts: list[Attempt] = field(default_factory=list)
    skips: list[Skip] = field(default_factory=list)
    released: list[str] = field(default_factory=list)
    """Cap holds taken for offers that did not sell, to give back when the lead is recorded."""
    claimed: list[str] = field(default_factory=list)
    """Buyers the lead's person was claimed for (a dedup window); given back unless bought."""
    timed_out: bool = False

    @property
    def revenue(self) -> Decimal:
        """What the lead sold for, across buyers."""
        return sum((s.price for s in self.sales), Decimal("0"))
