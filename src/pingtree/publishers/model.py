"""A publisher sends leads in with its own API key and is paid a payout per sale."""

from __future__ import annotations

import hashlib
import secrets
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pingtree.consent.model import ConsentPolicy
from pingtree.money import ZERO, Money, cents
from pingtree.ratelimits.rates import Rate
from pingtree.screening.model import ScreeningPolicy
from pingtree.verticals.model import NAME_PATTERN
from pingtree.webhooks import Webhook


class PayoutType(StrEnum):
    """How a publisher is paid for a sold lead."""

    FIXED = "fixed"
    REVENUE_SHARE = "revenue_share"
    MARGIN_ABSOLUTE = "margin_absolute"
    MARGIN_PERCENT = "margin_percent"


_NEEDS_AMOUNT = (PayoutType.FIXED, PayoutType.MARGIN_ABSOLUTE)


class Payout(BaseModel):
    """What a publisher earns per sale: a fixed amount, a share of the price, or the price
    less the house's margin (an amount or a percent). Never below zero.

    A shared lead pays per sale: each buyer's purchase is worked out on its own price.
    """

    model_config = ConfigDict(extra="forbid")

    type: PayoutType = Field(
        default=PayoutType.REVENUE_SHARE,
        description="fixed (amount per sale), revenue_share (percent of the price), "
        "margin_absolute (the price less amount), margin_percent (the price less percent of it)",
    )
    amount: Money | None = Field(
        default=None, description="fixed: paid per sale; margin_absolute: kept by the house"
    )
    percent: Decimal | None = Field(
        default=None,
        ge=0,
        le=100,
        description="revenue_share: paid to the publisher; margin_percent: kept by the house",
    )

    @model_validator(mode="after")
    def _complete(self) -> Payout:
        if self.type in _NEEDS_AMOUNT and self.amount is None:
            raise ValueError(f"a {self.type.value} payout needs amount")
        if self.type not in _NEEDS_AMOUNT and self.percent is None:
            raise ValueError(f"a {self.type.value} payout needs percent")
        return self

    def for_sale(self, price: Decimal) -> Decimal:
        """What the publisher earns for one sale at price, to the cent, never below zero."""
        if price <= 0:
            return ZERO
        if self.type is PayoutType.FIXED:
            assert self.amount is not None
            earned = self.amount
        elif self.type is PayoutType.MARGIN_ABSOLUTE:
            assert self.amount is not None
            earned = price - self.amount
        else:
            assert self.percent is not None
            share = self.percent if self.type is PayoutType.REVENUE_SHARE else 100 - self.percent
            earned = price * share / Decimal(100)
        return max(cents(earned), ZERO)

    def for_sales(self, prices: list[Decimal]) -> list[Decimal]:
        """The payout of each sale of a lead (a shared lead pays per sale)."""
        return [self.for_sale(price) for price in prices]

    def for_revenue(self, revenue: Decimal) -> Decimal:
        """What the publisher earns for a lead sold once for revenue (0 when unsold)."""
        return self.for_sale(revenue)

    def record(self) -> dict[str, str]:
        """The rule as recorded with each sale it paid."""
        rule = {"type": self.type.value}
        if self.type in _NEEDS_AMOUNT:
            rule["amount"] = str(cents(self.amount or ZERO))
        else:
            rule["percent"] = str(self.percent)
        return rule


class TrackingNumber(BaseModel):
    """A number callers dial: it tells which publisher sent the call, for which vertical."""

    model_config = ConfigDict(extra="forbid")

    number: str = Field(pattern=r"^\+[1-9][0-9]{6,14}$", description="E.164: +18005550100")
    vertical: str
    tree: str | None = Field(
        default=None,
        description="the tree its calls go through (calls ring for seconds: their tree's "
        "max_processing_ms is longer); default: the publisher's route for the vertical",
    )


class Publisher(BaseModel):
    """A source of leads."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN)
    active: bool = True
    payout: Payout = Field(default_factory=lambda: Payout(percent=Decimal("50")))
    vertical_payouts: dict[str, Payout] = Field(
        default_factory=dict,
        description="the payout for leads of a vertical (by name), over `payout`",
    )
    api_key: str | None = Field(
        default=None,
        min_length=16,
        description="Plain key, only in files you apply; stored as its SHA-256 and never exported.",
    )
    api_key_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    screening: ScreeningPolicy | None = Field(
        default=None, description="laid over the vertical's screening for this publisher's leads"
    )
    consent: ConsentPolicy | None = Field(
        default=None,
        description="laid over each vertical's consent policy for this publisher's leads",
    )
    postback: Webhook | None = Field(
        default=None, description="called on each sale, approved return and review decision"
    )
    numbers: list[TrackingNumber] = Field(
        default_factory=list,
        description="tracking numbers callers dial: each maps the publisher's calls to a vertical",
    )
    rate_limit: Rate | None = Field(
        default=None,
        description="leads and pings it may send, e.g. '50/second' or '600/minute' "
        "(default: the publisher_rate_limit setting); over it, 429 with Retry-After",
    )

    def payout_for(self, vertical: str) -> Payout:
        """The payout rule for this publisher's leads of a vertical."""
        return self.vertical_payouts.get(vertical, self.payout)


REVOKED_KEY_SHA256 = "0" * 64
"""The stored hash of a revoked key: no key hashes to it, so the publisher has none that works."""


def new_api_key() -> str:
    """A fresh publisher API key, shown once."""
    return "pk_" + secrets.token_urlsafe(24)


def hash_api_key(key: str) -> str:
    """The stored form of an API key."""
    return hashlib.sha256(key.encode()).hexdigest()
