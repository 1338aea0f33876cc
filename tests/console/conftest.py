"""Fixtures: a migrated SQLite database, a started Runtime, the app and a client for it."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from pingtree.app import create_app
from pingtree.runtime import Runtime
from pingtree.settings import Settings
from pingtree.storage.migrate import upgrade
from pingtree.storage.tables import AttemptRow, Lead, Sale

TOKEN = "t"
BEARER = {"Authorization": f"Bearer {TOKEN}"}


def csrf_of(html: str) -> str:
    """The form token a console page carries (every page's Log out form has it)."""
    found = re.search(r'name="csrf" value="([0-9a-f]*)"', html)
    assert found is not None, "the page has no form token"
    return found[1]


@pytest.fixture
async def database(tmp_path: Path) -> str:
    url = "sqlite+aiosqlite:///" + str(tmp_path / "console.db")
    await upgrade(url)
    return url


async def started(url: str, token: str | None) -> Runtime:
    rt = Runtime(Settings(database_url=url, admin_token=token, buyer_url_allow="127.0.0.1"))
    await rt.start(watch=False)
    return rt


@pytest.fixture
async def runtime(database: str) -> AsyncIterator[Runtime]:
    rt = await started(database, TOKEN)
    yield rt
    await rt.stop()


@pytest.fixture
def app(runtime: Runtime) -> FastAPI:
    return create_app(runtime.settings, runtime=runtime)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://console.test") as c:
        yield c


@dataclass
class Rows:
    """Adds leads, attempts and sales through the ORM, as the engine stores them."""

    rt: Runtime

    @property
    def now(self) -> datetime:
        return datetime.now(UTC)

    async def add(self, *rows: Any) -> None:
        async with self.rt.sessions() as session, session.begin():
            session.add_all(rows)

    def lead(self, lead_id: str, status: str = "sold", **over: Any) -> Lead:
        values: dict[str, Any] = {
            "id": lead_id,
            "publisher": "pub-a",
            "vertical": "auto",
            "status": status,
            "test": False,
            "fields": {"first_name": "Ada", "email": "ada@example.com", "zip": "90210"},
            "received_at": self.now,
            "answered_at": self.now,
            "revenue": Decimal("0"),
            "payout": Decimal("0"),
            "timed_out": False,
            "reasons": [],
            "skips": [],
        }
        values.update(over)
        return Lead(**values)

    def attempt(self, lead_id: str, campaign: str, outcome: str, **over: Any) -> AttemptRow:
        values: dict[str, Any] = {
            "lead_id": lead_id,
            "campaign": campaign,
            "buyer": f"{campaign}-buyer",
            "tier": "direct",
            "kind": "post",
            "outcome": outcome,
            "price": Decimal("10.00"),
            "started_at": self.now - timedelta(milliseconds=200),
            "duration_ms": 123.4,
            "request": {"method": "POST", "url": "https://buyer.test/post", "headers": {}},
            "response": {"status": 200, "body": "{}"},
            "test": False,
        }
        values.update(over)
        return AttemptRow(**values)

    def sale(self, lead_id: str, campaign: str, price: str, payout: str, **over: Any) -> Sale:
        values: dict[str, Any] = {
            "lead_id": lead_id,
            "publisher": "pub-a",
            "campaign": campaign,
            "buyer": f"{campaign}-buyer",
            "tier": "direct",
            "price": Decimal(price),
            "payout": Decimal(payout),
            "reference": f"ref-{lead_id}",
            "sold_at": self.now,
            "test": False,
        }
        values.update(over)
        return Sale(**values)


@pytest.fixture
def rows(runtime: Runtime) -> Rows:
    return Rows(runtime)
