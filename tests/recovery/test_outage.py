"""A database outage mid-load (PostgreSQL behind a proxy that cuts every connection for
1.5 s): answers already received are kept and written when the database is back."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from pingtree.app import create_app
from pingtree.runtime import Runtime
from pingtree.settings import Settings
from pingtree.simulator import SimulatorConfig, start_simulator
from pingtree.storage.db import create_engine
from tests.engine.conftest import sim_buyer
from tests.factories import campaign, document, tier
from tests.recovery.books import accepted_by, check_books, read_books
from tests.recovery.load import Publisher, configure
from tests.recovery.proxy import CuttableProxy

LEADS, IN_FLIGHT, CUT_AFTER, OUTAGE_S = 80, 16, 20, 1.5


def _through(url: str, port: int) -> str:
    netloc = urlsplit(url).netloc
    host_port = netloc.rsplit("@", 1)[-1]
    return url.replace(host_port, f"127.0.0.1:{port}", 1)


@pytest.mark.timeout(90)
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)  # SQLite: see test_crash
async def test_database_outage_mid_load_loses_no_sale(
    database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    upstream = urlsplit(database_url)
    proxy = CuttableProxy(upstream.hostname or "127.0.0.1", upstream.port or 5432)
    await proxy.start()
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
    settings = Settings(
        database_url=_through(database_url, proxy.port),
        # The outage is 1.5 s of the loop's time: on a loaded machine the proxy comes back
        # later than that, and a record that gave up (the lead settled uncertain by recovery)
        # fails this test for the machine's sake. Once seen with 5 s: 14 of 78 sales.
        record_retry_s=12,
        interrupted_after_s=13,
        recovery_poll_s=0.5,
        config_poll_s=0.5,
        db_pool_timeout_s=1,
        buyer_url_allow="127.0.0.1",
        max_loop_lag_share=0,  # the test counts every lead it sends
    )
    rt = Runtime(settings, rng=random.Random(7))
    await rt.start()
    app = create_app(settings, runtime=rt)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    publisher = Publisher("http://pingtree.test")
    try:
        # Within the test's own time, so that a hang fails naming the await it hangs in
        # (pytest-timeout's kill shows only the event loop waiting).
        async with asyncio.timeout(70):
            async with httpx.AsyncClient(transport=transport, base_url=publisher.base) as client:
                publisher.client = client
                sending = asyncio.create_task(
                    publisher.send([f"lead-{i}" for i in range(LEADS)], IN_FLIGHT, asyncio.Event())
                )
                while len(publisher.answers) < CUT_AFTER:
                    await asyncio.sleep(0.01)
                cut_open = await proxy.cut()
                await asyncio.sleep(OUTAGE_S)
                await proxy.start()
                await sending
            # the outage reached the leads: refused outright, or their records waited it out
            waited = [r for r in caplog.records if "database unreachable" in r.getMessage()]
            assert cut_open, "the cut found no connection open"
            assert publisher.failed or waited, "the outage touched no lead"
            await rt.in_flight.drain(30)

            engine = create_engine(database_url)
            try:
                for _ in range(200):  # leads stored just as the database went: recovery's
                    books = await read_books(engine, "buyer")
                    if not books.statuses.get("received"):
                        break
                    await asyncio.sleep(0.1)
                check_books(books, accepted_by(sim, "buyer"))
                told_sold = {
                    a["lead_id"] for a in publisher.answers.values() if a["status"] == "sold"
                }
                assert told_sold <= books.sold  # every sale the publisher was told of is booked
            finally:
                await engine.dispose()
    finally:
        await rt.stop()
        await sim.stop()
        await proxy.stop()
