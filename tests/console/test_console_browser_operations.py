"""In Chromium at 390 px, with the keyboard only: a buyer's pending return is decided from the
Returns page, an operator account is made on the Accounts page; no page scrolls sideways and
the focused control shows its outline."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from pingtree.clock import SystemClock
from pingtree.config.store import apply_document
from pingtree.settings import Settings
from pingtree.simulator import RunningSimulator, SimulatorConfig, start_simulator
from pingtree.storage.db import create_engine, sessions
from pingtree.storage.migrate import upgrade
from tests.console.browser import ARGS, CHROMIUM, console_served, require_chromium
from tests.engine.conftest import sim_buyer
from tests.factories import API_KEY, LEAD_FIELDS, campaign, document, tier
from tests.returns.terms import buyer_key, with_terms

sync_api = require_chromium()
TOKEN = "browser-admin-token"
PHONE = {"width": 390, "height": 844}


@dataclass
class Served:
    base: str


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    url = "sqlite+aiosqlite:///" + str(tmp_path / "returns.db")
    asyncio.run(upgrade(url))
    settings = Settings(database_url=url, admin_token=TOKEN, buyer_url_allow="127.0.0.1")

    async def setup() -> RunningSimulator:
        sim = await start_simulator(SimulatorConfig(port=0, buyers=[sim_buyer("apex")]))
        doc = document([campaign("apex", sim)], [tier("t", "priority", ["apex"])])
        terms = {"returns": {"reasons": ["wrong_number"], "offer_again": False}}
        engine = create_engine(url)
        async with sessions(engine)() as session, session.begin():
            await apply_document(
                session,
                with_terms(doc, buyers={"apex": terms}),
                now=SystemClock().now(),
                allow=settings.buyer_allowlist,
            )
        await engine.dispose()
        return sim

    with console_served(settings, setup) as (base, _sim):
        yield Served(base)


def _returned(base: str) -> dict[str, Any]:
    """A lead sold to apex and returned by it: the pending return."""
    sold = httpx.post(
        f"{base}/api/v1/leads",
        json={"vertical": "auto", "fields": LEAD_FIELDS},
        headers={"X-API-Key": API_KEY},
        timeout=10,
    ).json()
    assert sold["status"] == "sold", sold
    asked = httpx.post(
        f"{base}/api/v1/returns",
        json={"lead_id": sold["lead_id"], "reason": "wrong_number"},
        headers=buyer_key("apex"),
        timeout=10,
    )
    assert asked.status_code == 201, asked.text
    found: dict[str, Any] = asked.json()
    return found


def _fits(page: Any) -> None:
    wide = page.evaluate("document.documentElement.scrollWidth")
    assert wide <= PHONE["width"], f"{page.url} is {wide} px wide"
    box = page.locator("header.top button:has-text('Log out')").bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]


def _focused(page: Any) -> dict[str, str]:
    return dict(
        page.evaluate(
            "(() => { const e = document.activeElement, s = getComputedStyle(e);"
            " return {id: e.id, label: e.getAttribute('aria-label') || '',"
            " outline: s.outlineStyle}; })()"
        )
    )


def test_a_return_is_decided_with_the_keyboard_at_phone_width(served: Served) -> None:
    base = served.base
    first, second = _returned(base), _returned(base)
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page(viewport=PHONE)
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{base}/console/login")
            page.fill("#token", TOKEN)
            page.keyboard.press("Enter")
            page.wait_for_url(f"{base}/console")
            page.click("nav >> text=Returns")
            page.wait_for_url(f"{base}/console/returns")
            _fits(page)
            assert page.locator("#returns-pending tbody tr").count() == 2

            # Tab from the first Approve button to the reason of its Reject form, type, Enter.
            page.focus(f"tr[data-return='{first['id']}'] button.primary")
            page.keyboard.press("Tab")
            assert _focused(page)["id"] == f"why-{first['id']}"
            assert _focused(page)["outline"] == "solid"  # visible focus
            page.keyboard.type("the number works")
            with page.expect_navigation():
                page.keyboard.press("Enter")
            assert "Rejected the return" in page.inner_text("p.done")
            _fits(page)

            # Shift+Tab back from the second reason field reaches its Approve button.
            page.focus(f"#why-{second['id']}")
            page.keyboard.press("Shift+Tab")
            assert _focused(page)["label"].startswith("Approve the return of lead")
            with page.expect_navigation():
                page.keyboard.press("Enter")
            assert "Approved the return" in page.inner_text("p.done")
            assert page.locator("#returns-pending >> text=No return is waiting").count() == 1
            assert page.locator("#returns-decided tbody tr").count() == 2

            page.click(f"#returns-decided tr[data-return='{second['id']}'] a")
            page.wait_for_url(f"{base}/console/leads/{second['lead_id']}")
            assert "approved" in page.inner_text("#lead-returns")
            _fits(page)
            # Its money story: sale, payout, return and clawback, once the books are kept.
            for _ in range(40):
                if page.locator("#lead-ledger tbody tr").count() >= 4:
                    break
                page.wait_for_timeout(250)
                page.reload()
            ledger = page.inner_text("#lead-ledger")
            assert "buyer:apex → revenue" in ledger and "revenue → buyer:apex" in ledger
            _fits(page)
            assert errors == []
        finally:
            browser.close()


def test_an_account_is_made_with_the_keyboard_at_phone_width(served: Served) -> None:
    base = served.base
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page(viewport=PHONE)
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{base}/console/login")
            page.fill("#token", TOKEN)
            page.keyboard.press("Enter")
            page.wait_for_url(f"{base}/console")
            page.goto(f"{base}/console/accounts")
            _fits(page)
            page.focus("#a-name")
            page.keyboard.type("otto")
            page.keyboard.press("Tab")
            assert _focused(page)["id"] == "a-role" and _focused(page)["outline"] == "solid"
            page.keyboard.press("Tab")
            assert page.evaluate("document.activeElement.textContent") == "Create"
            page.keyboard.press("Enter")
            page.wait_for_selector("#operator-token")
            _fits(page)
            token = page.input_value("#operator-token")
            assert token and "Created otto (operator)" in page.inner_text("h1")
            page.click("text=Back to the accounts")
            page.wait_for_url(f"{base}/console/accounts")
            assert "active" in page.inner_text("tr[data-operator='otto']")
            _fits(page)
            other = browser.new_page(viewport=PHONE)
            other.goto(f"{base}/console/login")
            other.fill("#token", token)
            other.keyboard.press("Enter")
            other.wait_for_url(f"{base}/console")
            assert "otto · operator" in (other.text_content(".who") or "")
            assert errors == []
        finally:
            browser.close()
