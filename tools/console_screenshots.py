"""Screenshots of every console page at desktop and phone width, into docs/console/.

    PYTHONPATH=src .venv/bin/python tools/console_screenshots.py [OUT_DIR] [jpeg|png]

Starts the demo's configuration on a temporary SQLite database with the buyer simulator,
posts a few dozen leads through the API (some sold, some unsold, flagged, rejected),
places a few simulated phone calls, then opens each page in Debian's Chromium
(/usr/bin/chromium) through Playwright.
"""

from __future__ import annotations

import asyncio
import random
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from playwright.sync_api import Page, sync_playwright

from pingtree import audit
from pingtree.app import create_app
from pingtree.clock import SystemClock
from pingtree.config.files import parse_document
from pingtree.config.positions import load_yaml
from pingtree.config.store import apply_document
from pingtree.demo import DEFAULT_SECRET_KEY, DEFAULT_TELEPHONY_TOKEN
from pingtree.operators import Role, repository
from pingtree.settings import Settings
from pingtree.simulator import Agent, load_config, start_simulator
from pingtree.simulator.phone_call import place_call
from pingtree.storage.db import create_engine, sessions
from pingtree.storage.migrate import upgrade

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
TOKEN = "screenshot-admin-token"
KEY = "screenshot-key-000000000000"
BUYER_KEY = "demo-apex-buyer-key-00000"  # examples/demo.yaml
WIDTHS = {"desktop": (1280, 900), "phone": (390, 844)}
FORMAT = sys.argv[2] if len(sys.argv) > 2 else "jpeg"


def snap(page: Page, path: Path) -> None:
    """A full-page screenshot (JPEG by default: a fraction of a PNG's size)."""
    if FORMAT == "png":
        page.screenshot(path=str(path.with_suffix(".png")), full_page=True)
    else:
        page.screenshot(path=str(path), full_page=True, type="jpeg", quality=70)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def prepare(url: str, sim_port: int, settings: Settings) -> None:
    await upgrade(url)
    text = (
        (ROOT / "examples/demo.yaml").read_text().replace("127.0.0.1:9100", f"127.0.0.1:{sim_port}")
    )
    document = parse_document(load_yaml(text).data, allow=settings.buyer_allowlist)
    document = document.model_copy(
        update={
            "publishers": [
                p.model_copy(update={"api_key": KEY}) if p.name == "demo-publisher" else p
                for p in document.publishers
            ]
        }
    )
    engine = create_engine(url)
    async with sessions(engine)() as session, session.begin():
        await apply_document(
            session,
            document,
            now=SystemClock().now(),
            allow=settings.buyer_allowlist,
            keys=settings.secret_keys,
        )
        for name, role in (("dana", Role.ADMIN), ("otto", Role.OPERATOR), ("ann", Role.ANALYST)):
            await repository.create(
                session, name, role, now=SystemClock().now(), actor=audit.SYSTEM
            )
    await engine.dispose()


def serve(settings: Settings, sim_port: int, ready: threading.Event, stop: threading.Event) -> None:
    async def main() -> None:
        sim_config = load_config(ROOT / "examples/simulator.yaml").model_copy(
            update={"port": sim_port}
        )
        sim = await start_simulator(sim_config)
        server = uvicorn.Server(
            uvicorn.Config(
                create_app(settings),
                host="127.0.0.1",
                port=settings.port,
                log_level="warning",
                access_log=False,
            )
        )
        task = asyncio.create_task(server.serve())
        while not server.started:  # noqa: ASYNC110 - uvicorn offers no event to wait on
            await asyncio.sleep(0.05)
        ready.set()
        await asyncio.to_thread(stop.wait)
        server.should_exit = True
        await task
        await sim.stop()

    asyncio.run(main())


FIRST = ["Dana", "Lee", "Sam", "Ari", "Noor", "Kim", "Jo", "Rae", "Max", "Ivy"]
LAST = ["Whitfield", "Park", "Okafor", "Silva", "Haddad", "Novak", "Reyes", "Brandt"]
PLACES = [
    ("90012", "CA", "(213) 624-7381"),
    ("94103", "CA", "(415) 555-0134"),
    ("10001", "NY", "(212) 736-5000"),
    ("85004", "AZ", "(602) 262-6011"),
    ("98101", "WA", "(206) 684-4000"),
    ("73301", "TX", "(512) 974-2000"),
]


def leads(base: str) -> None:
    rng = random.Random(7)
    with httpx.Client(base_url=base, headers={"X-API-Key": KEY}, timeout=10) as client:
        for i in range(36):
            zip_, state, phone = rng.choice(PLACES)
            fields: dict[str, Any] = {
                "first_name": rng.choice(FIRST),
                "last_name": rng.choice(LAST),
                "email": f"person{i}@example.com",
                "phone": phone[:-2] + f"{i % 90 + 10}",
                "zip": zip_,
                "state": state,
                "age": rng.randint(19, 78),
                "credit_rating": rng.choice(["excellent", "good", "fair", "poor"]),
                "vehicle_year": rng.randint(1996, 2025),
                "currently_insured": rng.random() < 0.6,
            }
            if i % 9 == 4:
                fields["email"] = f"info{i}@example.com"  # a role address lowers the score
                fields["vehicle_year"] = 1990
                fields["zip"] = "10001"  # not in the state: flagged for review
            if i % 11 == 7:
                fields["email"] = "not-an-email"
            client.post("/api/v1/leads", json={"vertical": "auto-insurance", "fields": fields})
    returns(base)
    asyncio.run(calls(base))


