"""The HTTP gateway to buyers: one shared aiohttp session, a total timeout per request.

Every failure is classified and recorded (timeout, refused connection, 5xx, unparsable
body) so the routing core can cascade to the next buyer.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from pingtree.buyers.model import Campaign, Endpoint, Outcome
from pingtree.clock import Clock
from pingtree.credentials import SecretResolver, SecretUnavailable
from pingtree.delivery.destinations import Allowlist, guarded_socket_factory
from pingtree.delivery.requests import OutboundRequest, build_request
from pingtree.delivery.responses import BuyerResponse, read_response
from pingtree.routing.ports import Answer, Bid

MAX_BODY = 1_000_000
RECORDED_BODY = 4000


def new_session(connection_limit: int = 1000, *, allow: Allowlist) -> aiohttp.ClientSession:
    """The one outbound session the app keeps open; pings and posts share its pool.

    Every connection's address is checked against the allowlist as it is opened.
    """
    connector = aiohttp.TCPConnector(
        limit=connection_limit,
        limit_per_host=0,
        ttl_dns_cache=300,
        socket_factory=guarded_socket_factory(allow),
    )
    return aiohttp.ClientSession(connector=connector, headers={"User-Agent": "pingtree"})


class HttpGateway:
    """Sends pings and posts over HTTP and reads answers by each campaign's rules."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        clock: Clock,
        secrets: SecretResolver | None = None,
    ) -> None:
        self.session = session
        self.clock = clock
        self.secrets = secrets or SecretResolver(None)

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
            campaign, campaign.delivery.ping, fields, lead_id, None, test, timeout
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
    ) -> Answer:
        """Send the full lead, referencing the bid it answers if there was one."""
        reference = bid.reference if bid is not None else None
        return await self._send(
            campaign, campaign.delivery.post, fields, lead_id, reference, test, timeout
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
    ) -> Answer:
        try:
            secrets = self.secrets.values(campaign.delivery.secrets)
        except SecretUnavailable as exc:  # not sent: the next buyer gets its chance
            return Answer(outcome=Outcome.ERROR, duration_ms=0.0, reason=str(exc))
        request = build_request(
            endpoint,
            auth=campaign.delivery.auth,
            fields=fields,
            lead_id=lead_id,
            bid_reference=bid_reference,
            test=test,
            secrets=secrets,
            signing=campaign.delivery.signing,
            now=self.clock.now(),
        )
        started = self.clock.monotonic()
        try:
            response = await self._exchange(request, timeout)
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
        duration = (self.clock.monotonic() - started) * 1000
        reading = read_response(endpoint.response, response)
        return Answer(
            outcome=reading.outcome,
            duration_ms=duration,
            price=reading.price,
            reference=reading.reference,
            reason=request.mask(reading.reason) if reading.reason else None,
            redirect_url=reading.redirect_url,
            request=request.for_record(RECORDED_BODY),
            response={
                "status": response.status,
                "body": request.mask(response.text)[:RECORDED_BODY],
            },
        )

    async def _exchange(self, request: OutboundRequest, timeout: float) -> BuyerResponse:
        # asyncio.timeout covers connect, send and the whole body read in one budget.
        async with asyncio.timeout(timeout):
            async with self.session.request(
                request.method, request.url, headers=request.headers, data=request.body
            ) as resp:
                raw = await resp.content.read(MAX_BODY)
                text = raw.decode(resp.get_encoding() if resp.charset else "utf-8", "replace")
                return BuyerResponse(status=resp.status, headers=dict(resp.headers), text=text)

    def _failed(
        self, request: OutboundRequest, started: float, outcome: Outcome, reason: str
    ) -> Answer:
        return Answer(
            outcome=outcome,
            duration_ms=(self.clock.monotonic() - started) * 1000,
            reason=request.mask(reason),
            request=request.for_record(RECORDED_BODY),
        )
