"""What consent is: the policy a vertical or publisher sets, the certificate a publisher
sends with a lead, and the certificate as stored and handed to buyers."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from pingtree.digests import canonical_json, sha256_hex


class UnnamedSellers(StrEnum):
    """What a certificate that names no sellers allows."""

    ALLOW = "allow"
    REFUSE = "refuse"


class ConsentPolicy(BaseModel):
    """The consent a vertical (or a publisher, laid over its verticals) asks of each lead."""

    model_config = ConfigDict(extra="forbid")

    required: bool = Field(
        default=False,
        description="a lead without a consent certificate is refused (422 missing_consent)",
    )
    max_age: timedelta | None = Field(
        default=None,
        gt=timedelta(0),
        description="a certificate older than this when the lead arrives is refused "
        "(422 consent_too_old): seconds, or ISO 8601 (PT15M, P1D)",
    )
    unnamed_sellers: UnnamedSellers = Field(
        default=UnnamedSellers.ALLOW,
        description="a certificate that names no sellers: allow (any buyer may take the "
        "lead) or refuse (422 consent_names_no_seller)",
    )

    def overlay(self, override: ConsentPolicy) -> ConsentPolicy:
        """This policy with a more specific one (publisher over vertical) laid on top."""
        data = self.model_dump()
        data.update({name: getattr(override, name) for name in override.model_fields_set})
        return ConsentPolicy.model_validate(data)


def policy_in_force(
    vertical: ConsentPolicy | None, publisher: ConsentPolicy | None
) -> ConsentPolicy | None:
    """The consent policy for a publisher's leads of a vertical: the publisher's laid over
    the vertical's."""
    if vertical is None or publisher is None:
        return vertical or publisher
    return vertical.overlay(publisher)


HttpUrl = Annotated[str, StringConstraints(pattern=r"^https?://\S+$", max_length=2048)]
SellerName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
MAX_SELLERS = 200


class ConsentIn(BaseModel):
    """A consent certificate as a publisher sends it, in the lead's `consent`."""

    model_config = ConfigDict(extra="forbid")

    consented_at: datetime = Field(
        description="when the consumer consented (ISO 8601; without an offset read as UTC)"
    )
    ip: str = Field(max_length=64, description="the consumer's IP address at consent")
    user_agent: str = Field(min_length=1, max_length=1000, description="the browser's user agent")
    page_url: HttpUrl = Field(description="the page the consent was given on")
    disclosure_text: str | None = Field(
        default=None, min_length=1, max_length=20_000, description="the consent text shown"
    )
    disclosure_sha256: str | None = Field(
        default=None,
        pattern=r"^[0-9a-fA-F]{64}$",
        description="SHA-256 (hex) of the consent text shown, if the text is not sent",
    )
    disclosure_version: str | None = Field(
        default=None, min_length=1, max_length=128, description="the version id of the text"
    )
    sellers: list[SellerName] = Field(
        default_factory=list,
        max_length=MAX_SELLERS,
        description="the sellers the consumer consented to (one-to-one consent); the lead "
        "is offered only to buyers known by one of these names",
    )
    certificate_url: HttpUrl | None = Field(
        default=None, description="a third-party certificate (TrustedForm-style URL)"
    )
    certificate_token: str | None = Field(
        default=None,
        min_length=1,
        max_length=255,
        description="a third-party token (Jornaya LeadiD-style)",
    )

    @field_validator("consented_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    @field_validator("ip")
    @classmethod
    def _an_address(cls, value: str) -> str:
        try:
            return str(ipaddress.ip_address(value.strip()))
        except ValueError:
            raise ValueError("must be an IPv4 or IPv6 address") from None

    @field_validator("disclosure_sha256")
    @classmethod
    def _lower(cls, value: str | None) -> str | None:
        return value.lower() if value is not None else None

    @model_validator(mode="after")
    def _disclosure_given(self) -> ConsentIn:
        if self.disclosure_text is None and self.disclosure_sha256 is None:
            raise ValueError("disclosure_text or disclosure_sha256 is required")
        text, digest = self.disclosure_text, self.disclosure_sha256
        if text is not None and digest is not None and sha256_hex(text) != digest:
            raise ValueError("disclosure_sha256 is not the SHA-256 of disclosure_text")
        return self


@dataclass(frozen=True)
class Certificate:
    """A lead's consent as stored: its canonical JSON (served byte for byte) and digest."""

    id: str
    lead_id: str
    text: str
    sha256: str
    consented_at: datetime
    sellers: tuple[str, ...]

    @classmethod
    def of(cls, given: ConsentIn, *, id: str, lead_id: str, received_at: datetime) -> Certificate:
        """The certificate of a lead's consent, its disclosure's hash filled in."""
        body: dict[str, Any] = given.model_dump(mode="json", exclude_none=True)
        if given.disclosure_text is not None:
            body["disclosure_sha256"] = sha256_hex(given.disclosure_text)
        body.update(
            id=id,
            lead_id=lead_id,
            received_at=received_at.astimezone(UTC).isoformat(),
            consented_at=given.consented_at.isoformat(),
        )
        text = canonical_json(body)
        return cls(
            id=id,
            lead_id=lead_id,
            text=text,
            sha256=sha256_hex(text),
            consented_at=given.consented_at,
            sellers=tuple(given.sellers),
        )

    @classmethod
    def stored(
        cls, *, id: str, lead_id: str, text: str, sha256: str, consented_at: datetime, sellers: Any
    ) -> Certificate:
        """A certificate read back from storage."""
        return cls(id, lead_id, text, sha256, consented_at, tuple(sellers or ()))
