"""Postbacks as operators see them: each with every try and its answer."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel


class DeliveryOut(BaseModel):
    """One try: when, the HTTP status (none: no answer), the answer or the error."""

    at: datetime
    status_code: int | None
    duration_ms: float
    answer: str | None
    error: str | None


class PostbackOut(BaseModel):
    """A postback (publisher) or webhook call (buyer) and where it stands."""

    id: str
    lead_id: str | None
    party: str
    name: str
    event: str
    url: str
    body: dict[str, Any]
    status: str
    attempts: int
    next_at: datetime
    created_at: datetime
    delivered_at: datetime | None
    deliveries: list[DeliveryOut]
