"""Read a buyer's answer with the campaign's response rules.

A 3xx (never followed) and a 5xx are always errors. Any other non-2xx answer is never an
accept unless the rule that matched reads its status (`source: status`). An answer no rule
recognises takes the rules' `otherwise` outcome, which defaults to error: a 200 HTML error
page is never bought as an accept. An accepted answer that states a price must state a
valid one (AnswerFault.INVALID_BID).

`explain` is the one place these rules are applied: it returns the whole trace (which rule
read what, which matched, what was extracted) that `pingtree rules check` and `pingtree
buyers try` print, and `read_response` keeps only its reading.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from functools import cached_property
from typing import Any

from multidict import CIMultiDict

from pingtree.buyers.model import Extract, Outcome, ResponseRule, ResponseRules, Source
from pingtree.buyers.selectors import (
    NOT_JSON,
    Found,
    RepeatedKey,
    header_pairs,
    parse_html,
    parse_json,
    parse_xml,
)
from pingtree.failures import describe, stack
from pingtree.money import LARGEST, parse_money
from pingtree.patterns import TooSlow, compile_pattern
from pingtree.routing.model import Reading as Reading  # re-exported: the rules' reading


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


class BuyerResponse:
    """A raw HTTP answer, parsed on demand; headers keep every repeat, names without case."""

    def __init__(
        self,
        status: int,
        headers: Mapping[str, str] | Iterable[tuple[str, str]],
        text: str,
    ) -> None:
        self.status = status
        # A multidict: `.get` reads the first value, `.getall` every repeat (Set-Cookie).
        self.headers: CIMultiDict[str] = CIMultiDict(header_pairs(headers))
        self.text = text

    @property
    def header_list(self) -> list[tuple[str, str]]:
        """Every header as (name, value), in order."""
        return list(self.headers.items())

    def header_values(self, name: str) -> list[str]:
        """Every value of the header called name (any case), in order."""
        return self.headers.getall(name, [])

    def header(self, name: str) -> str | None:
        """The first value of the header called name (any case)."""
        return self.headers.get(name)

    @cached_property
    def parsed_json(self) -> Any:
        """The body as JSON, or NOT_JSON."""
        return parse_json(self.text)

    @cached_property
    def xml_root(self) -> Any:
        """The body's XML root element (HTML if it is not well-formed XML), or None."""
        return parse_xml(self.text)

    @cached_property
    def html_root(self) -> Any:
        """The body's HTML document element, or None."""
        return parse_html(self.text)

    def find(self, where: Extract) -> Found:
        """Every value a rule or extractor points at."""
        return where.selector.find(self)

    def unreadable_as(self, rules: ResponseRules) -> str | None:
        """Why the body is not the kind of document the rules read, if it is not."""
        sources = {r.source for r in rules.rules}
        if Source.JSON in sources and self.parsed_json is NOT_JSON:
            return "response is not JSON"
        if Source.XPATH in sources and self.xml_root is None:
            return "response is not XML"
        if Source.CSS in sources and self.html_root is None:
            return "response is not HTML"
        return None


def _values(found: Iterable[str]) -> list[str]:
    """The values that count: trimmed; blank ones are no value."""
    return [t for v in found if (t := v.strip())]


def rule_matches(rule: ResponseRule, values: list[str]) -> tuple[bool, dict[str, str]]:
    """Whether any value at the rule's path passes its one test, and the named groups of
    the `matches` regex where it did."""
    present = _values(values)
    if rule.exists is not None:
        return bool(present) is rule.exists, {}
    if rule.equals is not None:
        wanted = rule.equals.strip().lower()
        return any(v.lower() == wanted for v in present), {}
    if rule.contains is not None:
        term = rule.contains.lower()
        return any(term in v.lower() for v in present), {}
    assert rule.matches is not None
    pattern = compile_pattern(rule.matches)
    for value in present:
        found = pattern.search(value)
        if found is not None:
            return True, {k: v for k, v in found.groupdict().items() if v is not None}
    return False, {}


