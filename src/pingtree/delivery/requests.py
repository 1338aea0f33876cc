"""Build the HTTP request a campaign's ping or post sends: URL, headers, body."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode
from xml.etree import ElementTree as ET

from jinja2.sandbox import ImmutableSandboxedEnvironment

from pingtree.buyers.model import Auth, BodyFormat, Endpoint

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

    def for_record(self, limit: int = 4000) -> dict[str, Any]:
        """The request as stored in the lead's timeline (credentials hidden)."""
        shown = {
            k: ("***" if k.lower() in ("authorization", "x-api-key") else v)
            for k, v in self.headers.items()
        }
        return {
            "method": self.method,
            "url": self.url,
            "headers": shown,
            "body": self.body[:limit].decode("utf-8", "replace"),
        }


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


def auth_headers(auth: Auth | None) -> dict[str, str]:
    """The Authorization header for the buyer's credentials."""
    if auth is None:
        return {}
    if auth.type == "bearer":
        return {"Authorization": f"Bearer {auth.token}"}
    raw = f"{auth.username}:{auth.password}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def build_request(
    endpoint: Endpoint,
    *,
    auth: Auth | None,
    fields: dict[str, Any],
    lead_id: str,
    bid_reference: str | None,
    test: bool,
) -> OutboundRequest:
    """The request for one ping or post. Test leads go to test_url, or are marked as tests."""
    context: dict[str, Any] = {"lead_id": lead_id}
    if bid_reference is not None:
        context["bid_id"] = bid_reference
    if test:
        context["test"] = True
    if endpoint.template is not None:
        rendered = _templates.from_string(endpoint.template).render(
            lead=fields, lead_id=lead_id, bid_id=bid_reference, test=test
        )
        body = rendered.encode()
    else:
        body = encode_body(endpoint.format, {**fields, **context})
    headers = {"Content-Type": CONTENT_TYPES[endpoint.format], **endpoint.headers}
    headers.update(auth_headers(auth))
    if bid_reference is not None:
        headers.setdefault("X-Bid-Id", bid_reference)
    if test:
        headers[TEST_HEADER] = "1"
    url = endpoint.test_url if test and endpoint.test_url else endpoint.url
    return OutboundRequest(method=endpoint.method, url=url, headers=headers, body=body)
