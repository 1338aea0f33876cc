"""The HTTP gateway to buyers: one shared aiohttp session, a total timeout per request.

An answer is read whole (up to a limit) before any rule looks at it, and redirects are
never followed. Every failure is classified and recorded (timeout, refused connection,
3xx, 5xx, too large, cut short, unparsable or unreadable body) so the routing core can
cascade to the next buyer: no answer can break the tree.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, replace
from typing import Any

import aiohttp

from pingtree.buyers.model import Campaign, Endpoint, Outcome
from pingtree.clock import Clock
from pingtree.credentials import SecretResolver, SecretUnavailable
from pingtree.delivery.destinations import Allowlist, guarded_socket_factory
from pingtree.delivery.requests import OutboundRequest, build_request
from pingtree.delivery.responses import AnswerFault, BuyerResponse, Reading, read_response
from pingtree.failures import log_failure
from pingtree.routing.model import ConsentReference
from pingtree.routing.ports import Answer, Bid

log = logging.getLogger("pingtree.delivery")

DEFAULT_ANSWER_LIMIT = 1024 * 1024
RECORDED_BODY = 4000
MAX_CAPTURED = 20
UNTIMED = aiohttp.ClientTimeout(total=None, connect=None, sock_read=None, sock_connect=None)
"""aiohttp's timers for an exchange: none (the exchange's own deadline bounds it all)."""


def new_session(connection_limit: int = 1000, *, allow: Allowlist) -> aiohttp.ClientSession:
    """The one outbound session the app keeps open; pings and posts share its pool.

    Every connection's address is checked against the allowlist as it is opened. It keeps
    no cookie: each request stands alone, so a buyer's Set-Cookie is never sent with a later
    lead, nor to another buyer on the same host.
    """
    connector = aiohttp.TCPConnector(
        limit=connection_limit,
        limit_per_host=0,
        ttl_dns_cache=300,
        socket_factory=guarded_socket_factory(allow),
    )
    return aiohttp.ClientSession(
        connector=connector,
        headers={"User-Agent": "pingtree"},
        cookie_jar=aiohttp.DummyCookieJar(),
    )


class HttpGateway:
    """Sends pings and posts over HTTP and reads answers by each campaign's rules."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        clock: Clock,
        secrets: SecretResolver | None = None,
        *,
        answer_limit: int = DEFAULT_ANSWER_LIMIT,
    ) -> None:
        self.session = session
        self.clock = clock
        self.secrets = secrets or SecretResolver(None)
        self.answer_limit = answer_limit

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
        try:
            received = await self.exchange(request, timeout)
        except TimeoutError:
            return self._failed(
                request, started, Outcome.TIMEOUT, f"no answer within {timeout:.3f}s"
            )
        except aiohttp.ClientConnectorError as exc:
            return self._failed(
                request, started, Outcome.ERROR, f"connection failed: {exc.os_error}"
            )
        except (aiohttp.ClientError, ValueError) as exc:
            return self._failed(request, started, Outcome.ERROR, f"{type(exc).__name__}: {exc}")
        except Exception as exc:
            log_failure(log, "exchange with campaign %s failed", exc, campaign.name)
            detail = AnswerFault.UNREADABLE.because(f"{type(exc).__name__}: {exc}")
            return self._failed(request, started, Outcome.ERROR, detail)
        duration = (self.clock.monotonic() - started) * 1000
        response = received.response
        if received.fault is not None:
            reading = Reading(Outcome.ERROR, reason=received.fault)
        else:
            reading = _read(campaign, endpoint, response, bid=bid)
        # The reading as recorded: what it took from the buyer's answer masked and bounded.
        recorded = replace(
            reading,
            reference=_clean(request.mask(reading.reference) if reading.reference else None, 255),
            reason=_clean(request.mask(reading.reason) if reading.reason else None, RECORDED_BODY),
            redirect_url=_clean(reading.redirect_url, RECORDED_BODY),
            answered_price=_clean(reading.answered_price),
            captured={
                k: _clean(request.mask(v), 255) or ""
                for k, v in list(reading.captured.items())[:MAX_CAPTURED]
            },
        )
        record: dict[str, Any] = {
            "status": response.status,
            "body": request.mask(response.text)[:RECORDED_BODY],
        }
        if 300 <= response.status < 400:
            location = response.header("Location")
            record["location"] = request.mask(location) if location else None
        if recorded.answered_price is not None:
            record["invalid_price"] = recorded.answered_price
        if recorded.captured:
            record["captured"] = dict(recorded.captured)
        return Answer(
            recorded,
            duration_ms=duration,
            request=request.for_record(RECORDED_BODY),
            response=_clean_record(record),
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
        )

    async def exchange(self, request: OutboundRequest, timeout: float) -> Received:
        """Send one request and read its answer whole; raises on timeout or connection failure."""
        # asyncio.timeout covers connect, send and the whole body read in one budget
        # (aiohttp's own timers, one more per request, are off: UNTIMED).
        async with asyncio.timeout(timeout):
            async with self.session.request(
                request.method,
                request.url,
                headers=request.headers,
                data=request.body,
                timeout=UNTIMED,
                # A redirect would carry the whole lead, credentials included, to an address
                # nobody configured; the 3xx itself is the (error) answer.
                allow_redirects=False,
            ) as resp:
                raw, fault = await self._read_whole(resp)
                text = _decode(raw, resp.charset)
                # items() of the multidict keeps repeated headers (several Set-Cookie).
                headers = list(resp.headers.items())
                response = BuyerResponse(status=resp.status, headers=headers, text=text)
                return Received(response, fault)

    async def _read_whole(self, resp: aiohttp.ClientResponse) -> tuple[bytes, str | None]:
        """The complete body, or what came of it and why it is not an answer."""
        limit = self.answer_limit
        declared = resp.content_length
        if declared is not None and declared > limit:
            detail = f"Content-Length {declared} is over the {limit}-byte limit"
            return b"", AnswerFault.ANSWER_TOO_LARGE.because(detail)
        raw = bytearray()
        try:
            async for chunk in resp.content.iter_any():
                raw += chunk
                if len(raw) > limit:
                    detail = f"answer is over the {limit}-byte limit"
                    return bytes(raw[:RECORDED_BODY]), AnswerFault.ANSWER_TOO_LARGE.because(detail)
        except aiohttp.ClientPayloadError as exc:
            detail = f"connection closed after {len(raw)} bytes"
            if declared is not None:
                detail += f" of {declared}"
            return bytes(raw), AnswerFault.ANSWER_INCOMPLETE.because(f"{detail} ({exc})")
        return bytes(raw), None

    def _failed(
        self, request: OutboundRequest, started: float, outcome: Outcome, reason: str
    ) -> Answer:
        return Answer(
            Reading(outcome, reason=_clean(request.mask(reason), RECORDED_BODY)),
            duration_ms=(self.clock.monotonic() - started) * 1000,
            request=request.for_record(RECORDED_BODY),
        )


