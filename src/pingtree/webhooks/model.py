"""A party's callback endpoint: a publisher's postback URL, a buyer's webhook."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from pingtree.credentials.refs import SecretSpec


class WebhookEvent(StrEnum):
    """What a callback is sent for."""

    SALE = "sale"
    """a lead of the publisher's sold (once per lead, with its whole payout)"""
    RETURN = "return"
    """a return was approved (publisher: with the payout clawed back) or decided (buyer)"""
    REVIEW = "review"
    """an operator approved or rejected a lead held for manual review"""


class Webhook(BaseModel):
    """An HTTPS endpoint pingtree POSTs a JSON body to, signed like outbound posts."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(pattern=r"^https?://", description="where the JSON body is POSTed")
    secret: SecretSpec | None = Field(
        default=None,
        description="HMAC-SHA256 key: the body is signed as outbound posts are "
        "(`t=<unix time>,v1=<hex>`); {env: NAME}, enc:..., or in clear (encrypted when applied)",
    )
    header: str = Field(
        default="X-Pingtree-Signature",
        pattern=r"^[A-Za-z0-9-]{1,64}$",
        description="the header carrying the signature",
    )
    events: list[WebhookEvent] | None = Field(
        default=None, description="the events sent; default every event the party gets"
    )

    def wants(self, event: WebhookEvent) -> bool:
        """Whether this endpoint is sent event."""
        return self.events is None or event in self.events
