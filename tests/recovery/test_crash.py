"""kill -9 of the app mid-load: every post a buyer accepted is booked (sold or uncertain),
no lead is left `received`, cap counters equal sales plus open holds, and an
Idempotency-Key retry gets the lead's final answer."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from pingtree.simulator import SimulatorConfig, start_simulator
from pingtree.storage.db import create_engine
from tests.engine.conftest import sim_buyer
from tests.factories import campaign, document, tier
from tests.recovery.books import accepted_by, check_books, read_books
from tests.recovery.load import AppProcess, Publisher, configure, running

LEADS, IN_FLIGHT, KILL_AFTER = 80, 16, 24
FAST_RECOVERY = {
    "PINGTREE_RECORD_RETRY_S": "1",
    "PINGTREE_INTERRUPTED_AFTER_S": "4",
    "PINGTREE_RECOVERY_POLL_S": "0.5",
    "PINGTREE_CONFIG_POLL_S": "0.5",
    "PINGTREE_IDEMPOTENCY_WAIT_S": "1",
}


@pytest.mark.timeout(120)
async def test_kill_9_mid_load_loses_no_sale_and_leaves_nothing_stuck(
    database_url: str, tmp_path: Path
) -> None:
    sim = await start_simulator(
        SimulatorConfig(port=0, buyers=[sim_buyer("buyer", latency_ms_min=100, latency_ms_max=300)])
    )
    await configure(
        database_url,
        document(
            [campaign("buyer", sim, price="10.00", caps={"daily": 10_000}, timeout_ms=2000)],
            [tier("t1", "priority", ["buyer"])],
            tree={"max_processing_ms": 2000},
        ),
    )
    app = AppProcess(database_url, tmp_path / "app.log", env=FAST_RECOVERY)
    try:
        with running(app):
            await app.start()
            publisher = Publisher(app.base)
            stop = asyncio.Event()
            sending = asyncio.create_task(
                publisher.send([f"lead-{i}" for i in range(LEADS)], IN_FLIGHT, stop)
            )
            while len(publisher.answers) < KILL_AFTER:
                await asyncio.sleep(0.01)
            app.kill()
            stop.set()
            await sending
            cut_off = publisher.failed
            assert cut_off, "the kill caught no lead in flight"

            await app.start()  # recovery runs at start-up and from housekeeping
            engine = create_engine(database_url)
            try:
                for _ in range(200):
                    books = await read_books(engine, "buyer")
                    if not books.statuses.get("received") and not books.held:
                        break
                    await asyncio.sleep(0.1)
                check_books(books, accepted_by(sim, "buyer"))
            finally:
                await engine.dispose()

            async with httpx.AsyncClient(base_url=app.base, timeout=10) as client:
                for key in sorted(cut_off):
                    again = await Publisher.post(client, key)
                    assert again.status_code in (200, 422), again.text  # 422: never stored
                    if again.status_code == 200:
                        assert again.json()["status"] in ("sold", "unsold", "uncertain")
    finally:
        await sim.stop()