@dataclass(frozen=True)
class RuleTrace:
    """One rule as it read the answer."""

    index: int
    rule: ResponseRule
    values: list[str]
    matched: bool


@dataclass
class Trace:
    """How the rules read an answer, step by step, and the reading they came to."""

    reading: Reading
    rules: list[RuleTrace] = field(default_factory=list)
    """The rules tried, in order, up to the first that matched."""
    matched: RuleTrace | None = None
    extracted: dict[str, list[str]] = field(default_factory=dict)
    """The values each extractor (price, reference, reason, redirect_url, capture.NAME) found."""
    decided_by: str = ""
    """What decided the outcome, in words."""


def _first(values: list[str]) -> str | None:
    present = _values(values)
    return present[0] if present else None


def joined_reason(values: list[str]) -> str | None:
    """Several reasons as one: trimmed, de-duplicated, sorted, joined with ', '."""
    present = sorted(set(_values(values)))
    return ", ".join(present) if present else None


class _Extractor:
    """Runs the rules' extractors once each and remembers what they found."""

    def __init__(self, response: BuyerResponse, extracted: dict[str, list[str]]) -> None:
        self.response = response
        self.extracted = extracted
        self.groups: dict[str, str] = {}

    def values(self, name: str, where: Extract | None) -> list[str]:
        if where is None:
            return []
        found = self.response.find(where)
        self.extracted[name] = found.values
        for key, value in found.groups.items():
            self.groups.setdefault(key, value)
        return found.values


def explain(
    rules: ResponseRules,
    response: BuyerResponse,
    *,
    max_price: Decimal = LARGEST,
    bid: bool = False,
) -> Trace:
    """Classify an answer and pull out price, reference, reason, redirect URL and captures,
    keeping every step.

    Args:
        max_price: the largest price the campaign takes; a larger one is not a price.
        bid: the answer is to a ping, so an accept with an invalid price is no bid at all
            (an error attempt); a post's accept stands and its invalid price is noted.
    """
    status = response.status
    trace = Trace(Reading(Outcome.ERROR))
    extract = _Extractor(response, trace.extracted)
    if 300 <= status < 400:
        location = response.header("Location") or "no Location"
        detail = f"HTTP {status} to {location}"
        trace.reading.reason = AnswerFault.REDIRECT.because(detail)
        trace.decided_by = "a 3xx is always an error (redirects are never followed)"
        return trace
    if status >= 500:
        reason = joined_reason(extract.values("reason", rules.reason))
        trace.reading.reason = reason or rules.server_error_reason or f"HTTP {status}"
        trace.decided_by = "a 5xx is always an error"
        return trace
    outcome: Outcome | None = None
    captured: dict[str, str] = {}
    for index, rule in enumerate(rules.rules):
        found = response.find(rule)
        matched, groups = rule_matches(rule, found.values)
        step = RuleTrace(index, rule, found.values, matched)
        trace.rules.append(step)
        if matched:
            outcome, trace.matched = rule.outcome, step
            captured.update(found.groups)
            captured.update(groups)
            trace.decided_by = f"rule {index + 1} matched"
            break
    reason = joined_reason(extract.values("reason", rules.reason))
    if outcome is None:
        outcome = rules.otherwise
        trace.decided_by = f"no rule matched: otherwise {outcome.value}"
        if outcome is Outcome.ERROR and reason is None:
            unreadable = response.unreadable_as(rules)
            detail = f"HTTP {status}; {unreadable}" if unreadable else f"HTTP {status}"
            reason = f"no rule matched the response ({detail})"
    matched_status = trace.matched is not None and trace.matched.rule.source is Source.STATUS
    if outcome is Outcome.ACCEPTED and not 200 <= status < 300 and not matched_status:
        detail = f"HTTP {status} is never an accept unless a rule reads the status"
        trace.reading.reason = AnswerFault.NOT_2XX.because(detail)
        trace.decided_by = "a non-2xx answer is never an accept unless a rule reads the status"
        return trace
    if outcome is Outcome.REJECTED and reason is None:
        reason = rules.default_reason
    raw_price = _first(extract.values("price", rules.price))
    reading = trace.reading
    reading.outcome = outcome
    reading.reason = reason
    reading.reference = _first(extract.values("reference", rules.reference))
    reading.redirect_url = _first(extract.values("redirect_url", rules.redirect_url))
    for name, where in rules.capture.items():
        value = _first(extract.values(f"capture.{name}", where))
        if value is not None:
            captured[name] = value
    for key, value in extract.groups.items():
        captured.setdefault(key, value)
    reading.captured = captured
    price = parse_money(raw_price) if raw_price is not None else None
    if raw_price is not None and (price is None or price <= 0 or price > max_price):
        price = None
        if outcome is Outcome.ACCEPTED:
            reading.answered_price = raw_price[:40]
            if bid:
                detail = (
                    f"price {reading.answered_price!r} is not an amount over 0 and up to "
                    f"{max_price}"
                )
                reading.outcome = Outcome.ERROR
                reading.reason = AnswerFault.INVALID_BID.because(detail)
                reading.price = None
                trace.decided_by += "; the bid's price is not valid"
                return trace
    reading.price = price
    return trace


