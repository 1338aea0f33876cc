"""Try a campaign before it goes live: send a test lead, or read a saved answer, and show
how each response rule read it (`pingtree buyers try`, `pingtree rules check`).

Both print the same trace `read_response` works from (`responses.explain`), so what an
operator sees here is exactly what routing will make of the answer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pingtree.buyers.model import Campaign, Endpoint, Exchange, Extract, Outcome, ResponseRule
from pingtree.buyers.selectors import RepeatedKey
from pingtree.clock import SystemClock
from pingtree.credentials import SecretResolver, SecretUnavailable
from pingtree.delivery.connections import BrokenExchange, BuyerConnections, ConnectFailed
from pingtree.delivery.destinations import Allowlist
from pingtree.delivery.gateway import HttpGateway
from pingtree.delivery.requests import OutboundRequest
from pingtree.delivery.responses import BuyerResponse, Trace, explain
from pingtree.patterns import TooSlow
from pingtree.verticals.model import FieldSpec, Vertical
from pingtree.verticals.pii import ping_fields

MASK = "***"
SHOWN_BODY = 4000
_SECRET_WORDS = ("auth", "key", "token", "secret", "password", "cookie", "signature")

# The built-in example lead: a value per well-known field name, then per field type.
EXAMPLE_BY_NAME: dict[str, Any] = {
    "first_name": "Ada",
    "last_name": "Lovelace",
    "name": "Ada Lovelace",
    "email": "ada.lovelace@example.com",
    "phone": "2127365000",
    "address": "350 Fifth Avenue",
    "city": "New York",
    "state": "NY",
    "zip": "10001",
    "ssn": "123-45-6789",
    "dob": "1980-12-10",
    "date_of_birth": "1980-12-10",
    "ip": "203.0.113.7",
    "ip_address": "203.0.113.7",
}
EXAMPLE_BY_TYPE: dict[str, Any] = {
    "string": "example",
    "integer": 1,
    "number": "1.00",
    "boolean": True,
    "email": "ada.lovelace@example.com",
    "phone": "2127365000",
    "zip": "10001",
    "state": "NY",
    "date": "1980-12-10",
    "timestamp": "2026-01-15T12:00:00Z",
    "ip": "203.0.113.7",
}


def _example_value(spec: FieldSpec) -> Any:
    if spec.enum:
        return spec.enum[0]
    kind = str(spec.type.value if hasattr(spec.type, "value") else spec.type)
    if kind in ("integer", "number") and (spec.min is not None or spec.max is not None):
        low = spec.min if spec.min is not None else Decimal(0)
        high = spec.max if spec.max is not None else low + 100
        middle = (low + high) / 2
        return int(middle) if kind == "integer" else str(middle.quantize(Decimal("0.01")))
    if spec.name in EXAMPLE_BY_NAME:
        return EXAMPLE_BY_NAME[spec.name]
    return EXAMPLE_BY_TYPE.get(kind, "example")


def example_lead(vertical: Vertical) -> dict[str, Any]:
    """The built-in test lead of a vertical: a plausible value for each of its fields."""
    return {spec.name: _example_value(spec) for spec in vertical.fields}


@dataclass
class Step:
    """One request of a trial (a ping or a post), its answer, and how the rules read it."""

    kind: Exchange
    endpoint: Endpoint
    request: OutboundRequest | None = None
    response: BuyerResponse | None = None
    failure: str | None = None
    """Why there is no answer to read (timeout, refused connection, too large...)."""
    trace: Trace | None = None


def read_saved(
    campaign: Campaign, kind: Exchange, *, status: int, headers: list[tuple[str, str]], body: str
) -> Step:
    """How the campaign's rules read a saved answer to its ping or post."""
    endpoint = _endpoint(campaign, kind)
    step = Step(kind, endpoint, response=BuyerResponse(status=status, headers=headers, text=body))
    return _read(step, campaign)


def _read(step: Step, campaign: Campaign) -> Step:
    """The step's answer read by its endpoint's rules (a pattern cut off, or a JSON answer
    naming a key twice: its failure)."""
    assert step.response is not None
    try:
        step.trace = explain(
            step.endpoint.response,
            step.response,
            max_price=campaign.price.max_price,
            bid=step.kind is Exchange.PING,
        )
    except (TooSlow, RepeatedKey) as exc:  # as routing reads it: an error attempt
        step.failure = f"unreadable: {exc}"
    return step


def _endpoint(campaign: Campaign, kind: Exchange) -> Endpoint:
    endpoint = campaign.delivery.ping if kind is Exchange.PING else campaign.delivery.post
    if endpoint is None:
        raise ValueError(f"campaign {campaign.name!r} has no {kind} endpoint")
    return endpoint


async def send_test_lead(
    campaign: Campaign,
    vertical: Vertical,
    fields: dict[str, Any],
    *,
    timeout: float,
    allow: Allowlist,
    secrets: SecretResolver,
) -> list[Step]:
    """Send a test lead as routing does: ping first (non-PII fields) if the campaign has a
    ping, then the post, each to the test URL or marked with the test header.

    allow and secrets are the server's (PINGTREE_BUYER_URL_ALLOW, PINGTREE_SECRET_KEY).
    """
    steps: list[Step] = []
    async with BuyerConnections(allow, limit=4) as connections:
        gateway = HttpGateway(connections, SystemClock(), secrets)
        bid_reference: str | None = None
        if campaign.delivery.ping is not None:
            carried = ping_fields(vertical, fields, campaign.delivery.ping_fields)
            ping = await _send(gateway, campaign, Exchange.PING, carried, None, timeout)
            steps.append(ping)
            reading = ping.trace.reading if ping.trace else None
            if reading is None or reading.outcome is not Outcome.ACCEPTED:
                return steps  # no bid: routing would not post either
            bid_reference = reading.reference
        if campaign.delivery.post is not None:  # a call campaign's post is a dial: not tried
            post = await _send(gateway, campaign, Exchange.POST, fields, bid_reference, timeout)
            steps.append(post)
    return steps


