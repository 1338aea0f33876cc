"""In Chromium, from an empty database and only through the console: a vertical, a publisher
with a key, buyers, campaigns with filters, caps and a schedule, a three-tier tree ordered
with the keyboard, a route; then a lead posted with the new key is followed on its page.
Every page visited is then checked at 390 px: nothing scrolls sideways, Log out is in view.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from pingtree.settings import Settings
from pingtree.simulator import RunningSimulator, SimBuyer, SimulatorConfig, start_simulator
from pingtree.storage.migrate import upgrade
from tests.console.browser import ARGS, CHROMIUM, console_served, require_chromium

sync_api = require_chromium()
TOKEN = "browser-admin-token"
POST_RULES = (
    "response:\n"
    "    rules:\n"
    "      - {source: json, path: $.status, equals: accepted, outcome: accepted}\n"
    "      - {source: json, path: $.status, equals: rejected, outcome: rejected}\n"
    "    price: {source: json, path: $.price}\n"
)

# The innermost elements reaching past the screen's right edge, to name what is too wide.
_WIDEST = """
[...document.querySelectorAll('body *')]
  .filter(e => e.getBoundingClientRect().right > 391
            && ![...e.children].some(c => c.getBoundingClientRect().right > 391))
  .slice(0, 5)
  .map(e => e.tagName.toLowerCase() + (e.className ? '.' + e.className : '')
            + ' ' + Math.round(e.getBoundingClientRect().right) + 'px: '
            + (e.textContent || '').trim().slice(0, 60))
"""


@dataclass
class Served:
    base: str
    sim: RunningSimulator


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    url = "sqlite+aiosqlite:///" + str(tmp_path / "setup.db")
    asyncio.run(upgrade(url))
    settings = Settings(database_url=url, admin_token=TOKEN, buyer_url_allow="127.0.0.1")

    async def setup() -> RunningSimulator:
        buyers = [
            SimBuyer(name=n, bid_min=Decimal("10"), bid_max=Decimal("20"), seed=i)
            for i, n in enumerate(("apex", "bluecrest", "cascade"))
        ]
        return await start_simulator(SimulatorConfig(port=0, buyers=buyers))

    with console_served(settings, setup) as (base, sim):
        yield Served(base, sim)


def check_and_apply(page: Any) -> None:
    """Check the editor's changes, read the plan, apply it."""
    page.click("#editor .toolbar button.primary")
    page.wait_for_selector("#plan")
    page.click("#apply")
    page.wait_for_selector("#applied, .api-key")


def add_row(page: Any, value: str) -> None:
    with page.expect_navigation():  # the editor's form posts and comes back with the row
        page.click(f"button[value='{value}']")


