"""Schemathesis walks the OpenAPI document against the demo setup: no input is a 5xx.

Every operation gets bounded examples (the schema's own examples, boundary cases, then
generated ones), sent with the demo publisher's key and the admin token, to an app on
SQLite whose buyers are the demo's simulated buyers.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import shutil
import tempfile
import threading
from collections import Counter
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import CheckContext, not_a_server_error
from schemathesis.python.asgi import shutdown_lifespans
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from pingtree.app import create_app
from pingtree.clock import SystemClock
from pingtree.config.files import load_file
from pingtree.config.store import apply_document
from pingtree.delivery.destinations import Allowlist
from pingtree.settings import Settings
from pingtree.simulator import RunningSimulator, load_config, start_simulator
from pingtree.storage.db import create_engine, sessions
from pingtree.storage.migrate import upgrade

EXAMPLES = Path(__file__).parents[2] / "examples"
DEMO_KEY = "demo-key-0000000000000000"
ADMIN_TOKEN = "fuzz-admin-token"
DEMO_BUYER_KEY = "demo-apex-buyer-key-00000"  # examples/demo.yaml, buyer apex
AS_BOTH = {
    "X-API-Key": DEMO_KEY,
    "Authorization": f"Bearer {ADMIN_TOKEN}",
    "X-Buyer-Key": DEMO_BUYER_KEY,
}
# A deeper run: PINGTREE_FUZZ_EXAMPLES=200 PINGTREE_FUZZ_RANDOM=1, and
# PINGTREE_FUZZ_DATABASE_URL for an empty PostgreSQL schema (see NOTES / README).
MAX_EXAMPLES = int(os.environ.get("PINGTREE_FUZZ_EXAMPLES", "25"))

T = TypeVar("T")
calls: Counter[str] = Counter()  # requests per operation
answers: Counter[int] = Counter()  # requests per status code
busy: Counter[str] = Counter()  # requests refused 503 busy, per operation
taken: Counter[str] = Counter()  # requests answered 2xx, per operation


class SimulatorThread:
    """The demo's simulated buyers, served from a loop of their own."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="fuzz-buyers")
        self.thread.start()
        config = load_config(EXAMPLES / "simulator.yaml").model_copy(update={"port": 0})
        self.sim: RunningSimulator = self._run(start_simulator(config))

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    def stop(self) -> None:
        self._run(self.sim.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(30)
        self.loop.close()


SIMULATOR = Allowlist.parse("127.0.0.1")  # the demo's simulated buyers, on a free port


async def _load_demo(url: str, sim: RunningSimulator, tmp: Path) -> None:
    await upgrade(url)
    text = (EXAMPLES / "demo.yaml").read_text().replace("http://127.0.0.1:9100", sim.base_url)
    (tmp / "demo.yaml").write_text(text)
    document = load_file(tmp / "demo.yaml", allow=SIMULATOR)
    publishers = [
        p.model_copy(update={"api_key": DEMO_KEY}) if p.name == "demo-publisher" else p
        for p in document.publishers
    ]
    document = document.model_copy(update={"publishers": publishers})
    engine = create_engine(url)
    async with sessions(engine)() as session, session.begin():
        await apply_document(session, document, now=SystemClock().now(), allow=SIMULATOR)
    await engine.dispose()


# The schema is read at collection, from the app itself; the app starts (its lifespan, on
# schemathesis's own loop) at the first request, after `demo_setup` has filled its database.
WORKDIR = Path(tempfile.mkdtemp(prefix="pingtree-fuzz-"))
atexit.register(shutil.rmtree, WORKDIR, ignore_errors=True)
DATABASE = (
    os.environ.get("PINGTREE_FUZZ_DATABASE_URL") or f"sqlite+aiosqlite:///{WORKDIR / 'pingtree.db'}"
)
APP = create_app(
    Settings(
        database_url=DATABASE,
        admin_token=ADMIN_TOKEN,
        data_dir=WORKDIR,
        buyer_url_allow="127.0.0.1",
    )
)
schema = schemathesis.openapi.from_dict(APP.openapi())
schema.app = APP


@pytest.fixture(scope="module", autouse=True)
def demo_setup() -> Iterator[None]:
    buyers = SimulatorThread()
    asyncio.run(_load_demo(DATABASE, buyers.sim, WORKDIR))
    try:
        yield
    finally:
        shutdown_lifespans()  # stops the app's runtime before its buyers go
        buyers.stop()
        total = sum(calls.values())
        print(f"\nschemathesis: {len(calls)} operations, {total} requests, {dict(answers)}")
        print(f"refused 503 busy: {dict(busy)}")
    # A busy refusal now and then is a loaded machine; more of them than leads taken, a
    # stalled app.
    stalled = {op: n for op, n in busy.items() if n > taken[op]}
    assert not stalled, f"more requests refused busy than taken: {stalled}, taken {dict(taken)}"


def not_a_server_error_but_busy(ctx: CheckContext, response: Any, case: schemathesis.Case) -> None:
    """not_a_server_error, but a lead refused `503 busy` with Retry-After passes: the
    process or its database could not take it in time (a loaded machine), not its input."""
    if response.status_code == 503 and response.headers.get("retry-after"):
        codes = [reason["code"] for reason in response.json().get("reasons", [])]
        if codes == ["busy"]:
            busy[case.operation.label] += 1
            return
    not_a_server_error(ctx, response, case)


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=not os.environ.get("PINGTREE_FUZZ_RANDOM"),
)
def test_no_input_is_a_server_error(case: schemathesis.Case) -> None:
    calls[case.operation.label] += 1
    response = case.call_and_validate(
        headers=AS_BOTH,
        checks=[not_a_server_error_but_busy, response_schema_conformance, content_type_conformance],
    )
    answers[response.status_code] += 1
    if response.status_code < 300:
        taken[case.operation.label] += 1
