"""The aiohttp session for a process's outbound requests other than pings and posts:
webhooks, postbacks, call availability checks. Pings and posts go through
`delivery.connections` (which the delivery process loads without aiohttp)."""

from __future__ import annotations

import aiohttp

from pingtree.delivery.destinations import Allowlist, guarded_socket_factory


def new_session(connection_limit: int = 1000, *, allow: Allowlist) -> aiohttp.ClientSession:
    """The aiohttp session a process keeps for its other outbound requests (webhooks,
    postbacks, call availability checks); pings and posts go through BuyerConnections.

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
