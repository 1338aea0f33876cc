"""What the audit trail records: one event per step of a lead, per configuration change."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class EventKind(StrEnum):
    """The kinds of audit event."""

    LEAD_RECEIVED = "lead_received"
    CONSENT_CAPTURED = "consent_captured"
    LEAD_SCREENED = "lead_screened"
    INBOUND_PINGS = "inbound_pings"
    """The pings an inbound ping made, recorded when its lead is posted."""
    LEAD_ROUTED = "lead_routed"
    """Every ping and post routing made, each sale, and the answer: one event per lead."""
    LEAD_ANSWERED = "lead_answered"
    """The answer of a lead screening rejected or held, or a reviewer rejected."""
    REVIEW_DECIDED = "review_decided"
    LEAD_SETTLED = "lead_settled"
    """Recovery answered an interrupted lead, or an operator resolved an uncertain post."""
    LEAD_RETURNED = "lead_returned"
    CONFIG_CHANGED = "config_changed"
    ACCOUNT_CHANGED = "account_changed"
    """An operator account created, given a new token or revoked (never the token)."""


SYSTEM = "pingtree"
"""The actor of what the engine does on its own."""


@dataclass(frozen=True)
class Event:
    """One event, as appended: sealed into the chain later (audit.seal)."""

    kind: EventKind
    occurred_at: datetime
    actor: str = SYSTEM
    lead_id: str | None = None
    subject: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


def operator(name: str) -> str:
    """The actor name of an operator (API, console)."""
    return f"operator:{name}"


def named(actor: str) -> str:
    """Who an actor is in the ledger and the reports: an operator by their own name."""
    return actor.removeprefix("operator:")


def buyer(name: str) -> str:
    """The actor name of a buyer (the buyer API)."""
    return f"buyer:{name}"


def publisher(name: str) -> str:
    """The actor name of a publisher."""
    return f"publisher:{name}"
