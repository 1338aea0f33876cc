"""What publishers send and what they get back."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from pingtree.consent.model import ConsentIn
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


ConsentField = Annotated[
    dict[str, Any] | None,
    WithJsonSchema({"anyOf": [ConsentIn.model_json_schema(), {"type": "null"}]}),
]
"""A consent certificate, read at intake (consent.check) so that its problems are answered
with the lead's other field errors, in one 422."""
_CONSENT = (
    "the TCPA consent certificate captured at conversion (required where the vertical or "
    "publisher says so); `sellers` names the only sellers the lead may go to"
)


class LeadIn(BaseModel):
    """A lead posted by a publisher."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"vertical": "auto-insurance", "fields": _EXAMPLE_FIELDS}]},
    )

    vertical: str = Field(min_length=1, max_length=64)
    fields: dict[str, Any]
    test: bool = Field(default=False, description="route against test endpoints; counts nowhere")
    consent: ConsentField = Field(default=None, description=_CONSENT)


class ErrorAnswer(BaseModel):
    """A refused request: nothing was sold; the reasons say why (a 4xx or 503 answer)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "lead_id": None,
                    "status": "rejected",
                    "reasons": [
                        {
                            "code": "invalid_field",
                            "field": "zip",
                            "message": "zip must be a 5-digit US ZIP code",
                        }
                    ],
                }
            ]
        }
    )

    lead_id: str | None = Field(description="null: no lead was taken")
    status: Literal["rejected", "error"] = Field(
        description="rejected: the request was refused; error: retry later (503)"
    )
    reasons: list[Reason]


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for the refusals a route may answer, in pingtree's shape."""
    meaning = {
        401: "no or unknown credential (missing_api_key, invalid_api_key)",
        403: "not allowed (publisher_inactive)",
        404: "no such thing (not_found, unknown_ping)",
        409: "conflict with an earlier request (idempotency_*, ping_used)",
        410: "the ping expired (ping_expired)",
        422: "the request or a lead field is invalid (invalid_request, invalid_field, "
        "unknown_vertical, not_routed)",
        429: "over the publisher's intake rate (rate_limited); retry after Retry-After",
        503: "busy or unavailable; nothing was sold; retry after Retry-After",
    }
    return {code: {"model": ErrorAnswer, "description": meaning[code]} for code in codes}


class ConfigIssueOut(BaseModel):
    """One configuration problem: where and why."""

    path: str
    reason: str


class ConfigRefused(BaseModel):
    """A configuration change refused (422): every problem found."""

    status: Literal["invalid_config"]
    issues: list[ConfigIssueOut]


def admin_error_responses() -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` the admin API may answer besides its own."""
    out = error_responses(401, 403, 404, 409, 429, 503)
    out[401]["description"] = "no or unknown operator token (invalid_admin_token)"
    out[403]["description"] = "not allowed (forbidden_for_role, admin_disabled)"
    out[404]["description"] = "no such thing (not_found, unknown_kind)"
    out[409]["description"] = "conflict with the lead's state (not_in_review)"
    out[429]["description"] = "too many failed tokens (rate_limited); retry after Retry-After"
    out[422] = {
        "model": ErrorAnswer | ConfigRefused,
        "description": "an invalid request (invalid_request) or configuration (invalid_config)",
    }
    return out


class LeadAnswer(BaseModel):
    """The answer to a posted lead."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "lead_id": "8ee5ffaf-3f0c-4d5e-9a59-4b1d8f9e2c11",
                    "status": "sold",
                    "payout": "23.13",
                    "redirect_url": "https://apex.example/thanks",
                    "reasons": [],
                    "test": False,
                }
            ]
        }
    )

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

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "ping_id": "5b0f6c1e-2d7a-4c55-8f0e-6a1d2b3c4d5e",
                    "status": "bid",
                    "payout": "12.00",
                    "expires_at": "2026-12-03T09:37:36Z",
                    "reasons": [],
                }
            ]
        }
    )

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
    consent: ConsentField = Field(default=None, description=_CONSENT)


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


class ConsentOut(BaseModel):
    """A lead's consent certificate, as stored (never changed)."""

    id: str
    sha256: str = Field(description="SHA-256 of certificate_text, the bytes the link serves")
    consented_at: datetime
    sellers: list[str]
    certificate: dict[str, Any]
    certificate_text: str = Field(description="the certificate exactly as stored and served")


class AuditEventOut(BaseModel):
    """One event of the audit trail, with its link in the hash chain once sealed."""

    id: int
    seq: int | None = Field(description="its place in the chain; null until sealed")
    hash: str | None = Field(description="the chain's hash up to and with this event")
    occurred_at: datetime
    kind: str
    actor: str
    subject: str | None
    details: dict[str, Any]


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
    consent: ConsentOut | None = None
    audit: list[AuditEventOut] = Field(
        default_factory=list, description="the lead's events in the audit trail, in order"
    )


class EvidenceLink(AuditEventOut):
    """An audit event with what anyone needs to recompute its link (audit.chain)."""

    details_text: str = Field(description="the details exactly as hashed")
    occurred_at_text: str = Field(description="occurred_at exactly as hashed")
    prev_hash: str | None = Field(description="the hash of the link before it")
    holds: bool | None = Field(
        description="whether its hash follows from prev_hash and the event; null if unsealed"
    )


class Evidence(BaseModel):
    """One lead's evidence, to hand over in a dispute: its timeline, the consent certificate
    and its audit events with their links, checkable without pingtree."""

    format: Literal["pingtree-evidence/1"] = "pingtree-evidence/1"
    exported_at: datetime
    lead: Timeline
    links: list[EvidenceLink]
    chain_head: dict[str, Any] = Field(description="the chain's head (seq, hash) at export")
    hashing: str = Field(description="how each link's hash is computed")