@dataclass(frozen=True)
class Received:
    """An answer as read off the wire, and the fault that makes it no answer, if any."""

    response: BuyerResponse
    fault: str | None


def _read(campaign: Campaign, endpoint: Endpoint, response: BuyerResponse, *, bid: bool) -> Reading:
    # Rules come from configuration and bodies from buyers: a combination nobody foresaw
    # (an XPath function, a nested value where a price belongs) must cost this one attempt,
    # never the lead.
    try:
        return read_response(
            endpoint.response, response, max_price=campaign.price.max_price, bid=bid
        )
    except Exception as exc:
        log_failure(log, "answer of campaign %s unreadable", exc, campaign.name)
        detail = f"{type(exc).__name__}: {exc}"[:500]
        return Reading(Outcome.ERROR, reason=AnswerFault.UNREADABLE.because(detail))


def _decode(raw: bytes, charset: str | None) -> str:
    """The body as text: its declared charset when Python knows it as a text codec, else UTF-8."""
    if charset:
        # bytes.decode refuses codecs that are not text encodings ("hex", "rot13").
        with contextlib.suppress(LookupError, ValueError, TypeError):
            return raw.decode(charset, "replace")
    return raw.decode("utf-8", "replace")


def _clean(text: str | None, limit: int | None = None) -> str | None:
    """Buyer text as storage takes it: no NUL, no lone surrogate, bounded."""
    if text is None:
        return None
    text = text.encode("utf-8", "replace").decode("utf-8").replace("\x00", "\ufffd")
    return text if limit is None else text[:limit]


def _clean_record(record: dict[str, Any]) -> dict[str, Any]:
    return {k: _clean(v) if isinstance(v, str) else v for k, v in record.items()}
