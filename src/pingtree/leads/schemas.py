"""What publishers send and what they get back."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from pingtree.money import Money
from pingtree.reasons import Reason as Reason  # re-exported: the API answers with it


class LeadStatus(StrEnum):
    """Where a lead stands. The first two are passing states; the rest are answers.

    uncertain: routing was interrupted (a crash) after a post went out and before its answer
    was recorded; an operator resolves it to sold or unsold.
    """

    RECEIVED = "received"
    REVIEW = "review"
    SOLD = "sold"
    UNSOLD = "unsold"
    REJECTED = "rejected"
    UNCERTAIN = "uncertain"


# The demo's lead (examples/lead.json): shown in /docs, and sent by the API fuzz test.
_EXAMPLE_FIELDS: dict[str, Any] = {
    "first_name": "Dana",
    "last_name": "Whitfield",
    "email": "dana.whitfield@example.com",
    "phone": "(213) 624-7381",
    "zip": "90012",
    "state": "CA",
    "age": 34,
    "credit_rating": "good",
    "vehicle_year": 2019,
    "currently_insured": True,
}
_NON_PII = ("zip", "state", "age", "credit_rating", "vehicle_year", "currently_insured")


class LeadIn(BaseModel):
    """A lead posted by a publisher."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"vertical": "auto-insurance", "fields": _EXAMPLE_FIELDS}]},
    )

    vertical: str = Field(min_length=1, max_length=64)
    fields: dict[str, Any]
    test: bool = Field(default=False, description="route against test endpoints; counts nowhere")


class LeadAnswer(BaseModel):
    """The answer to a posted lead."""

    lead_id: str
    status: LeadStatus
    payout: Money = Decimal("0")
    redirect_url: str | None = None
    reasons: list[Reason] = Field(default_factory=list)
    test: bool = False


class InboundPingIn(BaseModel):
    """A publisher's ping: the lead's non-PII fields, to learn its price."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "vertical": "auto-insurance",
                    "fields": {name: _EXAMPLE_FIELDS[name] for name in _NON_PII},
                }
            ]
        },
    )

    vertical: str = Field(min_length=1, max_length=64)
    fields: dict[str, Any]
    test: bool = False


class InboundPingAnswer(BaseModel):
    """The price the publisher will be paid if it posts the full lead before expires_at."""

    ping_id: str | None
    status: str = Field(description="bid, or no_bid")
    payout: Money = Decimal("0")
    expires_at: datetime | None = None
    reasons: list[Reason] = Field(default_factory=list)


class InboundPostIn(BaseModel):
    """The full lead for an earlier ping."""

    model_config = ConfigDict(extra="forbid")

    ping_id: str
    fields: dict[str, Any]


class PublisherLead(BaseModel):
    """A lead as its publisher sees it: its own outcome, never buyers, bids or revenue."""

    lead_id: str
    status: LeadStatus
    test: bool
    payout: Money
    redirect_url: str | None
    reasons: list[Reason]
    screening_findings: list[str] = Field(description="the codes screening found, in order")
    received_at: datetime
    answered_at: datetime | None


class AttemptOut(BaseModel):
    """One ping or post in a lead's timeline."""

    campaign: str
    buyer: str
    tier: str | None
    kind: str
    outcome: str
    price: Money | None
    reference: str | None
    reason: str | None
    redirect_url: str | None
    started_at: datetime
    duration_ms: float
    request: dict[str, Any]
    response: dict[str, Any]
    bid_price: Money | None = None
    answer_price: Money | None = None
    price_mismatch: bool = False


class SaleOut(BaseModel):
    """A sale in a lead's timeline."""

    campaign: str
    buyer: str
    price: Money
    payout: Money
    reference: str | None
    sold_at: datetime


class Timeline(BaseModel):
    """Everything about one lead: fields, screening, each campaign considered, every request."""

    lead_id: str
    publisher: str
    vertical: str
    status: LeadStatus
    test: bool
    tree: str | None
    received_at: datetime
    answered_at: datetime | None
    revenue: Money
    payout: Money
    redirect_url: str | None
    timed_out: bool
    fields: dict[str, Any]
    reasons: list[Reason]
    risk_score: int | None
    screening: dict[str, Any] | None
    skipped: list[dict[str, Any]]
    attempts: list[AttemptOut]
    sales: list[SaleOut]
