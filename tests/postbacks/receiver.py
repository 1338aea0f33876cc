"""A real HTTP server on 127.0.0.1 that takes postbacks and answers as told."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Received:
    """One call as it arrived."""

    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        import json

        return json.loads(self.body)


@dataclass
class Receiver:
    """Where postbacks land; `answers` are the statuses to give, in turn (then 200)."""

    url: str = ""
    received: list[Received] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)

    def to(self, path: str) -> str:
        """The URL of a path on this receiver."""
        return f"{self.url}{path}"

    async def _take(self, request: web.Request) -> web.Response:
        self.received.append(Received(request.path, dict(request.headers), await request.read()))
        status = self.answers.pop(0) if self.answers else 200
        return web.json_response({"ok": status < 300}, status=status)


@asynccontextmanager
async def receiver() -> AsyncIterator[Receiver]:
    """Serve a receiver on a free port of 127.0.0.1 while the block runs."""
    found = Receiver()
    app = web.Application()
    app.router.add_post("/{tail:.*}", found._take)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    found.url = f"http://127.0.0.1:{port}"
    try:
        yield found
    finally:
        await runner.cleanup()
