"""Reports as the API answers them."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, Field

from pingtree.money import Money


class ReportRow(BaseModel):
    """When a row's figures happened."""

    period: str = Field(description="the period's local start: a day, a week's Monday, an hour")
    period_start: datetime
    period_end: datetime = Field(description="excluded")


class CampaignRow(ReportRow):
    """A buyer's campaign in one period (per publisher when asked)."""

    campaign: str
    buyer: str
    vertical: str
    publisher: str | None = None
    removed: bool = Field(
        default=False, description="the campaign is no longer configured (its history is kept)"
    )
    offered: int = Field(description="leads the campaign was pinged or posted")
    pinged: int
    bids: int = Field(description="pings answered with a price")
    posted: int
    sold: int
    rejected: int = Field(description="posts the buyer rejected")
    duplicates: int = Field(description="posts the buyer called duplicates")
    errors: int = Field(description="pings and posts that failed (send errors)")
    timeouts: int
    redirects: int = Field(description="answers that were redirects (counted in errors too)")
    price_mismatches: int
    returns: int = Field(description="returns approved")
    bid_total: Money
    revenue: Money
    payout: Money = Field(description="what the publishers earned on these sales")
    returned: Money = Field(description="revenue given back by approved returns")
    clawed_back: Money = Field(description="payouts taken back by approved returns")
    accept_rate: Decimal | None = Field(description="sold / offered")
    average_bid: Money | None = Field(description="bid_total / bids")
    accepted_price: Money | None = Field(description="revenue / sold")
    cost_per_lead: Money | None = Field(description="payout / sold")
    net_revenue: Decimal = Field(description="revenue - returned")
    margin: Decimal = Field(description="net_revenue - (payout - clawed_back)")
    rejected_by_reason: dict[str, int] = Field(default_factory=dict)


class PublisherRow(ReportRow):
    """A publisher in one period."""

    publisher: str
    sent: int = Field(description="leads stored (refused ones are counted apart)")
    refused: int = Field(description="leads refused at intake (4xx/503), never stored")
    screened_out: int = Field(description="leads screening rejected")
    review: int = Field(description="leads waiting for manual review")
    sold: int
    unsold: int
    uncertain: int = Field(description="leads whose sale waits for an operator")
    returned: int = Field(description="sales returned (approved)")
    revenue: Money
    payout: Money
    returned_revenue: Money
    clawed_back: Money
    net_payout: Decimal = Field(description="payout - clawed_back")
    net_revenue: Decimal = Field(description="revenue - returned_revenue")
    profit: Decimal = Field(description="net_revenue - net_payout")
    average_answer_ms: int | None = Field(description="average time from arrival to answer")
    refused_by_reason: dict[str, int] = Field(default_factory=dict)
    screened_out_by_reason: dict[str, int] = Field(default_factory=dict)
    unsold_by_reason: dict[str, int] = Field(default_factory=dict)


class OwnPublisherRow(ReportRow):
    """A publisher's own figures: its leads and its payouts (never buyers or revenue)."""

    sent: int
    refused: int
    screened_out: int
    review: int
    sold: int
    unsold: int
    uncertain: int
    returned: int
    payout: Money
    clawed_back: Money
    net_payout: Decimal
    average_answer_ms: int | None
    refused_by_reason: dict[str, int] = Field(default_factory=dict)
    screened_out_by_reason: dict[str, int] = Field(default_factory=dict)
    unsold_by_reason: dict[str, int] = Field(default_factory=dict)


class ReportOut(BaseModel):
    """A report: its range, split and zone, how fresh it is, its rows."""

    by: str
    timezone: str
    start: str
    end: str
    rolled_at: datetime | None = Field(
        description="when the rollups last took in lead events (reports are this fresh)"
    )


class CampaignReport(ReportOut):
    """Per buyer and campaign."""

    rows: list[CampaignRow]


class PublisherReport(ReportOut):
    """Per publisher."""

    rows: list[PublisherRow]


class OwnPublisherReport(ReportOut):
    """A publisher's own report."""

    rows: list[OwnPublisherRow]
