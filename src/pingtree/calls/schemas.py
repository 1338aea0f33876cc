"""What the API shows of calls: a call, its timeline, the call figures."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Field

from pingtree.calls.repository import CallEvent, CallFigures, CallRecord
from pingtree.leads.schemas import AttemptOut


class CallOut(BaseModel):
    """A call: where it came in, the lead it became, how it ended."""

    id: str = Field(description="the provider's call id (CallSid)")
    publisher: str
    vertical: str
    tracking_number: str
    caller: str
    status: str = Field(description="ivr, routing, completed, unsold or refused")
    test: bool
    answers: dict[str, Any] = Field(description="the IVR's answers, by field")
    lead_id: str | None = Field(description="the lead this call became (its pings and dials)")
    matched_lead_id: str | None = Field(description="the caller's earlier form lead")
    started_at: datetime
    ended_at: datetime | None
    duration_s: int | None = Field(description="the whole call, as the provider reported it")
    connected_s: int | None = Field(description="seconds connected to the buyer")
    campaign: str | None = Field(description="the campaign the call was put through to")
    buyer: str | None
    converted: bool = Field(description="lasted the buyer's minimum duration: billed and paid")
    price: Decimal | None
    recording_url: str | None

    @classmethod
    def of(cls, call: CallRecord) -> CallOut:
        return cls.model_validate(call, from_attributes=True)


class CallEventOut(BaseModel):
    at: datetime
    kind: str = Field(description="incoming, ivr, matched, dialed, status, routed or ended")
    detail: dict[str, Any]

    @classmethod
    def of(cls, event: CallEvent) -> CallEventOut:
        return cls(at=event.at, kind=event.kind, detail=event.detail)


class CallStory(CallOut):
    """A call with its timeline: its events, and the pings and dials of the lead it became
    (each with its duration; the lead's own timeline has their requests and answers)."""

    events: list[CallEventOut]
    attempts: list[AttemptOut] = Field(
        default_factory=list, description="pings, and dials (as posts), in order"
    )


class CallFiguresOut(BaseModel):
    key: str
    calls: int
    connected: int
    converted: int
    average_duration_s: Decimal
    revenue: Decimal
    revenue_per_call: Decimal

    @classmethod
    def of(cls, figures: CallFigures) -> CallFiguresOut:
        return cls.model_validate(figures, from_attributes=True)