async def calls(base: str) -> None:
    """Three calls: one the form's person makes (matched), one too short, one nobody takes."""
    for caller, digits, talk_s in (
        ("+12127365010", ["10001", "1"], 140.0),
        ("+16022626011", ["85004", "2"], 20.0),
        ("+15129742099", ["73301", "1"], 0.0),
    ):
        agents = {
            target: Agent("answers" if talk_s else "rings_out", ring_s=4, talk_s=talk_s)
            for target in ("+15550101111", "+15550102222", "sip:queue@delta.example")
        }
        await place_call(
            base,
            DEFAULT_TELEPHONY_TOKEN,
            agents,
            caller=caller,
            number="+18005550100",
            digits=digits,
        )


def returns(base: str) -> None:
    """apex returns three leads it bought: over its 10% limit, two wait for an operator."""
    admin = {"Authorization": f"Bearer {TOKEN}"}
    sold = httpx.get(f"{base}/api/v1/admin/leads?status=sold", headers=admin, timeout=10).json()
    asked = 0
    buyer = {"X-Buyer-Key": BUYER_KEY}
    for lead in sold:
        reason = ("wrong_number", "disconnected", "invalid_contact")[asked % 3]
        body = {"lead_id": lead["lead_id"], "reason": reason}
        if httpx.post(f"{base}/api/v1/returns", json=body, headers=buyer, timeout=10).is_success:
            asked += 1
        if asked == 3:
            return


SHOTS: list[tuple[str, str]] = [
    ("dashboard", "/console"),
    ("leads", "/console/leads"),
    ("lead", "LEAD"),
    ("review", "/console/review"),
    ("returns", "/console/returns"),
    ("reports", "/console/reports?period=today"),
    ("buyers", "/console/buyers"),
    ("configuration", "/console/config"),
    ("campaigns", "/console/config/campaigns"),
    ("campaign-editor", "/console/config/campaigns/apex-auction"),
    ("tree-editor", "/console/config/trees/auto-main"),
    ("publisher-editor", "/console/config/publishers/demo-publisher"),
    ("vertical-editor", "/console/config/verticals/auto-insurance"),
    ("yaml-editor", "/console/config/buyers/apex/yaml"),
    ("calls", "/console/calls"),
    ("call", "CALL"),
    ("suppression", "/console/suppression"),
    ("history", "/console/history"),
    ("accounts", "/console/accounts"),
    ("not-found", "/console/no-such-page"),
]


def shoot(page: Page, base: str, out: Path, width: str) -> None:
    lead_href = page.goto(f"{base}/console/leads?status=sold") and page.get_attribute(
        "#lead-results tbody a", "href"
    )
    page.goto(f"{base}/console/calls")
    call_href = page.get_attribute("main table tbody a", "href")
    found = {"LEAD": lead_href or "/console/leads", "CALL": call_href or "/console/calls"}
    for name, path in SHOTS:
        page.goto(base + found.get(path, path))
        snap(page, out / f"{name}-{width}.jpg")
    # A check of a changed campaign: the diff before applying, and problems beside their inputs.
    page.goto(f"{base}/console/config/campaigns/cascade-direct")
    page.fill("#f-caps-daily", "250")
    page.fill("#f-price-amount", "12.50")
    page.click("#editor button.primary")
    snap(page, out / f"campaign-check-{width}.jpg")
    page.goto(f"{base}/console/config/campaigns/cascade-direct")
    page.fill("#f-caps-daily", "-5")
    page.select_option("#f-buyer", "apex")
    page.fill("#f-price-amount", "")
    page.click("#editor button.primary")
    snap(page, out / f"campaign-problems-{width}.jpg")


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs/console"
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        sim_port, port = free_port(), free_port()
        url = f"sqlite+aiosqlite:///{tmp}/screens.db"
        settings = Settings(
            database_url=url,
            admin_token=TOKEN,
            secret_key=DEFAULT_SECRET_KEY,
            port=port,
            buyer_url_allow=f"127.0.0.1:{sim_port}",
            telephony_auth_token=DEFAULT_TELEPHONY_TOKEN,
        )
        asyncio.run(prepare(url, sim_port, settings))
        ready, stop = threading.Event(), threading.Event()
        thread = threading.Thread(target=serve, args=(settings, sim_port, ready, stop), daemon=True)
        thread.start()
        ready.wait(30)
        base = f"http://127.0.0.1:{port}"
        try:
            leads(base)
            time.sleep(0.5)
            with sync_playwright() as pw:
                browser = pw.chromium.launch(
                    executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
                )
                for width, (w, h) in WIDTHS.items():
                    context = browser.new_context(viewport={"width": w, "height": h})
                    page = context.new_page()
                    page.goto(f"{base}/console/login")
                    page.fill("#token", TOKEN)
                    page.click("button[type=submit]")
                    page.wait_for_url(f"{base}/console")
                    shoot(page, base, out, width)
                    context.close()
                browser.close()
        finally:
            stop.set()
            thread.join(15)
    print(f"screenshots in {out}")


if __name__ == "__main__":
    main()