async def _send(
    gateway: HttpGateway,
    campaign: Campaign,
    kind: Exchange,
    fields: dict[str, Any],
    bid_reference: str | None,
    timeout: float,
) -> Step:
    endpoint = _endpoint(campaign, kind)
    try:
        request = gateway.request_for(
            campaign, endpoint, fields, lead_id="try-0000", bid_reference=bid_reference, test=True
        )
    except SecretUnavailable as exc:
        return Step(kind, endpoint, failure=f"not sent: {exc}")
    step = Step(kind, endpoint, request=request)
    try:
        received = await gateway.exchange(request, timeout)
    except TimeoutError:
        step.failure = f"timeout: no answer within {timeout:.3f}s"
        return step
    except ConnectFailed as exc:
        step.failure = f"connection failed: {exc.os_error}"
        return step
    except (BrokenExchange, ValueError) as exc:
        step.failure = f"{type(exc).__name__}: {exc}"
        return step
    step.response = received.response
    if received.fault is not None:
        step.failure = received.fault
        return step
    return _read(step, campaign)


# --- printing ------------------------------------------------------------------------------


def _secrets(campaign: Campaign) -> list[str]:
    auth = campaign.delivery.auth
    found = [s for s in (auth.password, auth.token) if s] if auth else []
    for endpoint in (campaign.delivery.ping, campaign.delivery.post):
        if endpoint is not None:
            found += [v for k, v in endpoint.headers.items() if _secret_name(k) and v]
    return sorted(set(found), key=len, reverse=True)


def _secret_name(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in _SECRET_WORDS)


def _masked(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, MASK)
    return text


def _describe_rule(rule: ResponseRule) -> str:
    if rule.equals is not None:
        test = f"equals {rule.equals!r}"
    elif rule.contains is not None:
        test = f"contains {rule.contains!r}"
    elif rule.matches is not None:
        test = f"matches {rule.matches!r}"
    else:
        test = "exists" if rule.exists else "does not exist"
    return f"{_describe_where(rule)} {test} -> {rule.outcome.value}"


def _describe_where(where: Extract) -> str:
    if where.source.value in ("status", "body"):
        return where.source.value
    return f"{where.source.value} {where.path}"


def _short(values: list[str], limit: int = 5) -> str:
    shown = [v if len(v) <= 80 else v[:77] + "..." for v in values[:limit]]
    more = f" (+{len(values) - limit} more)" if len(values) > limit else ""
    return (json.dumps(shown, ensure_ascii=False) if shown else "nothing") + more


def format_step(step: Step, campaign: Campaign) -> list[str]:
    """A step as the lines `buyers try` and `rules check` print."""
    secrets = _secrets(campaign)
    lines = [f"== {step.kind} =="]
    if step.request is not None:
        request = step.request.for_record(SHOWN_BODY)
        lines.append(f"request sent: {request['method']} {_masked(request['url'], secrets)}")
        for name, value in request["headers"].items():
            shown = MASK if _secret_name(name) else _masked(str(value), secrets)
            lines.append(f"  {name}: {shown}")
        lines.append("  " + _masked(str(request["body"]), secrets))
    if step.response is not None:
        response = step.response
        lines.append(f"answer: HTTP {response.status}")
        for name, value in response.header_list:
            lines.append(f"  {name}: {_masked(value, secrets)}")
        body = response.text[:SHOWN_BODY] + ("..." if len(response.text) > SHOWN_BODY else "")
        lines.append("  " + (_masked(body, secrets) if body else "(empty body)"))
    if step.failure is not None:
        lines.append(f"outcome: error ({step.failure})")
        return lines
    trace = step.trace
    assert trace is not None
    lines.append("rules (first match wins):")
    tried = {t.index: t for t in trace.rules}
    for index, rule in enumerate(step.endpoint.response.rules):
        head = f"  {index + 1}. {_describe_rule(rule)}"
        if index not in tried:
            lines.append(f"{head}: not reached")
            continue
        verdict = "MATCHED" if tried[index].matched else "no match"
        lines.append(f"{head}: found {_short(tried[index].values)}, {verdict}")
    if trace.extracted:
        lines.append("extracted:")
        for name, values in trace.extracted.items():
            lines.append(f"  {name}: {_short(values)}")
    reading = trace.reading
    lines.append(f"outcome: {reading.outcome.value} ({trace.decided_by})")
    details = {
        "price": reading.price,
        "reference": reading.reference,
        "reason": reading.reason,
        "redirect_url": reading.redirect_url,
        "invalid price": reading.answered_price,
    }
    for name, value in details.items():
        if value is not None:
            lines.append(f"  {name}: {value}")
    for name, value in reading.captured.items():
        lines.append(f"  captured {name}: {value}")
    return lines
