"""Operations endpoints and figures against the real app: /healthz, /readyz, /metrics."""

from __future__ import annotations

import asyncio
import gc
import io
import json
import logging
import socket
import sys
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from pingtree import heap
from pingtree.app import create_app
from pingtree.logs import JsonFormatter, for_lead
from pingtree.logs import configure as configure_logs
from pingtree.runtime import Runtime
from pingtree.settings import Settings
from pingtree.storage.db import create_engine
from tests.engine.conftest import Harness, _harness, sim_buyer
from tests.factories import LEAD_FIELDS, campaign, document, tier


def figure(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample in a Prometheus exposition, or None when absent."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return None


async def scrape(h: Harness, **headers: str) -> str:
    response = await h.client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


async def _failing_then_selling(h: Harness) -> None:
    h.buyers(
        sim_buyer("broken", error_rate=1.0),
        sim_buyer("hang", hang_rate=1.0),
        sim_buyer("taker"),
    )
    await h.configure(
        document(
            [
                campaign("broken", h.sim),
                campaign("hang", h.sim, timeout_ms=150),
                campaign("taker", h.sim, price="12.34", caps={"daily": 4}),
            ],
            [
                tier(
                    "t",
                    "priority",
                    [
                        {"campaign": "broken", "rank": 1},
                        {"campaign": "hang", "rank": 2},
                        {"campaign": "taker", "rank": 3},
                    ],
                )
            ],
        )
    )


async def test_healthz_answers_while_the_process_lives(engine_sqlite: Harness) -> None:
    response = await engine_sqlite.client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_is_ready_with_database_and_config(engine: Harness) -> None:
    response = await engine.client.get("/readyz")
    assert response.status_code == 200, response.text
    assert response.json() == {
        "status": "ready",
        "checks": {"database": "ok", "config": "ok"},
    }


async def test_readyz_checks_redis_when_configured(sqlite_url: str) -> None:
    async for h in _harness(sqlite_url, redis_url="redis://127.0.0.1:6379/0"):
        response = await h.client.get("/readyz")
        assert response.status_code == 200, response.text
        assert response.json()["checks"]["redis"] == "ok"
    async for h in _harness(sqlite_url, redis_url=f"redis://127.0.0.1:{closed_port()}/0"):
        response = await h.client.get("/readyz")
        assert response.status_code == 503
        checks = response.json()["checks"]
        assert checks["redis"].startswith("unreachable")
        assert checks["database"] == "ok"


def _unreachable(dialect: str, tmp_path: Path) -> str:
    """A database URL of the same kind that cannot be reached."""
    if dialect == "postgresql":
        return f"postgresql+psycopg://postgres@127.0.0.1:{closed_port()}/test"
    return f"sqlite+aiosqlite:///{tmp_path / 'missing-directory' / 'pingtree.db'}"


async def test_readyz_is_503_when_the_database_goes_away(engine: Harness, tmp_path: Path) -> None:
    h = engine
    live = h.rt.engine
    h.rt.engine = create_engine(_unreachable(live.dialect.name, tmp_path))
    try:
        response = await h.client.get("/readyz")
    finally:
        await h.rt.engine.dispose()
        h.rt.engine = live
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not_ready"
    assert body["checks"]["database"].startswith("unreachable")
    assert body["checks"]["config"] == "ok"
    assert (await h.client.get("/readyz")).status_code == 200  # back when the database is


async def test_readyz_names_every_failed_check_before_start() -> None:
    """An app pointed at a closed port, never started: no database, no configuration."""
    url = f"postgresql+psycopg://postgres@127.0.0.1:{closed_port()}/test"
    settings = Settings(database_url=url, readiness_timeout_s=2.0)
    rt = Runtime(settings)
    app = create_app(settings, runtime=rt)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.get("/readyz")
            assert (await client.get("/healthz")).status_code == 200
    finally:
        await rt.engine.dispose()
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["database"].startswith("unreachable")
    assert checks["config"] == "not loaded"


async def test_metrics_count_a_sold_lead_its_sales_failures_and_cap(engine: Harness) -> None:
    h = engine
    await _failing_then_selling(h)
    for _ in range(2):
        answer = (await h.post_lead()).json()
        assert answer["status"] == "sold", answer
    text = await scrape(h)

    assert figure(text, "pingtree_leads_total", status="sold") == 2
    assert figure(text, "pingtree_leads_total", status="unsold") is None
    assert figure(text, "pingtree_sales_total", buyer="taker", campaign="taker") == 2
    revenue = figure(text, "pingtree_revenue_dollars_total", buyer="taker", campaign="taker")
    assert revenue == pytest.approx(float(Decimal("24.68")))
    taker = {"buyer": "taker", "kind": "post", "outcome": "accepted"}
    assert figure(text, "pingtree_buyer_request_seconds_count", **taker) == 2
    broken = {"buyer": "broken", "kind": "post", "outcome": "error"}
    hang = {"buyer": "hang", "kind": "post", "outcome": "timeout"}
    assert figure(text, "pingtree_buyer_failures_total", **broken) == 2
    assert figure(text, "pingtree_buyer_failures_total", **hang) == 2
    assert figure(text, "pingtree_buyer_failures_total", buyer="taker") is None
    # each timed-out post took at least its 150 ms timeout
    assert (figure(text, "pingtree_buyer_request_seconds_sum", **hang) or 0) >= 0.3
    assert figure(text, "pingtree_cap_count", campaign="taker", period="daily") == 2
    assert figure(text, "pingtree_cap_limit", campaign="taker", period="daily") == 4
    assert figure(text, "pingtree_cap_fill", campaign="taker", period="daily") == 0.5
    assert figure(text, "pingtree_deadline_missed_total", tree="main") is None


async def test_metrics_count_an_unsold_lead_and_its_declined_post(engine_sqlite: Harness) -> None:
    h = engine_sqlite
    h.buyers(sim_buyer("nobody", accept_rate=0.0))
    await h.configure(document([campaign("nobody", h.sim)], [tier("t", "priority", ["nobody"])]))
    assert (await h.post_lead()).json()["status"] == "unsold"
    text = await scrape(h)
    assert figure(text, "pingtree_leads_total", status="unsold") == 1
    assert figure(text, "pingtree_leads_total", status="sold") is None
    rejected = {"buyer": "nobody", "kind": "post", "outcome": "rejected"}
    assert figure(text, "pingtree_buyer_request_seconds_count", **rejected) == 1
    assert figure(text, "pingtree_buyer_failures_total", **rejected) is None


async def test_each_runtime_counts_its_own_figures(engine_sqlite: Harness) -> None:
    """Registries are per Runtime: a second engine in the same process starts from zero."""
    h = engine_sqlite
    h.buyers(sim_buyer("taker"))
    await h.configure(document([campaign("taker", h.sim)], [tier("t", "priority", ["taker"])]))
    assert (await h.post_lead()).json()["status"] == "sold"
    other = Runtime(h.rt.settings)
    try:
        assert figure((await scrape(h)), "pingtree_leads_total", status="sold") == 1
        assert other.figures.leads.labels("sold")._value.get() == 0
    finally:
        await other.engine.dispose()


@pytest.fixture
async def one_at_a_time(sqlite_url: str) -> AsyncIterator[Harness]:
    """An engine that takes one lead at a time."""
    async for harness in _harness(sqlite_url, max_leads_in_flight=1):
        yield harness


async def test_metrics_count_leads_shed_busy(one_at_a_time: Harness) -> None:
    h = one_at_a_time
    h.buyers(sim_buyer("slow", latency_ms_min=300, latency_ms_max=300))
    await h.configure(document([campaign("slow", h.sim)], [tier("t", "priority", ["slow"])]))
    first = asyncio.create_task(h.post_lead())
    while not len(h.rt.in_flight):
        await asyncio.sleep(0.005)
    refused = await h.post_lead()
    assert refused.status_code == 503
    assert (await first).json()["status"] == "sold"
    text = await scrape(h)
    assert figure(text, "pingtree_leads_shed_total", reason="in_flight") == 1
    assert figure(text, "pingtree_leads_total", status="sold") == 1


async def test_metrics_count_a_lead_answered_after_its_deadline(engine_sqlite: Harness) -> None:
    h = engine_sqlite
    h.buyers(sim_buyer("slow", latency_ms_min=100, latency_ms_max=100))
    await h.configure(
        document(
            [campaign("slow", h.sim)],
            [tier("t", "priority", ["slow"])],
            tree={"max_processing_ms": 1000},
        )
    )
    first = await h.post_lead()
    assert first.json()["status"] == "sold", first.text  # in time
    assert figure(await scrape(h), "pingtree_deadline_missed_total", tree="main") is None

    h.sim.clear_received()
    late = asyncio.create_task(h.post_lead())
    while not h.sim.received("slow"):  # routing: the post is out, its answer 100 ms away
        await asyncio.sleep(0.002)
    time.sleep(1.2)  # the loop is stuck past the lead's 1000 ms, as a starved process's is
    await late
    assert figure(await scrape(h), "pingtree_deadline_missed_total", tree="main") == 1


async def test_metrics_need_the_token_when_one_is_set(sqlite_url: str) -> None:
    async for h in _harness(sqlite_url, metrics_token="scrape-me"):
        assert (await h.client.get("/metrics")).status_code == 401
        wrong = {"Authorization": "Bearer nope"}
        assert (await h.client.get("/metrics", headers=wrong)).status_code == 401
        assert "pingtree_leads_total" in await scrape(h, Authorization="Bearer scrape-me")


async def test_json_logs_name_the_lead_on_every_line_and_carry_no_pii(
    engine: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    h = engine
    await _failing_then_selling(h)
    lines = io.StringIO()
    handler = logging.StreamHandler(lines)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("pingtree")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        answer = (await h.post_lead()).json()
        await h.rt.in_flight.drain(5.0)  # the background record's line too
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    assert answer["status"] == "sold", answer

    logged = [json.loads(line) for line in lines.getvalue().splitlines()]
    messages = [line["message"] for line in logged]
    assert "post to campaign broken: error" in " ".join(messages), messages
    assert "post to campaign hang: timeout" in " ".join(messages), messages
    assert "record written" in messages  # written from the record's own task
    assert all(line["lead_id"] == answer["lead_id"] for line in logged), logged
    assert {"ts", "level", "logger", "message"} <= set(logged[0])
    out, err = capsys.readouterr()
    text = lines.getvalue() + out + err
    pii = [str(v) for k, v in LEAD_FIELDS.items() if k in ("first_name", "email", "phone", "ssn")]
    assert [value for value in pii if value in text] == []


def test_json_formatter_describes_a_failure_without_its_message() -> None:
    secret = "ada.lovelace@example.com"
    try:
        raise ValueError(f"bad value {secret}")
    except ValueError:
        record = logging.LogRecord(
            "pingtree.x", logging.ERROR, __file__, 1, "writing failed", (), sys.exc_info()
        )
    with for_lead("lead-1"):
        line = json.loads(JsonFormatter().format(record))
    assert line["lead_id"] == "lead-1"
    assert line["error"] == "ValueError"
    assert "raise ValueError" in line["stack"]
    assert secret not in json.dumps(line)
    assert "lead_id" not in json.loads(JsonFormatter().format(record))  # off the lead's path


def test_configure_sends_json_lines_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    saved, level = list(root.handlers), root.level
    try:
        configure_logs(Settings(log_format="json").log_format)
        with for_lead("lead-2"):
            logging.getLogger("pingtree.test").info("lead taken")
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved:
            root.addHandler(handler)
        root.setLevel(level)
    [line] = [json.loads(x) for x in capsys.readouterr().err.splitlines() if "lead taken" in x]
    assert line["lead_id"] == "lead-2"
    assert line["level"] == "info"
    with pytest.raises(ValueError, match="log_format"):
        Settings(log_format="xml")


async def test_a_serving_app_freezes_its_startup_heap_and_counts_collector_pauses(
    engine_sqlite: Harness,
) -> None:
    """`pingtree serve` freezes what startup built, so a full collection no longer walks it
    (measured: 50-300 ms loop stalls under load before), and /metrics shows each pause."""
    h = engine_sqlite
    app = create_app(h.rt.settings, runtime=h.rt, serving=True)
    transport = httpx.ASGITransport(app=app)
    thresholds = gc.get_threshold()
    try:
        async with app.router.lifespan_context(app):
            assert gc.get_freeze_count() > 0  # startup's objects are out of the walk
            assert gc.get_threshold()[2] == heap.OLDEST_EVERY  # and full collections rarer
            gc.collect()
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                text = (await client.get("/metrics")).text
            assert (figure(text, "pingtree_gc_pause_seconds_count", generation="2") or 0) >= 1
        gc.collect()  # stopped: no longer counted
        assert not h.rt.figures.pauses.drain()
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)


async def test_an_app_serving_beside_tests_leaves_the_collector_alone(
    engine_sqlite: Harness,
) -> None:
    """An app built for a test (not `pingtree serve`) freezes nothing and counts nothing."""
    before = gc.get_freeze_count(), gc.get_threshold()
    app = create_app(engine_sqlite.rt.settings, runtime=engine_sqlite.rt)
    async with app.router.lifespan_context(app):
        gc.collect()
        assert (gc.get_freeze_count(), gc.get_threshold()) == before
        assert not engine_sqlite.rt.figures.pauses.drain()
