"""The app served by a real uvicorn on 127.0.0.1, in the test's own event loop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from fastapi import FastAPI


@asynccontextmanager
async def served(app: FastAPI, **config: object) -> AsyncIterator[int]:
    """The port the app listens on until the block ends (the runtime is the caller's)."""
    options: dict[str, object] = {"log_level": "critical", "ws": "none", **config}
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, **options))  # type: ignore[arg-type]  # options: uvicorn.Config keywords
    task = asyncio.create_task(server.serve())
    for _ in range(300):
        if server.started:
            break
        await asyncio.sleep(0.05)
    assert server.started, "uvicorn did not start"
    try:
        yield server.servers[0].sockets[0].getsockname()[1]
    finally:
        server.should_exit = True
        await task
