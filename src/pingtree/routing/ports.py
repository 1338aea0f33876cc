"""What the routing core needs from the world, as small protocols.

The core imports no web framework and no database: the app hands in an HTTP gateway to
buyers and a cap ledger backed by storage; tests hand in the same real ones.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

from pingtree.buyers.model import Buyer, Campaign
from pingtree.routing.model import Answer as Answer  # re-exported: gateways answer with it
from pingtree.routing.model import ConsentReference

if TYPE_CHECKING:
    from pingtree.routing.eligibility import CompiledCampaign
    from pingtree.routing.index import TierIndex
    from pingtree.verticals.model import Vertical


@dataclass(frozen=True)
class Bid:
    """A price a campaign offered in answer to a ping, with the buyer's id for it."""

    campaign: str
    price: Decimal
    reference: str | None


@dataclass(frozen=True)
class PersonClaim:
    """A buyer's dedup window to claim the lead's person in, with the post's cap hold."""

    buyer: str
    days: int
    people: Sequence[str]


class PersonTaken(Exception):
    """The buyer holds or bought the person within its window: no hold, no claim taken."""

    def __init__(self, holder: str) -> None:
        super().__init__(f"lead {holder} holds or bought this person")
        self.holder = holder


class CatalogView(Protocol):
    """What the core reads of the configuration in force (config.catalog.Catalog is one)."""

    @property
    def verticals(self) -> Mapping[str, Vertical]: ...

    @property
    def buyers(self) -> Mapping[str, Buyer]: ...

    @property
    def campaigns(self) -> Mapping[str, CompiledCampaign]: ...

    @property
    def tier_indexes(self) -> Mapping[tuple[str, str], TierIndex]: ...

    def campaign(self, name: str) -> Campaign:
        """The campaign called name."""


class BuyerGateway(Protocol):
    """Sends pings and posts to buyers. A ping is only ever handed non-PII fields."""

    async def ping(
        self,
        campaign: Campaign,
        *,
        lead_id: str,
        fields: dict[str, Any],
        test: bool,
        timeout: float,
    ) -> Answer: ...

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
    ) -> Answer: ...


class CapLedger(Protocol):
    """Counts sales against caps. reserve() is the exact, atomic check; room() a fast hint.

    A reservation is settled when the lead is recorded: kept with its sale in the same
    transaction, or given back (RoutingResult.released).
    """

    def room(self, campaign: Campaign, at: datetime) -> str | None:
        """None when the campaign looks to have room, else why not ("daily cap 10 reached")."""

    def spare(self, campaign: Campaign, at: datetime, price: Decimal) -> bool:
        """True when the campaign looks to have room for many more leads at price (or has no
        cap): a hold taken there ahead of its post, while another post is out, cannot then be
        what crowds another lead out at the cap's edge."""

    async def recheck(self, campaigns: Sequence[Campaign], at: datetime) -> bool:
        """Read the counters of campaigns room() turned away again from the system of record;
        True when one of them has room after all.

        room() answers from what this process last saw; another process may have given
        room back since. Called before a campaign is left out for cap room, so that a
        process never refuses a lead the database would take.
        """

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
        """A reservation id when cap room was taken for this lead, else None.

        With person: the buyer's claim on the person is taken with the hold, all or nothing
        (PersonTaken when the buyer has the person: no room is taken then).
        """

    async def raise_hold(
        self, campaign: Campaign, reservation_id: str, *, price: Decimal, to: Decimal
    ) -> bool:
        """Raise an open hold taken at price to the higher price `to`, all or nothing: True
        when every budget of the hold had room for the difference (the hold and its windows
        stand at `to` now), False when one had not (nothing moved). Asked before a sale is
        booked above the price its hold was taken at (post_price: answer)."""

    async def settle(
        self, conn: Any, *, sold: Mapping[str, Decimal], released: Iterable[str]
    ) -> None:
        """In the transaction the lead is recorded in (the storage's own connection): the
        holds that became sales are kept at the price each was booked at (sold), the others
        given back."""

    async def release(self, reservation_id: str) -> None:
        """Give a hold back on its own (an inbound ping that will not be posted)."""


class BuyerPurchases(Protocol):
    """Which persons buyers bought lately. claim() is the exact check, taken before a post.

    Screening's blocked buyers are a fast hint; a claim holds the person for one lead and
    buyer from just before the post until the lead is recorded: kept with a sale, given
    back for the buyers that did not buy.
    """

    async def claim(
        self, *, buyer: str, days: int, people: Sequence[str], lead_id: str, at: datetime
    ) -> str | None:
        """None when the person (identity hashes) is now this lead's for the buyer; else the
        lead that holds or bought it within the buyer's window of days."""


class BuyerFunds(Protocol):
    """Whether a buyer has funds left (prepaid or on credit): a fast hint, like room()."""

    def short(self, buyer: str, price: Decimal) -> str | None:
        """None when the buyer's funds cover price (or are not checked), else why not."""


class Rotation(Protocol):
    """Where an even tier (or a run of tied offers) starts its next rotation.

    One counter per key, shared by every process that routes leads, so that first offers
    are shared evenly over the whole system, not per process (rotation.SharedRotation
    keeps it in Redis; flows.MemoryRotation in one process).
    """

    async def next_start(self, key: str, size: int) -> int:
        """The start index (0 <= start < size) for this lead, advancing the key's counter."""
