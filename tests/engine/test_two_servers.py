"""Two `pingtree serve` processes on different ports, one PostgreSQL and one Redis (as
behind a load balancer): one cap, one dedup window, one idempotency key, one even rotation.

The client picks the server of each lead, so that the leads are spread in a known way
(`serve --workers N` leaves that to the kernel: tests/ratelimits/test_workers.py).
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


def _serve(url: str, redis: dict[str, str], tmp_path: Path) -> tuple[str, subprocess.Popen[bytes]]:
    port = _free_port()
    env = {
        **os.environ,
        "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
        "PINGTREE_DATABASE_URL": url,
        "PINGTREE_DATA_DIR": str(tmp_path),
        "PINGTREE_REDIS_URL": redis["redis_url"],
        "PINGTREE_RATELIMIT_PREFIX": redis["ratelimit_prefix"],
        "PINGTREE_BUYER_URL_ALLOW": "127.0.0.1",
        "PINGTREE_MAX_LOOP_LAG_SHARE": "0",  # exact counts: no lead shed for loop lag
    }
    command = [sys.executable, "-m", "pingtree.cli", "serve", "--port", str(port)]
    return f"http://127.0.0.1:{port}", subprocess.Popen(command, env=env, start_new_session=True)


async def _ready(base: str, server: subprocess.Popen[bytes]) -> None:
    async with httpx.AsyncClient(base_url=base) as client:
        for _ in range(1200):  # a server starts slowly on a busy machine
            try:
                if (await client.get("/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert server.poll() is None, "pingtree serve exited"
            await asyncio.sleep(0.1)
    raise AssertionError(f"{base} never became ready")


@pytest.fixture
async def servers(
    shared_url: str, shared_redis: dict[str, str], tmp_path: Path
) -> AsyncIterator[tuple[list[str], RunningSimulator]]:
    """Two servers, configured with a capped tier then an even one; their base URLs."""
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
    started = [_serve(shared_url, shared_redis, tmp_path) for _ in range(2)]
    try:
        for base, server in started:
            await _ready(base, server)
        yield [base for base, _ in started], sim
    finally:
        for _, server in started:
            os.killpg(server.pid, signal.SIGTERM)
        for _, server in started:
            server.wait(30)
        await sim.stop()


def _person(i: int) -> dict[str, Any]:
    return {**LEAD_FIELDS, "email": f"person{i}@example.com", "phone": f"(212) 736-{i:04d}"}


async def _post(base: str, fields: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        r = await client.post(
            "/api/v1/leads",
            json={"vertical": "auto", "fields": fields},
            headers={"X-API-Key": API_KEY, **(headers or {})},
        )
        assert r.status_code == 200, r.text
        return r.json()


async def _sold_to(url: str) -> dict[str, str]:
    engine = create_engine(url)
    try:
        async with sessions(engine)() as session:
            rows = (await session.execute(select(Sale.lead_id, Sale.campaign))).all()
    finally:
        await engine.dispose()
    return {lead: campaign for lead, campaign in rows}


@pytest.mark.timeout(240)
async def test_two_servers_share_caps_dedup_keys_and_rotation(
    servers: tuple[list[str], RunningSimulator], shared_url: str
) -> None:
    (a, b), sim = servers
    # One at a time: 5 leads fill the cap, then 9 go to the even tier, coming to the
    # servers unevenly. One rotation: e1, e2, e3, e1, ... whichever server took the lead.
    for i, base in enumerate([a, b, a, b, a]):
        assert (await _post(base, _person(i)))["status"] == "sold"
    order = [a, a, b, a, b, b, b, a, a]
    ids = [(await _post(base, _person(10 + i)))["lead_id"] for i, base in enumerate(order)]
    sold = await _sold_to(shared_url)
    assert [sold[lead] for lead in ids] == list(EVEN) * 3

    # At once, spread over both: 30 people; one person 10 times; one Idempotency-Key 6 times.
    spread = [a, b] * 15
    first = await asyncio.gather(*(_post(base, _person(100 + i)) for i, base in enumerate(spread)))
    assert [x["status"] for x in first] == ["sold"] * 30
    copies = await asyncio.gather(*(_post(base, _person(900)) for base in [a, b] * 5))
    assert sorted(x["status"] for x in copies) == ["rejected"] * 9 + ["sold"]
    key = {"Idempotency-Key": "order-1"}
    repeats = await asyncio.gather(*(_post(base, _person(901), key) for base in [a, b] * 3))
    assert len({x["lead_id"] for x in repeats}) == 1 and repeats[0]["status"] == "sold"

    engine = create_engine(shared_url)
    try:
        async with sessions(engine)() as session:
            leads = await session.scalar(select(func.count()).select_from(Lead))
    finally:
        await engine.dispose()
    assert leads == 5 + 9 + 30 + 10 + 1  # every lead recorded, the repeats as one
    counts = Counter((await _sold_to(shared_url)).values())
    assert counts["capped"] == CAP and len(sim.received("capped")) == CAP
    # 9 + 30 + 1 + 1 = 41 leads reached the even tier: one counter gives 14/14/13.
    assert {n: counts[n] for n in EVEN} == {"e1": 14, "e2": 14, "e3": 13}
