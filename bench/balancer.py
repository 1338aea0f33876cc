"""A tiny round-robin HTTP balancer for the benchmarks: python bench/balancer.py PORT URL...

Each request goes to the next upstream in turn, over a pooled keep-alive connection; the
answer comes back as the upstream gave it. It stands for nginx or HAProxy in front of
several `pingtree serve` processes (docs/production.md), with no retries and no health
checks: a benchmark should see every error.
"""

from __future__ import annotations

import itertools
import sys

import aiohttp
import uvloop
from aiohttp import web

HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


def balancer(upstreams: list[str]) -> web.Application:
    """An app that forwards every request to the upstreams in turn."""
    turn = itertools.cycle(upstreams)
    app = web.Application()

    async def session(app: web.Application):  # type: ignore[no-untyped-def]
        connector = aiohttp.TCPConnector(limit=0, limit_per_host=0)
        app["session"] = aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=60), auto_decompress=False
        )
        yield
        await app["session"].close()

    async def forward(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP}
        headers["X-Forwarded-For"] = request.remote or ""
        url = next(turn) + request.path_qs
        try:
            async with request.app["session"].request(
                request.method, url, data=body, headers=headers, allow_redirects=False
            ) as upstream:
                data = await upstream.read()
                kept = {k: v for k, v in upstream.headers.items() if k.lower() not in HOP}
                return web.Response(status=upstream.status, body=data, headers=kept)
        except aiohttp.ClientError as exc:
            return web.Response(status=502, text=f"upstream {url}: {type(exc).__name__}")

    app.cleanup_ctx.append(session)
    app.router.add_route("*", "/{tail:.*}", forward)
    return app


if __name__ == "__main__":
    port, *upstreams = sys.argv[1:]
    web.run_app(
        balancer(upstreams),
        host="127.0.0.1",
        port=int(port),
        print=None,
        loop=uvloop.new_event_loop(),
    )