def read_response(
    rules: ResponseRules,
    response: BuyerResponse,
    *,
    max_price: Decimal = LARGEST,
    bid: bool = False,
) -> Reading:
    """Classify an answer and pull out price, reference, reason, redirect URL and captures."""
    return explain(rules, response, max_price=max_price, bid=bid).reading


@dataclass(frozen=True)
class Answered:
    """An answer as its record keeps it (status, body, a redirect's Location) and what the
    rules made of it."""

    status: int
    text: str
    location: str | None
    reading: Reading
    unexpected: str | None = None
    """The rules failed on this answer in a way nobody foresaw: what the log gets (the
    exception's classes and stack, never its values); the reading is then an error."""


@dataclass(frozen=True)
class Reader:
    """How one campaign reads the answers of one endpoint: its rules, its largest price,
    and whether the answer is to a ping (a bid) or a post."""

    campaign: str
    rules: ResponseRules
    max_price: Decimal
    bid: bool

    def read(self, response: BuyerResponse, fault: str | None) -> Answered:
        """The answer read by the rules; a fault (too large, cut short) makes it an error."""
        if fault is not None:
            return answered_as_error(response, fault)
        # Rules come from configuration and bodies from buyers: a combination nobody foresaw
        # (an XPath function, a nested value where a price belongs) must cost this one
        # attempt, never the lead.
        try:
            reading = read_response(self.rules, response, max_price=self.max_price, bid=self.bid)
        except (TooSlow, RepeatedKey) as exc:  # a pattern backtracks; the answer says two things
            detail = AnswerFault.UNREADABLE.because(str(exc))
            return _answered(response, Reading(Outcome.ERROR, reason=detail))
        except Exception as exc:
            detail = AnswerFault.UNREADABLE.because(f"{type(exc).__name__}: {exc}"[:500])
            unexpected = f"{describe(exc)}\n{stack(exc)}"
            return _answered(response, Reading(Outcome.ERROR, reason=detail), unexpected)
        return _answered(response, reading)


def answered_as_error(response: BuyerResponse, reason: str) -> Answered:
    """An answer that is an error attempt for reason, whatever its rules would read."""
    return _answered(response, Reading(Outcome.ERROR, reason=reason))


def _answered(response: BuyerResponse, reading: Reading, unexpected: str | None = None) -> Answered:
    status = response.status
    location = response.header("Location") if 300 <= status < 400 else None
    return Answered(status, response.text, location, reading, unexpected)
