"""The HTTP gateway to buyers: builds each ping and post, reads the answer by the campaign's
rules and records both, masked and bounded.

The exchange itself (delivery.exchange) reads an answer whole, up to a limit, within one
deadline, and never follows a redirect; it runs in this process or in a delivery process
(delivery.offload). Every failure is classified and recorded (timeout, refused connection,
3xx, 5xx, too large, cut short, unparsable or unreadable body) so the routing core can
cascade to the next buyer: no answer can break the tree.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from dataclasses import replace
from functools import partial
from typing import Any, Protocol
from urllib.parse import urljoin, urlsplit

from pingtree.buyers.model import Campaign, Endpoint, Outcome
from pingtree.clock import Clock
from pingtree.credentials import SecretResolver, SecretUnavailable
from pingtree.delivery.connections import BuyerConnections
from pingtree.delivery.exchange import (
    DEFAULT_ANSWER_LIMIT,
    Failed,
    Received,
    deliver_and_read,
    exchange,
)
from pingtree.delivery.requests import OutboundRequest, build_request
from pingtree.delivery.responses import Answered, Reader, Reading
from pingtree.routing.model import ConsentReference
from pingtree.routing.ports import Answer, Bid

log = logging.getLogger("pingtree.delivery")

RECORDED_BODY = 4000
MAX_CAPTURED = 20


class Deliverer(Protocol):
    """Sends one request, reads its answer whole and by the campaign's rules
    (delivery.exchange.deliver_and_read's contract): in this process, or in a delivery
    process (delivery.offload.DeliveryProcess)."""

    def __call__(
        self, request: OutboundRequest, timeout: float, answer_limit: int, reader: Reader
    ) -> Awaitable[Answered | Failed]: ...


class HttpGateway:
    """Sends pings and posts over HTTP and reads answers by each campaign's rules."""

    def __init__(
        self,
        connections: BuyerConnections,
        clock: Clock,
        secrets: SecretResolver | None = None,
        *,
        answer_limit: int = DEFAULT_ANSWER_LIMIT,
        deliverer: Deliverer | None = None,
    ) -> None:
        """deliverer: where requests are sent from; by default this process, on
        connections."""
        self.connections = connections
        self.clock = clock
        self.secrets = secrets or SecretResolver(None)
        self.answer_limit = answer_limit
        self.deliver: Deliverer = deliverer or partial(deliver_and_read, connections)

    async def ping(
        self,
        campaign: Campaign,
        *,
        lead_id: str,
        fields: dict[str, Any],
        test: bool,
        timeout: float,
    ) -> Answer:
        """Ask for a bid with non-PII fields (the caller has already removed PII)."""
        assert campaign.delivery.ping is not None
        return await self._send(
            campaign, campaign.delivery.ping, fields, lead_id, None, test, timeout, bid=True
        )

    async def post(
        self,
        campaign: Campaign,
        *,
        lead_id: str,
        fields: dict[str, Any],
        bid: Bid | None,
        test: bool,
        timeout: float,
        consent: ConsentReference | None = None,
    ) -> Answer:
        """Send the full lead, referencing the bid it answers and the consent it carries."""
        reference = bid.reference if bid is not None else None
        endpoint = campaign.delivery.post
        if endpoint is None:  # a call campaign: its post is a dial (calls.gateway)
            reason = "this campaign buys calls: it has no post endpoint"
            return Answer(Reading(Outcome.ERROR, reason=reason), duration_ms=0.0)
        return await self._send(
            campaign,
            endpoint,
            fields,
            lead_id,
            reference,
            test,
            timeout,
            bid=False,
            consent=consent,
        )

    async def _send(
        self,
        campaign: Campaign,
        endpoint: Endpoint,
        fields: dict[str, Any],
        lead_id: str,
        bid_reference: str | None,
        test: bool,
        timeout: float,
        *,
        bid: bool,
        consent: ConsentReference | None = None,
    ) -> Answer:
        try:
            request = self.request_for(
                campaign,
                endpoint,
                fields,
                lead_id=lead_id,
                bid_reference=bid_reference,
                test=test,
                consent=consent,
            )
        except SecretUnavailable as exc:  # not sent: the next buyer gets its chance
            return Answer(Reading(Outcome.ERROR, reason=str(exc)), duration_ms=0.0)
        started = self.clock.monotonic()
        reader = Reader(campaign.name, endpoint.response, campaign.price.max_price, bid)
        answered = await self.deliver(request, timeout, self.answer_limit, reader)
        if isinstance(answered, Failed):
            if answered.unexpected is not None:
                failure = answered.unexpected
                log.error("exchange with campaign %s failed: %s", campaign.name, failure)
            return self._failed(request, started, answered.outcome, answered.reason)
        duration = (self.clock.monotonic() - started) * 1000
        if answered.unexpected is not None:
            failure = answered.unexpected
            log.error("answer of campaign %s unreadable: %s", campaign.name, failure)
        reading = answered.reading
        redirect_url = consumer_url(reading.redirect_url, request.url)
        # The reading as recorded: what it took from the buyer's answer masked and bounded.
        recorded = replace(
            reading,
            reference=_clean(request.mask(reading.reference) if reading.reference else None, 255),
            reason=_clean(request.mask(reading.reason) if reading.reason else None, RECORDED_BODY),
            redirect_url=_clean(redirect_url, RECORDED_BODY),
            answered_price=_clean(reading.answered_price),
            captured={
                k: _clean(request.mask(v), 255) or ""
                for k, v in list(reading.captured.items())[:MAX_CAPTURED]
            },
        )
        record: dict[str, Any] = {
            "status": answered.status,
            "body": request.mask(answered.text)[:RECORDED_BODY],
        }
        if 300 <= answered.status < 400:
            location = answered.location
            record["location"] = request.mask(location) if location else None
        if recorded.answered_price is not None:
            record["invalid_price"] = recorded.answered_price
        if recorded.captured:
            record["captured"] = dict(recorded.captured)
        if reading.redirect_url is not None and redirect_url is None:
            record["invalid_redirect_url"] = request.mask(reading.redirect_url)[:200]
        return Answer(
            recorded,
            duration_ms=duration,
            request=request.for_record(RECORDED_BODY),
            response=_clean_record(record),
            # The buyer's own id goes back to it whole; the record keeps 255 characters.
            bid_reference=_clean(reading.reference, RECORDED_BODY) if bid else None,
        )

    def request_for(
        self,
        campaign: Campaign,
        endpoint: Endpoint,
        fields: dict[str, Any],
        *,
        lead_id: str,
        bid_reference: str | None,
        test: bool,
        consent: ConsentReference | None = None,
    ) -> OutboundRequest:
        """The request a ping or post sends (routing and `pingtree buyers try` alike).

        Raises SecretUnavailable when one of the campaign's secrets cannot be had.
        """
        return build_request(
            endpoint,
            auth=campaign.delivery.auth,
            fields=fields,
            lead_id=lead_id,
            bid_reference=bid_reference,
            test=test,
            secrets=self.secrets.values(campaign.delivery.secrets),
            signing=campaign.delivery.signing,
            now=self.clock.now(),
            consent=consent,
            party=campaign.buyer,
        )

    async def exchange(self, request: OutboundRequest, timeout: float) -> Received:
        """Send one request from this process and read its answer whole; raises on timeout
        or connection failure."""
        return await exchange(self.connections, request, timeout, self.answer_limit)

    def _failed(
        self, request: OutboundRequest, started: float, outcome: Outcome, reason: str
    ) -> Answer:
        return Answer(
            Reading(outcome, reason=_clean(request.mask(reason), RECORDED_BODY)),
            duration_ms=(self.clock.monotonic() - started) * 1000,
            request=request.for_record(RECORDED_BODY),
        )


def consumer_url(found: str | None, post_url: str) -> str | None:
    """The URL a buyer's answer names for the consumer, as a publisher may send a browser
    there: absolute http(s) (a relative one resolved against the URL posted to), else None.
    A `javascript:` or `data:` URL, or one with a control character, would run or split in
    the publisher's page."""
    if found is None:
        return None
    found = found.strip()
    if not found or any(ord(c) < 0x20 or ord(c) == 0x7F for c in found):
        return None
    url = urljoin(post_url, found)
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return url if parts.scheme in ("http", "https") and parts.hostname else None


def _clean(text: str | None, limit: int | None = None) -> str | None:
    """Buyer text as storage takes it: no NUL, no lone surrogate, bounded."""
    if text is None:
        return None
    text = text.encode("utf-8", "replace").decode("utf-8").replace("\x00", "\ufffd")
    return text if limit is None else text[:limit]


def _clean_record(record: dict[str, Any]) -> dict[str, Any]:
    return {k: _clean(v) if isinstance(v, str) else v for k, v in record.items()}
