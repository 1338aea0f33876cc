"""Read a buyer's answer with the campaign's response rules.

A 3xx (never followed) and a 5xx are always errors. Any other non-2xx answer is never an
accept unless the rule that matched reads its status (`source: status`). An answer no rule
recognises takes the rules' `otherwise` outcome, which defaults to error: a 200 HTML error
page is never bought as an accept. An accepted answer that states a price must state a
valid one (AnswerFault.INVALID_BID).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from functools import cached_property
from typing import Any
from xml.etree import ElementTree as ET

from pingtree.buyers.model import Extract, Outcome, ResponseRule, ResponseRules, Source
from pingtree.money import LARGEST, parse_money

_MISSING = object()


class AnswerFault(StrEnum):
    """Why an answer is an error attempt; each is the first word of the attempt's reason."""

    ANSWER_TOO_LARGE = "answer_too_large"
    ANSWER_INCOMPLETE = "answer_incomplete"
    REDIRECT = "redirect"
    NOT_2XX = "not_2xx"
    INVALID_BID = "invalid_bid"
    UNREADABLE = "unreadable_answer"

    def because(self, detail: str) -> str:
        """The attempt's reason: this fault's code, then what happened."""
        return f"{self.value}: {detail}"


_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]|\['([^']+)'\]")


def json_path(document: Any, path: str) -> Any:
    """The value at a simple JSON path ($.a.b[0].c); _MISSING when absent."""
    path = path.strip()
    if path.startswith("$"):
        path = path[1:]
    current = document
    for match in _PATH_PART.finditer(path):
        key, index, quoted = match.groups()
        if index is not None:
            if not isinstance(current, list) or int(index) >= len(current):
                return _MISSING
            current = current[int(index)]
        else:
            name = key if key is not None else quoted
            if not isinstance(current, dict) or name not in current:
                return _MISSING
            current = current[name]
    return current


def xml_path(root: ET.Element, path: str) -> Any:
    """The text (or @attribute) at an XPath over the answer; _MISSING when absent."""
    attribute = None
    if "/@" in path:
        path, attribute = path.rsplit("/@", 1)
    if path.startswith("//"):
        node: ET.Element | None = root.find("." + path)
    elif path.startswith("/"):
        head, _, rest = path[1:].partition("/")
        node = (root if not rest else root.find(rest)) if head == root.tag else None
    else:
        node = root.find(path) if path not in (".", "") else root
    if node is None:
        return _MISSING
    if attribute is not None:
        return node.get(attribute, _MISSING)
    return (node.text or "").strip()


@dataclass
class BuyerResponse:
    """A raw HTTP answer, parsed on demand."""

    status: int
    headers: Mapping[str, str]
    text: str

    @cached_property
    def json(self) -> Any:
        try:
            return json.loads(self.text)
        except ValueError:
            return _MISSING

    @cached_property
    def xml(self) -> ET.Element | None:
        try:
            return ET.fromstring(self.text)  # noqa: S314 - buyer XML, no entity expansion in ET
        except ET.ParseError:
            return None

    def value(self, where: Extract) -> Any:
        """The value a rule or extractor points at; _MISSING when absent or unparsable."""
        source = where.source
        if source is Source.STATUS:
            return str(self.status)
        if source is Source.BODY:
            return self.text
        if source is Source.HEADER:
            return self.headers.get(where.path, _MISSING)
        if source is Source.REGEX:
            found = re.search(where.path, self.text)
            if found is None:
                return _MISSING
            return found.group(1) if found.groups() else found.group(0)
        if source is Source.JSON:
            doc = self.json
            return _MISSING if doc is _MISSING else json_path(doc, where.path)
        root = self.xml
        return _MISSING if root is None else xml_path(root, where.path)

    def unparsable_for(self, rules: ResponseRules) -> str | None:
        """Why the body cannot be read the way the rules expect, if it cannot."""
        sources = {r.source for r in rules.rules}
        if Source.JSON in sources and self.json is _MISSING:
            return "response is not JSON"
        if Source.XPATH in sources and self.xml is None:
            return "response is not XML"
        return None


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def rule_matches(rule: ResponseRule, value: Any) -> bool:
    """Whether the value at the rule's path passes its one test."""
    if rule.exists is not None:
        return (value is not _MISSING and value is not None) is rule.exists
    if value is _MISSING or value is None:
        return False
    text = _as_text(value).strip()
    if rule.equals is not None:
        return text.lower() == rule.equals.strip().lower()
    if rule.contains is not None:
        return rule.contains.lower() in text.lower()
    assert rule.matches is not None
    return re.search(rule.matches, text) is not None


@dataclass
class Reading:
    """What the rules made of an answer."""

    outcome: Outcome
    price: Decimal | None = None
    reference: str | None = None
    reason: str | None = None
    redirect_url: str | None = None
    answered_price: str | None = None
    """The price text an accepted answer stated that is not a valid price (kept for the record)."""


def _extract(response: BuyerResponse, where: Extract | None) -> str | None:
    if where is None:
        return None
    value = response.value(where)
    if value is _MISSING or value is None or value == "":
        return None
    return _as_text(value)


def read_response(
    rules: ResponseRules,
    response: BuyerResponse,
    *,
    max_price: Decimal = LARGEST,
    bid: bool = False,
) -> Reading:
    """Classify an answer and pull out price, reference, reason and redirect URL.

    Args:
        max_price: the largest price the campaign takes; a larger one is not a price.
        bid: the answer is to a ping, so an accept with an invalid price is no bid at all
            (an error attempt); a post's accept stands and its invalid price is noted.
    """
    status = response.status
    if 300 <= status < 400:
        location = response.headers.get("Location") or "no Location"
        detail = f"HTTP {status} to {location}"
        return Reading(Outcome.ERROR, reason=AnswerFault.REDIRECT.because(detail))
    if status >= 500:
        detail = _extract(response, rules.reason) or f"HTTP {status}"
        return Reading(Outcome.ERROR, reason=detail)
    outcome: Outcome | None = None
    matched: ResponseRule | None = None
    for rule in rules.rules:
        if rule_matches(rule, response.value(rule)):
            outcome, matched = rule.outcome, rule
            break
    reason: str | None = _extract(response, rules.reason)
    if outcome is None:
        unparsable = response.unparsable_for(rules)
        if unparsable is not None:
            return Reading(Outcome.ERROR, reason=f"{unparsable} (HTTP {status})")
        outcome = rules.otherwise
        reason = reason or f"no rule matched the response (HTTP {status})"
    if (
        outcome is Outcome.ACCEPTED
        and not 200 <= status < 300
        and (matched is None or matched.source is not Source.STATUS)
    ):
        detail = f"HTTP {status} is never an accept unless a rule reads the status"
        return Reading(Outcome.ERROR, reason=AnswerFault.NOT_2XX.because(detail))
    raw_price = _extract(response, rules.price)
    price = parse_money(raw_price) if raw_price is not None else None
    answered_price: str | None = None
    if raw_price is not None and (price is None or price <= 0 or price > max_price):
        price = None
        if outcome is Outcome.ACCEPTED:
            answered_price = raw_price[:40]
            if bid:
                detail = f"price {answered_price!r} is not an amount over 0 and up to {max_price}"
                return Reading(Outcome.ERROR, reason=AnswerFault.INVALID_BID.because(detail))
    return Reading(
        outcome=outcome,
        price=price,
        reference=_extract(response, rules.reference),
        reason=reason,
        redirect_url=_extract(response, rules.redirect_url),
        answered_price=answered_price,
    )
