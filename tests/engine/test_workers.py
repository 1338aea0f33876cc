"""`pingtree serve --workers 2` on PostgreSQL and Redis: two real server processes share
one cap, one dedup window, one idempotency key and one even rotation.

The same over two in-process engines, deterministically, is in test_two_processes.py;
here the kernel spreads the connections over the workers as it would in production.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from pingtree.clock import SystemClock
from pingtree.config.store import apply_document
from pingtree.delivery.destinations import Allowlist
from pingtree.simulator import RunningSimulator, SimulatorConfig, start_simulator
from pingtree.storage.db import create_engine, sessions
from pingtree.storage.tables import Lead, Sale
from tests.engine.conftest import sim_buyer
from tests.engine.test_two_processes import NO_CHECKS, shared_redis, shared_url
from tests.factories import API_KEY, LEAD_FIELDS, campaign, document, tier

__all__ = ["shared_redis", "shared_url"]
SRC = Path(__file__).parents[2] / "src"
EVEN = ("e1", "e2", "e3")
CAP = 5


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def workers(
    shared_url: str, shared_redis: dict[str, str], tmp_path: Path
) -> AsyncIterator[tuple[str, RunningSimulator]]:
    """Two worker processes behind one port, configured with a capped tier then an even one."""
    sim = await start_simulator(
        SimulatorConfig(port=0, buyers=[sim_buyer(n) for n in ("capped", *EVEN)])
    )
    data = document(
        [campaign("capped", sim, price="20.00", caps={"daily": CAP})]
        + [campaign(n, sim) for n in EVEN],
        [tier("t1", "priority", ["capped"]), tier("t2", "even", list(EVEN))],
        screening=NO_CHECKS,
        tree={"max_processing_ms": 60_000},  # exactness apart from the deadline
    )
    engine = create_engine(shared_url)
    async with sessions(engine)() as session, session.begin():
        now = SystemClock().now()
        await apply_document(session, data, now=now, allow=Allowlist.parse("127.0.0.1"))
    await engine.dispose()
    port = _free_port()
    env = {
        **os.environ,
        "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
        "PINGTREE_DATABASE_URL": shared_url,
        "PINGTREE_DATA_DIR": str(tmp_path),
        "PINGTREE_REDIS_URL": shared_redis["redis_url"],
        "PINGTREE_RATELIMIT_PREFIX": shared_redis["ratelimit_prefix"],
        "PINGTREE_BUYER_URL_ALLOW": "127.0.0.1",
        "PINGTREE_MAX_LOOP_LAG_SHARE": "0",  # exact counts: no lead shed for loop lag
    }
    command = [sys.executable, "-m", "pingtree.cli", "serve", "--workers", "2", "--port", str(port)]
    server = subprocess.Popen(command, env=env, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base) as client:
            for _ in range(300):
                try:
                    if (await client.get("/readyz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert server.poll() is None, "pingtree serve exited"
                await asyncio.sleep(0.1)
        yield base, sim
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)
        await sim.stop()


def _person(i: int) -> dict[str, Any]:
    return {**LEAD_FIELDS, "email": f"person{i}@example.com", "phone": f"(212) 736-{i:04d}"}


async def _post(base: str, fields: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
    # A connection of its own each time, so the kernel spreads them over both workers.
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        r = await client.post(
            "/api/v1/leads",
            json={"vertical": "auto", "fields": fields},
            headers={"X-API-Key": API_KEY, **(headers or {})},
        )
        assert r.status_code == 200, r.text
        return r.json()


@pytest.mark.timeout(240)
async def test_two_workers_share_caps_dedup_keys_and_rotation(
    workers: tuple[str, RunningSimulator], shared_url: str
) -> None:
    base, sim = workers
    # 35 different people at once: 5 fill the cap, 30 rotate over the even tier.
    first = await asyncio.gather(*(_post(base, _person(i)) for i in range(35)))
    assert [a["status"] for a in first] == ["sold"] * 35
    # One person 10 times at once, then one Idempotency-Key 6 times at once.
    copies = await asyncio.gather(*(_post(base, _person(900)) for _ in range(10)))
    assert sorted(a["status"] for a in copies) == ["rejected"] * 9 + ["sold"]
    key = {"Idempotency-Key": "order-1"}
    repeats = await asyncio.gather(*(_post(base, _person(901), key) for _ in range(6)))
    assert len({a["lead_id"] for a in repeats}) == 1 and repeats[0]["status"] == "sold"

    engine = create_engine(shared_url)
    try:
        async with sessions(engine)() as session:
            leads = await session.scalar(select(func.count()).select_from(Lead))
            rows = (
                await session.execute(select(Sale.campaign, func.count()).group_by(Sale.campaign))
            ).all()
    finally:
        await engine.dispose()
    assert leads == 35 + 10 + 1  # every lead recorded, the repeats as one
    sold = {campaign: count for campaign, count in rows}
    assert sold["capped"] == CAP and len(sim.received("capped")) == CAP
    # 32 leads reached the even tier: one counter for both workers gives 11/11/10 exactly.
    assert Counter({n: sold[n] for n in EVEN}) == {"e1": 11, "e2": 11, "e3": 10}
