"""A publisher sends leads in with its own API key and is paid a payout per sale."""

from __future__ import annotations

import hashlib
import secrets
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pingtree.money import ZERO, Money, cents
from pingtree.ratelimits.rates import Rate
from pingtree.screening.model import ScreeningPolicy
from pingtree.verticals.model import NAME_PATTERN


class PayoutType(StrEnum):
    """How a publisher is paid for a sold lead."""

    FIXED = "fixed"
    REVENUE_SHARE = "revenue_share"


class Payout(BaseModel):
    """A fixed amount per sold lead, or a share of what it sold for."""

    model_config = ConfigDict(extra="forbid")

    type: PayoutType = PayoutType.REVENUE_SHARE
    amount: Money | None = None
    percent: Decimal | None = Field(default=None, ge=0, le=100)

    @model_validator(mode="after")
    def _complete(self) -> Payout:
        if self.type is PayoutType.FIXED and self.amount is None:
            raise ValueError("a fixed payout needs amount")
        if self.type is PayoutType.REVENUE_SHARE and self.percent is None:
            raise ValueError("a revenue_share payout needs percent")
        return self

    def for_revenue(self, revenue: Decimal) -> Decimal:
        """What the publisher earns for a lead that sold for revenue (0 when unsold)."""
        if revenue <= 0:
            return ZERO
        if self.type is PayoutType.FIXED:
            assert self.amount is not None
            return cents(self.amount)
        assert self.percent is not None
        return cents(revenue * self.percent / Decimal(100))


class Publisher(BaseModel):
    """A source of leads."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN)
    active: bool = True
    payout: Payout = Field(default_factory=lambda: Payout(percent=Decimal("50")))
    api_key: str | None = Field(
        default=None,
        min_length=16,
        description="Plain key, only in files you apply; stored as its SHA-256 and never exported.",
    )
    api_key_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    screening: ScreeningPolicy | None = Field(
        default=None, description="laid over the vertical's screening for this publisher's leads"
    )
    rate_limit: Rate | None = Field(
        default=None,
        description="leads and pings it may send, e.g. '50/second' or '600/minute' "
        "(default: the publisher_rate_limit setting); over it, 429 with Retry-After",
    )


REVOKED_KEY_SHA256 = "0" * 64
"""The stored hash of a revoked key: no key hashes to it, so the publisher has none that works."""


def new_api_key() -> str:
    """A fresh publisher API key, shown once."""
    return "pk_" + secrets.token_urlsafe(24)


def hash_api_key(key: str) -> str:
    """The stored form of an API key."""
    return hashlib.sha256(key.encode()).hexdigest()
