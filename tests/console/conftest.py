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


# --- the console on both databases, with simulated buyers -----------------------------------

from tests.engine.conftest import (  # noqa: E402  (fixtures shared with the engine's tests)
    ADMIN_TOKEN,
    Harness,
    engine,
    engine_clocked,
)

__all__ = ["ADMIN_TOKEN", "Harness", "engine", "engine_clocked"]


def field_value(html: str, name: str) -> str:
    """The value of a form input by name (the first one)."""
    found = re.search(rf'name="{re.escape(name)}"[^>]*?value="([^"]*)"', html)
    assert found is not None, f"no input {name!r} on the page"
    return found[1]


class Operator:
    """A browser-like operator: logged in with a session cookie, posting the console's forms."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    @classmethod
    async def login(cls, client: httpx.AsyncClient, token: str = ADMIN_TOKEN) -> Operator:
        r = await client.post("/console/login", data={"token": token, "next": "/console"})
        assert r.status_code == 303, r.text
        return cls(client)

    async def get(self, path: str, **params: str) -> httpx.Response:
        return await self.client.get(path, params=params or None)

    async def submit(
        self, path: str, data: dict[str, str] | list[tuple[str, str]], *, opened: str | None = None
    ) -> httpx.Response:
        """POST a form as the page at `opened` (default: path) would: its CSRF token and the
        configuration version it was opened at come along."""
        page = await self.client.get(opened or path)
        assert page.status_code == 200, page.text
        items = list(data.items()) if isinstance(data, dict) else list(data)
        names = {k for k, _ in items}
        extra = [("csrf", csrf_of(page.text))]
        if "_base" not in names and 'name="_base"' in page.text:
            extra.append(("_base", field_value(page.text, "_base")))
        grouped: dict[str, list[str]] = {}
        for key, value in extra + items:
            grouped.setdefault(key, []).append(value)
        return await self.client.post(path, data=grouped)


async def operator(harness: Harness) -> Operator:
    """The harness's admin, logged in to the console."""
    return await Operator.login(harness.client)
