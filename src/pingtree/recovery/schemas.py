"""What the operator sees of an uncertain post, and how it is resolved."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from pingtree.leads.schemas import LeadStatus
from pingtree.money import Money


class UncertainPost(BaseModel):
    """A post that went out before a crash and whose answer was never recorded."""

    reservation_id: str
    lead_id: str
    publisher: str
    campaign: str
    buyer: str | None = Field(description="None when the campaign is no longer configured")
    price: Money
    posted_at: datetime


class Resolution(BaseModel):
    """The operator's finding, after asking the buyer."""

    sold: bool = Field(description="true: the buyer took the lead (booked as a sale)")


class Resolved(BaseModel):
    """What resolving an uncertain post did."""

    reservation_id: str
    lead_id: str
    sold: bool
    lead_status: LeadStatus
