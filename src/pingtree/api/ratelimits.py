"""Rate limits as the API and the console apply them to a request."""

from __future__ import annotations

import ipaddress

from fastapi import Request

from pingtree.intake.errors import too_many
from pingtree.publishers.model import Publisher
from pingtree.runtime import Runtime


def client_of(request: Request) -> str:
    """Who is asking: the client's IP address (an IPv6 client by its /64 network).

    Behind a reverse proxy this is the proxy's forwarded address when uvicorn trusts it
    (--forwarded-allow-ips), else the proxy's own.
    """
    host = request.client.host if request.client else "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        # One IPv6 host holds a whole /64: counting per address would let it rotate freely.
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def _runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


async def auth_locked_out(request: Request) -> int | None:
    """Seconds until this client may try a login or token again; None when it may now."""
    return await _runtime(request).rate_limits.auth_locked_out(client_of(request))


async def refuse_if_locked_out(request: Request) -> None:
    """Answer 429 with Retry-After to a client that has used up its failed attempts."""
    wait = await auth_locked_out(request)
    if wait is not None:
        raise too_many("too_many_failures", "too many failed attempts from this client", wait)


async def hit_auth_failure(request: Request) -> None:
    """Count a failed login or a wrong token against the client."""
    await _runtime(request).rate_limits.auth_failed(client_of(request))


async def take_intake(rt: Runtime, publisher: Publisher) -> None:
    """Count a lead or ping against its publisher's intake rate; 429 when over it."""
    rate = publisher.rate_limit or rt.settings.publisher_rate_limit
    if rate is None:
        return
    wait = await rt.rate_limits.take_intake(publisher.name, rate)
    if wait is not None:
        raise too_many(
            "rate_limited", f"publisher {publisher.name!r} is over its intake rate of {rate}", wait
        )
