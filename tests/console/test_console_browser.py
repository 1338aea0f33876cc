"""A real browser: log in, watch the dashboard refresh, open a lead's timeline."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from pingtree.settings import Settings
from pingtree.storage.db import create_engine, sessions
from pingtree.storage.migrate import upgrade
from pingtree.storage.tables import AttemptRow, Lead, Sale
from tests.console.browser import ARGS, CHROMIUM, console_served, require_chromium

sync_api = require_chromium()


def lead(lead_id: str, **over: Any) -> Lead:
    now = datetime.now(UTC)
    values: dict[str, Any] = {
        "id": lead_id,
        "publisher": "pub-a",
        "vertical": "auto",
        "status": "sold",
        "test": False,
        "fields": {"first_name": "Grace", "email": "grace@example.com"},
        "received_at": now,
        "answered_at": now,
        "revenue": Decimal("18.00"),
        "payout": Decimal("12.60"),
        "timed_out": False,
        "reasons": [],
        "skips": [],
    }
    values.update(over)
    return Lead(**values)


def sold_to_apex(lead_id: str) -> list[Any]:
    now = datetime.now(UTC)
    request = {
        "method": "POST",
        "url": "https://apex.test/post",
        "headers": {"Authorization": "***"},
        "body": '{"email": "grace@example.com"}',
    }
    attempt = AttemptRow(
        lead_id=lead_id,
        campaign="apex-direct",
        buyer="apex",
        tier="direct",
        kind="post",
        outcome="accepted",
        price=Decimal("18.00"),
        started_at=now,
        duration_ms=87.0,
        request=request,
        response={"status": 200, "body": '{"status": "accepted"}'},
        test=False,
    )
    sale = Sale(
        lead_id=lead_id,
        publisher="pub-a",
        campaign="apex-direct",
        buyer="apex",
        tier="direct",
        price=Decimal("18.00"),
        payout=Decimal("12.60"),
        sold_at=now,
        test=False,
    )
    return [attempt, sale]


def insert(url: str, *groups: list[Any]) -> None:
    async def go() -> None:
        engine = create_engine(url)
        try:
            async with sessions(engine)() as session, session.begin():
                for group in groups:
                    session.add_all(group)
                    await session.flush()
        finally:
            await engine.dispose()

    # Playwright's sync API keeps an event loop running in this thread: insert from another.
    worker = threading.Thread(target=asyncio.run, args=(go(),))
    worker.start()
    worker.join(30)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, str]]:
    url = "sqlite+aiosqlite:///" + str(tmp_path / "browser.db")
    asyncio.run(upgrade(url))
    insert(url, [lead("browser-lead-1")], sold_to_apex("browser-lead-1"))
    with console_served(Settings(database_url=url, admin_token="t")) as (base, _):
        yield base, url


def test_login_dashboard_and_timeline(served: tuple[str, str]) -> None:
    base, url = served
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))

            page.goto(f"{base}/console")
            assert "/console/login" in page.url
            page.fill("#token", "t")
            page.click("button[type=submit]")
            page.wait_for_url(f"{base}/console")
            assert page.text_content("#received") == "1"
            assert page.text_content("#revenue") == "18.00"
            assert page.evaluate("typeof window.htmx") == "object"

            # A lead arriving now shows up without a reload: the table polls every 5 s.
            insert(url, [lead("browser-lead-2", status="unsold", revenue=0, payout=0)])
            page.wait_for_selector("#leads-table >> text=browser-lead-2", timeout=15_000)
            page.wait_for_function(
                "document.getElementById('received').textContent === '2'", timeout=15_000
            )

            page.click("#leads-table a:has-text('browser-lead-1')")
            page.wait_for_url(f"{base}/console/leads/browser-lead-1")
            assert "browser-lead-1" in (page.text_content("h1") or "")
            assert page.is_visible("text=grace@example.com")
            assert page.is_visible("#sales >> text=apex-direct")
            page.click(".attempt summary:has-text('Request')")
            assert page.is_visible(".attempt pre:has-text('Authorization: ***')")
            assert errors == []
        finally:
            browser.close()
