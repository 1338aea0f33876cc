"""Build the HTTP request a campaign's ping or post sends: URL, headers, body."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode
from xml.etree import ElementTree as ET

from jinja2.sandbox import ImmutableSandboxedEnvironment

from pingtree.buyers.model import Auth, BodyFormat, Endpoint, Signing
from pingtree.credentials import Masker, references, substitute
from pingtree.delivery.signing import sign
from pingtree.routing.model import ConsentReference

TEST_HEADER = "X-Pingtree-Test"
CONTENT_TYPES = {
    BodyFormat.JSON: "application/json",
    BodyFormat.FORM: "application/x-www-form-urlencoded",
    BodyFormat.XML: "application/xml",
}
# Templates come from configuration: sandboxed, so a template cannot reach into Python.
_templates = ImmutableSandboxedEnvironment(autoescape=False)


@dataclass(frozen=True)
class OutboundRequest:
    """A request ready to send."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes
    masker: Masker = field(default_factory=lambda: Masker(()), repr=False, compare=False)
    party: str = ""
    """Whose connections it rides (the buyer's): requests of one party share keep-alive
    connections, never another's, so no buyer can answer for another on a shared host."""

    def for_record(self, limit: int = 4000) -> dict[str, Any]:
        """The request as stored in the lead's timeline (credentials and secrets hidden)."""
        return {
            "method": self.method,
            "url": self.masker.url(self.url),
            "headers": self.masker.headers(self.headers),
            "body": self.mask(self.body.decode("utf-8", "replace"))[:limit],
        }

    def mask(self, text: str) -> str:
        """Text about this request (an answer, an error) with its secrets hidden."""
        return self.masker.text(text)


def _to_xml(payload: dict[str, Any]) -> bytes:
    root = ET.Element("lead")
    for key, value in payload.items():
        ET.SubElement(root, key).text = "" if value is None else _scalar(value)
    xml: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return xml


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def encode_body(fmt: BodyFormat, payload: dict[str, Any]) -> bytes:
    """The payload in the endpoint's format."""
    if fmt is BodyFormat.JSON:
        return json.dumps(payload, default=str).encode()
    if fmt is BodyFormat.FORM:
        return urlencode({k: "" if v is None else _scalar(v) for k, v in payload.items()}).encode()
    return _to_xml(payload)


def auth_headers(auth: Auth | None, secrets: Mapping[str, str] | None = None) -> dict[str, str]:
    """The Authorization header for the buyer's credentials."""
    if auth is None:
        return {}
    values = secrets or {}
    if auth.type == "bearer":
        return {"Authorization": f"Bearer {substitute(auth.token or '', values)}"}
    username = substitute(auth.username or "", values)
    raw = f"{username}:{substitute(auth.password or '', values)}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def _secret_values(auth: Auth | None, secrets: Mapping[str, str]) -> list[str]:
    """What must never be stored: every secret, and auth written in clear (older configs)."""
    values = list(secrets.values())
    if auth is not None:
        values += [v for v in (auth.password, auth.token) if v and not references(v)]
    return values


def consent_values(consent: ConsentReference | None) -> dict[str, str | None] | None:
    """The consent reference as templates see it (`consent.id`, `.sha256`, `.url`,
    `.expires_at`); the default body carries it as consent_id, consent_sha256, consent_url."""
    if consent is None:
        return None
    expires = consent.expires_at.isoformat() if consent.expires_at is not None else None
    return {"id": consent.id, "sha256": consent.sha256, "url": consent.url, "expires_at": expires}


def build_request(
    endpoint: Endpoint,
    *,
    auth: Auth | None,
    fields: dict[str, Any],
    lead_id: str,
    bid_reference: str | None,
    test: bool,
    secrets: Mapping[str, str] | None = None,
    signing: Signing | None = None,
    now: datetime | None = None,
    consent: ConsentReference | None = None,
    party: str = "",
) -> OutboundRequest:
    """The request for one ping or post. Test leads go to test_url, or are marked as tests.

    secrets: the delivery's secret values, by name; signing (with now): sign the body;
    consent: the lead's consent reference (posts only), for the body or the template;
    party: whose connections it rides (OutboundRequest.party).
    """
    values = secrets or {}
    context: dict[str, Any] = {"lead_id": lead_id}
    if bid_reference is not None:
        context["bid_id"] = bid_reference
    if test:
        context["test"] = True
    handed = consent_values(consent)
    if handed is not None:
        context.update({f"consent_{k}": v for k, v in handed.items() if v is not None})
    if endpoint.template is not None:
        rendered = _templates.from_string(endpoint.template).render(
            lead=fields,
            lead_id=lead_id,
            bid_id=bid_reference,
            test=test,
            secrets=values,
            consent=handed,
        )
        body = rendered.encode()
    else:
        body = encode_body(endpoint.format, {**fields, **context})
    headers = {"Content-Type": CONTENT_TYPES[endpoint.format]}
    headers.update({k: substitute(v, values) for k, v in endpoint.headers.items()})
    headers.update(auth_headers(auth, values))
    if bid_reference is not None:
        headers.setdefault("X-Bid-Id", bid_reference)
    if test:
        headers[TEST_HEADER] = "1"
    if signing is not None:
        assert now is not None, "a signed request needs the time it is sent"
        headers[signing.header] = sign(substitute(signing.secret, values), body, now)
    url = endpoint.test_url if test and endpoint.test_url else endpoint.url
    url = substitute(url, {k: quote(v, safe="") for k, v in values.items()})
    masker = Masker(
        _secret_values(auth, values),
        secret_headers=[k for k, v in endpoint.headers.items() if references(v)],
    )
    return OutboundRequest(
        method=endpoint.method, url=url, headers=headers, body=body, masker=masker, party=party
    )