def test_the_demo_setup_built_in_the_console_sells_a_lead(served: Served) -> None:
    base, sim = served.base, served.sim
    visited: list[str] = []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on(
                "framenavigated", lambda f: visited.append(f.url) if f == page.main_frame else None
            )
            page.goto(f"{base}/console/login")
            page.fill("#token", TOKEN)
            page.keyboard.press("Enter")
            page.wait_for_url(f"{base}/console")

            # A vertical and its fields.
            page.goto(f"{base}/console/config/verticals/_new")
            page.fill("#f-name", "auto-insurance")
            for i, (name, kind, pii) in enumerate(
                [
                    ("email", "email", True),
                    ("phone", "phone", True),
                    ("zip", "zip", False),
                    ("state", "state", False),
                    ("age", "integer", False),
                ]
            ):
                if i:
                    add_row(page, "add:fields")
                page.fill(f"#f-fields-{i}-name", name)
                page.select_option(f"#f-fields-{i}-type", kind)
                page.check(f"#f-fields-{i}-required")
                if pii:
                    page.check(f"#f-fields-{i}-pii")
            page.fill("#f-fields-4-min", "18")
            check_and_apply(page)
            assert "Applied: the configuration is now version 1." in page.inner_text("#applied")

            # A publisher: its key is shown once.
            page.goto(f"{base}/console/config/publishers/_new")
            page.fill("#f-name", "demo-publisher")
            page.select_option("#f-payout-type", "fixed")
            page.fill("#f-payout-amount", "6.00")
            check_and_apply(page)
            key = page.input_value(".api-key")
            assert key.startswith("pk_")

            for buyer in ("apex", "bluecrest", "cascade"):
                page.goto(f"{base}/console/config/buyers/_new")
                page.fill("#f-name", buyer)
                page.fill("#f-dedup_days", "0")
                check_and_apply(page)

            # Campaigns: filters, caps, a schedule, a delivery tried before going live.
            for name, state_filter, price in (
                ("apex-direct", "CA, NV", "20.00"),
                ("bluecrest-direct", "", "15.00"),
                ("cascade-direct", "", "9.00"),
            ):
                buyer = name.split("-")[0]
                page.goto(f"{base}/console/config/campaigns/_new?buyer={buyer}")
                page.fill("#f-name", name)
                if state_filter:
                    add_row(page, "add:filters")
                    page.select_option("#f-filters-0-field", "state")
                    page.select_option("#f-filters-0-op", "in")
                    page.fill("#f-filters-0-values", state_filter)
                    add_row(page, "add:schedule.windows")
                    page.fill("#f-schedule-timezone", "America/Los_Angeles")
                    page.fill("#f-schedule-windows-0-start", "00:00")
                    page.fill("#f-schedule-windows-0-end", "24:00")
                    page.fill("#f-caps-daily", "500")
                    page.fill("#f-caps-budget-daily", "10000.00")
                page.fill("#f-price-amount", price)
                url = sim.url(buyer, "post")
                page.fill("#f-delivery", f"post:\n  url: {url}\n  {POST_RULES}")
                if state_filter:
                    page.click("button[value='send_test']")
                    page.wait_for_selector("#trial-outcome")
                    assert page.inner_text("#trial-outcome").startswith("accepted")
                check_and_apply(page)
            assert page.url.endswith("/console/config/campaigns/cascade-direct?applied=8")

            # A three-tier tree, its tiers put in order with the keyboard.
            page.goto(f"{base}/console/config/trees/_new")
            page.fill("#f-name", "auto-main")
            add_row(page, "add:tiers")
            add_row(page, "add:tiers")
            for i, (tier, flow, campaign) in enumerate(
                [
                    ("remnant", "priority", "cascade-direct"),
                    ("premium", "priority", "apex-direct"),
                    ("standard", "priority", "bluecrest-direct"),
                ]
            ):
                page.fill(f"#f-tiers-{i}-name", tier)
                page.select_option(f"#f-tiers-{i}-flow", flow)
                add_row(page, f"add:tiers[{i}].campaigns")
                page.select_option(f"#f-tiers-{i}-campaigns-0-campaign", campaign)
            page.fill("#f-max_processing_ms", "3000")
            page.focus("button[value='down:tiers[0]']")  # remnant goes last: twice down
            with page.expect_navigation():  # the form posts; the page comes back re-ordered
                page.keyboard.press("Enter")
            page.focus("button[value='down:tiers[1]']")
            with page.expect_navigation():
                page.keyboard.press(" ")
            names = [page.input_value(f"#f-tiers-{i}-name") for i in range(3)]
            assert names == ["premium", "standard", "remnant"]
            check_and_apply(page)

            page.goto(f"{base}/console/config/routes/_new")
            page.select_option("#f-publisher", "demo-publisher")
            page.select_option("#f-tree", "auto-main")
            check_and_apply(page)

            # A lead posted with the key the console issued, followed on its page.
            lead = {"email": "dana@example.com", "phone": "(213) 624-7381", "zip": "90012",
                    "state": "CA", "age": 34}  # fmt: skip
            answer = httpx.post(
                f"{base}/api/v1/leads",
                json={"vertical": "auto-insurance", "fields": lead},
                headers={"X-API-Key": key},
                timeout=10,
            ).json()
            assert answer["status"] == "sold", answer
            page.goto(f"{base}/console/leads")
            page.fill("#l-q", "DANA@example.com")
            page.keyboard.press("Enter")
            page.wait_for_selector("#lead-results a")
            page.click("#lead-results a")
            page.wait_for_url(f"{base}/console/leads/{answer['lead_id']}")
            assert page.inner_text("#lead-status") == "sold"
            assert page.inner_text("#lead-revenue") == "20.00"
            assert page.is_visible("#sales >> text=apex-direct")
            fields = page.inner_text("#fields")
            assert fields.index("email") < fields.index("zip") < fields.index("age")

            page.goto(f"{base}/console/history")
            assert page.locator("#changes > li").count() == 10  # every change, by whom
            assert page.inner_text("#changes > li >> nth=0").count("by admin-token") == 1
            assert errors == []

            # At 390 px: no page scrolls sideways and Log out stays in view.
            phone = browser.new_page(viewport={"width": 390, "height": 844})
            phone.goto(f"{base}/console/login")
            phone.fill("#token", TOKEN)
            phone.click("button[type=submit]")
            phone.wait_for_url(f"{base}/console")
            pages = sorted({u.split("?")[0] for u in visited if "/console" in u} | {
                f"{base}/console/reports", f"{base}/console/review",
                f"{base}/console/suppression", f"{base}/console/config",
                f"{base}/console/buyers", f"{base}/console/no-such-page",
                f"{base}/console/returns", f"{base}/console/accounts",
            })  # fmt: skip
            for address in pages:
                if address.endswith("/login"):
                    continue
                phone.goto(address)
                wide = phone.evaluate("document.documentElement.scrollWidth")
                assert wide <= 390, f"{address} is {wide} px wide at 390: {phone.evaluate(_WIDEST)}"
                box = phone.locator("header.top button:has-text('Log out')").bounding_box()
                assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
        finally:
            browser.close()
