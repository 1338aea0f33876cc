"""A real pingtree app process to crash, and a publisher sending it leads at N in flight."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

import pingtree
from pingtree.config.document import ConfigDocument
from pingtree.config.store import apply_document
from pingtree.delivery.destinations import Allowlist
from pingtree.storage.db import create_engine, sessions
from tests.factories import API_KEY, LEAD_FIELDS

SRC = Path(pingtree.__file__).resolve().parents[1]  # the app runs the code under test
ADMIN_TOKEN = "crash-admin-token"


SIMULATOR = Allowlist.parse("127.0.0.1")  # the simulated buyers listen on loopback


def free_port() -> int:
    """An ephemeral port nobody listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def configure(url: str, document: ConfigDocument) -> None:
    """Store a configuration in the database the app will read."""
    engine = create_engine(url)
    async with sessions(engine)() as session, session.begin():
        await apply_document(session, document, now=datetime.now(UTC), allow=SIMULATOR)
    await engine.dispose()


@dataclass
class AppProcess:
    """`uvicorn pingtree.app:create_app` in its own process, killed or stopped by the test."""

    url: str
    log: Path
    env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PINGTREE_")}
        env.update(
            PYTHONPATH=f"{SRC}{os.pathsep}{SRC.parent}",
            PINGTREE_DATABASE_URL=self.url,
            PINGTREE_ADMIN_TOKEN=ADMIN_TOKEN,
            PINGTREE_BUYER_URL_ALLOW="127.0.0.1",
            PINGTREE_MAX_LOOP_LAG_SHARE="0",  # the test counts every lead it sends
            **self.env,
        )
        cmd = [sys.executable, "-m", "uvicorn", "pingtree.app:create_app", "--factory"]
        cmd += ["--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning"]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
        async with httpx.AsyncClient(base_url=self.base) as client:
            for _ in range(600):
                if self.proc.poll() is not None:
                    raise AssertionError(f"app exited: {self.log.read_text()[-3000:]}")
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get("/openapi.json")).status_code == 200:
                        return
                await asyncio.sleep(0.1)
        raise AssertionError(f"app never became ready: {self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        """SIGTERM (then SIGKILL) if still running."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


@contextlib.contextmanager
def running(app: AppProcess) -> Iterator[AppProcess]:
    """Make sure the process is gone when the test ends."""
    try:
        yield app
    finally:
        app.stop()


@dataclass
class Publisher:
    """Sends leads (each with its own Idempotency-Key) at a fixed number in flight."""

    base: str
    answers: dict[str, dict[str, Any]] = field(default_factory=dict)  # key -> answer
    failed: set[str] = field(default_factory=set)  # keys whose request got no answer
    client: httpx.AsyncClient | None = None  # default: a new one to base

    async def send(self, keys: list[str], in_flight: int, stop: asyncio.Event) -> None:
        queue = list(reversed(keys))
        async with contextlib.AsyncExitStack() as stack:
            client = self.client or await stack.enter_async_context(
                httpx.AsyncClient(base_url=self.base, timeout=30)
            )

            async def worker() -> None:
                while queue and not stop.is_set():
                    key = queue.pop()
                    try:
                        response = await self.post(client, key)
                    except httpx.TransportError:
                        self.failed.add(key)
                        continue
                    if response.status_code == 200:
                        self.answers[key] = response.json()
                    else:
                        self.failed.add(key)

            await asyncio.gather(*(worker() for _ in range(in_flight)))

    @staticmethod
    async def post(client: httpx.AsyncClient, key: str) -> httpx.Response:
        """One lead with its Idempotency-Key."""
        return await client.post(
            "/api/v1/leads",
            json={"vertical": "auto", "fields": LEAD_FIELDS},
            headers={"X-API-Key": API_KEY, "Idempotency-Key": key},
        )
