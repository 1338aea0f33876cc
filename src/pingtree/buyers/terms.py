"""A buyer's money terms: the funds it buys with, and the returns it may make."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pingtree.money import Money

RETURN_REASONS: tuple[str, ...] = (
    "invalid_contact",
    "wrong_number",
    "disconnected",
    "duplicate",
    "not_interested",
    "did_not_request",
    "fraud",
    "out_of_area",
    "other",
)
"""The reason codes a buyer may give, unless its `returns.reasons` lists its own."""

REASON_CODE = r"^[a-z][a-z0-9_]{0,63}$"


class Funds(BaseModel):
    """Prepaid funds or a credit limit: a buyer with no funds left is skipped (`funds`).

    The buyer's balance is what it was credited less what it bought (plus approved
    returns); it may go down to minus credit_limit.
    """

    model_config = ConfigDict(extra="forbid")

    credit_limit: Money = Field(
        default=Decimal("0"),
        description="how far below zero the balance may go; 0: prepaid (only funds credited)",
    )


class ReturnPeriod(StrEnum):
    """The period a buyer's returns are counted over (UTC)."""

    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"


class ReturnLimit(BaseModel):
    """At most count returns, or percent of the period's purchases, approved without an
    operator; beyond, returns wait for one."""

    model_config = ConfigDict(extra="forbid")

    period: ReturnPeriod = Field(
        default=ReturnPeriod.MONTHLY, description="daily, weekly or monthly, counted in UTC"
    )
    count: Annotated[int, Field(ge=0)] | None = Field(
        default=None, description="returns per period"
    )
    percent: Annotated[Decimal, Field(ge=0, le=100)] | None = Field(
        default=None, description="returns per period as a percent of the period's purchases"
    )

    @model_validator(mode="after")
    def _some_limit(self) -> ReturnLimit:
        if self.count is None and self.percent is None:
            raise ValueError("a return limit needs count and/or percent")
        return self


class ReturnPolicy(BaseModel):
    """Whether, how long and why a buyer may return a lead it bought, and what follows."""

    model_config = ConfigDict(extra="forbid")

    window_days: int = Field(
        default=7, ge=0, le=365, description="days after the sale a return may be asked for"
    )
    reasons: list[Annotated[str, Field(pattern=REASON_CODE)]] = Field(
        default_factory=lambda: list(RETURN_REASONS),
        min_length=1,
        description="the reason codes accepted",
    )
    auto_approve: bool = Field(
        default=False,
        description="approve at once when within max_age_hours and limit; "
        "otherwise an operator approves or rejects",
    )
    max_age_hours: Annotated[int, Field(gt=0)] | None = Field(
        default=None, description="approve at once only sales younger than this"
    )
    limit: ReturnLimit | None = Field(
        default=None, description="approve at once only while under this many returns"
    )
    claw_back: bool = Field(
        default=True, description="an approved return takes the publisher's payout back"
    )
    free_cap: bool = Field(
        default=False, description="an approved return gives the campaign's cap room back"
    )
    offer_again: bool = Field(
        default=False,
        description="offer a returned lead to the other buyers (never the returning one)",
    )
