"""Real browsers for the console's tests: Debian's Chromium driven by Playwright.

Outside CI a machine without /usr/bin/chromium (or without playwright) skips these tests;
in CI (CI set) a missing browser fails them, so they can never be skipped silently there.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import threading
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from pingtree.app import create_app
from pingtree.settings import Settings

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def require_chromium() -> Any:
    """Playwright's sync API, or a skip (outside CI) / failure (in CI) saying what is missing."""
    missing = None
    if not CHROMIUM.exists():
        missing = f"browser tests need Debian's chromium at {CHROMIUM} (apt-get install chromium)"
    try:
        from playwright import sync_api
    except ImportError:
        missing = missing or "browser tests need playwright (the test extras)"
        sync_api = None
    if missing is not None:
        if os.environ.get("CI"):
            pytest.fail(missing)
        pytest.skip(missing, allow_module_level=True)
    return sync_api


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def console_served(
    settings: Settings, setup: Callable[[], Awaitable[Any]] | None = None
) -> Iterator[tuple[str, Any]]:
    """The app served by uvicorn on a free port, in a thread and event loop of its own (the
    browser's sync API keeps one in the test's thread): its base URL, and what setup
    returned (run in the server's loop first; its stop() awaited when the server is done).
    """
    # A browser beside the server loads the machine: shedding leads on the loop's lag would
    # make a test's lead depend on it (tests/intake covers the shedding), as in tests/engine.
    settings = settings.model_copy(update={"max_loop_lag_share": 0})
    port = free_port()
    made: list[Any] = [None]
    started, stop = threading.Event(), threading.Event()

    async def run() -> None:
        made[0] = await setup() if setup is not None else None
        server = uvicorn.Server(
            uvicorn.Config(
                create_app(settings), host="127.0.0.1", port=port, log_level="warning", ws="none"
            )
        )
        task = asyncio.create_task(server.serve())
        try:
            while not server.started and not task.done():
                await asyncio.sleep(0.02)
            started.set()
            await asyncio.to_thread(stop.wait)
            server.should_exit = True
            await task
        finally:
            if made[0] is not None and hasattr(made[0], "stop"):
                await made[0].stop()

    thread = threading.Thread(target=asyncio.run, args=(run(),), daemon=True)
    thread.start()
    try:
        assert started.wait(30), "the console did not start"
        yield f"http://127.0.0.1:{port}", made[0]
    finally:
        stop.set()
        thread.join(30)
