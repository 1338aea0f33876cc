"""Read request bodies (JSON, form, XML) and write answers (JSON, XML) as buyers do."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from typing import Any, Literal
from urllib.parse import parse_qsl

JSON_TYPES = frozenset({"application/json", "text/json"})
XML_TYPES = frozenset({"application/xml", "text/xml"})
FORM_TYPE = "application/x-www-form-urlencoded"

Answer = dict[str, str | int | bool]
"""A buyer's answer: field name to value (prices stay text, as buyers send them)."""


class BodyError(ValueError):
    """A request body the simulator cannot read."""


def parse_body(content_type: str | None, raw: bytes, charset: str | None = None) -> Any:
    """Parse a request body by its Content-Type; None for an empty body."""
    try:
        text = raw.decode(charset or "utf-8")
    except (LookupError, UnicodeDecodeError) as exc:
        raise BodyError(f"cannot decode body as {charset or 'utf-8'}: {exc}") from exc
    if not text.strip():
        return None
    kind = _kind(content_type, text)
    if kind == "json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise BodyError(f"body is not valid JSON: {exc}") from exc
    if kind == "xml":
        return _parse_xml(text)
    return _parse_form(text)


def _kind(content_type: str | None, text: str) -> Literal["json", "xml", "form"]:
    if content_type is None:
        # Some buyers' integrations omit the header; guess the way lenient buyers do.
        first = text.lstrip()[:1]
        if first in ("{", "["):
            return "json"
        if first == "<":
            return "xml"
        return "form"
    mime = content_type.split(";", 1)[0].strip().lower()
    if mime in JSON_TYPES or mime.endswith("+json"):
        return "json"
    if mime in XML_TYPES or mime.endswith("+xml"):
        return "xml"
    if mime == FORM_TYPE:
        return "form"
    raise BodyError(
        f"unsupported Content-Type {mime!r}; send application/json, {FORM_TYPE} or application/xml"
    )


def _parse_form(text: str) -> dict[str, str | list[str]]:
    try:
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=True)
    except ValueError as exc:
        raise BodyError(f"body is not valid form data: {exc}") from exc
    out: dict[str, str | list[str]] = {}
    for key, value in pairs:
        if key not in out:
            out[key] = value
            continue
        previous = out[key]
        out[key] = [*previous, value] if isinstance(previous, list) else [previous, value]
    return out


def _parse_xml(text: str) -> Any:
    try:
        # The simulator only listens on a test host; Python's expat refuses entity expansion
        # bombs, and external entities are never fetched by ElementTree.
        root = ET.fromstring(text)  # noqa: S314
    except ET.ParseError as exc:
        raise BodyError(f"body is not valid XML: {exc}") from exc
    value = _element_value(root)
    return value if isinstance(value, dict) else {}


def _element_value(element: ET.Element) -> Any:
    children = list(element)
    if not children:
        return (element.text or "").strip()
    out: dict[str, Any] = {}
    for child in children:
        value = _element_value(child)
        if child.tag not in out:
            out[child.tag] = value
            continue
        previous = out[child.tag]
        out[child.tag] = [*previous, value] if isinstance(previous, list) else [previous, value]
    return out


def render(payload: Answer, respond_as: Literal["json", "xml"]) -> tuple[str, str]:
    """Serialise an answer; returns (body, content type)."""
    if respond_as == "xml":
        root = ET.Element("response")
        for key, value in payload.items():
            text = str(value).lower() if isinstance(value, bool) else str(value)
            ET.SubElement(root, key).text = text
        return ET.tostring(root, encoding="unicode"), "application/xml"
    return json.dumps(payload), "application/json"
