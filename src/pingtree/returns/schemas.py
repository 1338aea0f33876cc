"""What buyers and operators send and get back about returns."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from pingtree.money import Money


class ReturnStatus(StrEnum):
    """Where a return stands."""

    PENDING = "pending"  # waits for an operator
    APPROVED = "approved"
    REJECTED = "rejected"


class ReturnIn(BaseModel):
    """A buyer's request to return a lead it bought."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "lead_id": "8ee5ffaf-3f0c-4d5e-9a59-4b1d8f9e2c11",
                    "reason": "wrong_number",
                    "note": "the number belongs to someone else",
                }
            ]
        },
    )

    lead_id: str = Field(min_length=1, max_length=36)
    reason: str = Field(min_length=1, max_length=64, description="one of the buyer's reason codes")
    note: str | None = Field(default=None, max_length=1000)


class DecisionIn(BaseModel):
    """An operator's decision on a pending return."""

    model_config = ConfigDict(extra="forbid")

    note: str | None = Field(default=None, max_length=1000)


class RejectionIn(BaseModel):
    """Why an operator rejects a return (the buyer is told)."""

    model_config = ConfigDict(extra="forbid")

    note: str = Field(min_length=1, max_length=1000)


class ReturnOut(BaseModel):
    """A return: the sale it is for, the reason, and the decision."""

    id: str
    lead_id: str
    buyer: str
    campaign: str
    price: Money
    sold_at: datetime
    reason: str
    note: str | None
    status: ReturnStatus
    requested_at: datetime
    held_because: str | None = Field(description="why it was not approved at once")
    decided_at: datetime | None
    decided_by: str | None = Field(description="the operator, or `auto`")
    decision_note: str | None
    clawed_back: Money = Field(description="the publisher's payout taken back")
    cap_freed: bool
    offered_again: bool


class OperatorReturnOut(ReturnOut):
    """A return as an operator sees it (with the publisher and its payout)."""

    publisher: str
    vertical: str
    payout: Money


RETURN_CODES: dict[str, str] = {
    "missing_buyer_key": "(401) no X-Buyer-Key header",
    "invalid_buyer_key": "(401) the key belongs to no buyer",
    "returns_not_accepted": "(403) the buyer's terms have no returns",
    "invalid_reason": "(422) the reason is not one of the buyer's reason codes",
    "return_window_closed": "(422) the sale is older than the buyer's return window",
    "not_found": "(404) the buyer bought no such lead, or there is no such return",
    "already_returned": "(409) a return was asked for this sale already",
    "already_decided": "(409, operators) the return was approved or rejected already",
}
"""The codes the returns API answers buyers (and operators) with, and what each means."""
