"""`pingtree serve --workers 2` on PostgreSQL and Redis: two processes, one intake count."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from pingtree.clock import SystemClock
from pingtree.config.store import apply_document
from pingtree.delivery.destinations import Allowlist
from pingtree.simulator import SimulatorConfig, start_simulator
from pingtree.storage.db import create_engine, sessions
from pingtree.storage.tables import Lead
from tests.engine.conftest import sim_buyer
from tests.factories import API_KEY, LEAD_FIELDS, campaign, document, tier

SRC = Path(__file__).parents[2] / "src"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def two_workers(
    database_url: str, rate_limit_storage: dict[str, Any], tmp_path: Path
) -> AsyncIterator[tuple[str, str]]:
    if rate_limit_storage["redis_url"] is None or database_url.startswith("sqlite"):
        pytest.skip("several workers need PostgreSQL and Redis")
    sim = await start_simulator(SimulatorConfig(port=0, buyers=[sim_buyer("acme")]))
    data = document([campaign("acme", sim)], [tier("t1", "priority", ["acme"])])
    raw = data.model_dump(mode="json", exclude_none=True)
    raw["publishers"][0]["rate_limit"] = "5/hour"
    engine = create_engine(database_url)
    async with sessions(engine)() as session, session.begin():
        await apply_document(
            session,
            type(data).model_validate(raw),
            now=SystemClock().now(),
            allow=Allowlist.parse("127.0.0.1"),
        )
    await engine.dispose()

    port = _free_port()
    env = {
        **os.environ,
        "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
        "PINGTREE_DATABASE_URL": database_url,
        "PINGTREE_DATA_DIR": str(tmp_path),
        "PINGTREE_REDIS_URL": rate_limit_storage["redis_url"],
        "PINGTREE_BUYER_URL_ALLOW": "127.0.0.1",
        "PINGTREE_MAX_LOOP_LAG_SHARE": "0",  # exactly 5 stored: none shed for loop lag
        "PINGTREE_RATELIMIT_PREFIX": rate_limit_storage["ratelimit_prefix"],
    }
    command = [sys.executable, "-m", "pingtree.cli", "serve", "--workers", "2", "--port", str(port)]
    server = subprocess.Popen(command, env=env, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base) as client:
            # Until it answers: two workers importing the app take long on a busy machine.
            loop = asyncio.get_running_loop()
            give_up = loop.time() + 120
            while True:
                try:
                    if (await client.get("/openapi.json")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert server.poll() is None, "pingtree serve exited"
                assert loop.time() < give_up, "pingtree serve did not answer within 120 s"
                await asyncio.sleep(0.1)
        yield base, database_url
    finally:
        try:
            _stopped(server)
        finally:
            await sim.stop()


STOP_WITHIN_S = 90  # systemd's default before it kills; a loaded machine restarts slowly


def _stopped(server: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the server's processes, as systemd stops them; one that has not exited
    within STOP_WITHIN_S is asked for its threads' stacks (SIGUSR1), then killed."""
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(STOP_WITHIN_S)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGUSR1)  # stacks to stderr, captured by pytest
        time.sleep(2)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)
        server.wait()
        pytest.fail(f"pingtree serve did not stop within {STOP_WITHIN_S} s of SIGTERM")


async def _stored(url: str) -> int:
    engine = create_engine(url)
    try:
        async with sessions(engine)() as session:
            return int(await session.scalar(select(func.count()).select_from(Lead)) or 0)
    finally:
        await engine.dispose()


@pytest.mark.timeout(180)
async def test_two_worker_processes_share_one_intake_count(
    two_workers: tuple[str, str],
) -> None:
    base, url = two_workers
    body = {"vertical": "auto", "fields": LEAD_FIELDS}

    async def post() -> int:
        # A connection of its own each time, so the kernel spreads them over both workers.
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            r = await client.post("/api/v1/leads", json=body, headers={"X-API-Key": API_KEY})
            return r.status_code

    codes = await asyncio.gather(*(post() for _ in range(30)))
    assert sorted(codes) == [200] * 5 + [429] * 25
    assert await _stored(url) == 5
