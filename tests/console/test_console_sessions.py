"""Console sessions live in the database: they end on logout, when idle and when old."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select

from pingtree.app import create_app
from pingtree.console import csrf
from pingtree.console.auth import COOKIE
from pingtree.operators import Role, repository
from pingtree.operators.tokens import token_hash
from pingtree.runtime import Runtime
from pingtree.settings import Settings
from pingtree.storage.tables import ConsoleSession
from tests.console.conftest import TOKEN

IDLE = timedelta(minutes=30)
LIFETIME = timedelta(hours=8)


class ManualClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.at = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
        self.mono = 1000.0

    def now(self) -> datetime:
        return self.at

    def monotonic(self) -> float:
        return self.mono

    def advance(self, by: timedelta) -> None:
        self.at += by
        self.mono += by.total_seconds()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def rt(database: str, clock: ManualClock) -> AsyncIterator[Runtime]:
    settings = Settings(
        database_url=database,
        admin_token=TOKEN,
        console_idle_timeout=IDLE,
        console_session_lifetime=LIFETIME,
    )
    runtime = Runtime(settings, clock=clock)
    await runtime.start(watch=False)
    yield runtime
    await runtime.stop()


def _client(rt: Runtime, scheme: str = "http") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=create_app(rt.settings, runtime=rt))
    return httpx.AsyncClient(transport=transport, base_url=f"{scheme}://console.test")


async def _login(c: httpx.AsyncClient, token: str = TOKEN) -> str:
    r = await c.post("/console/login", data={"token": token, "next": "/console"})
    assert r.status_code == 303, r.text
    value = c.cookies.get(COOKIE)
    assert value
    return value


async def _in(c: httpx.AsyncClient, cookie: str) -> bool:
    c.cookies.clear()
    r = await c.get("/console", headers={"Cookie": f"{COOKIE}={cookie}"})
    assert r.status_code in (200, 303), r.status_code
    return r.status_code == 200


async def _rows(rt: Runtime) -> list[ConsoleSession]:
    async with rt.sessions() as session:
        return list((await session.scalars(select(ConsoleSession))).all())


async def test_the_cookie_is_random_httponly_strict_and_only_its_hash_is_kept(
    rt: Runtime,
) -> None:
    async with _client(rt) as c:
        first = await _login(c)
        header = (await c.post("/console/login", data={"token": TOKEN})).headers["set-cookie"]
        second = c.cookies.get(COOKIE)
    assert "HttpOnly" in header and "SameSite=strict" in header and "Path=/console" in header
    assert "Secure" not in header
    assert first != second and len(first) >= 43  # a new random id per login, 256 bits
    rows = await _rows(rt)
    # the second login ended the id the browser held before
    assert [r.id_hash for r in rows] == [token_hash(second or "")]
    assert all(first not in repr(vars(r)) and (second or "") not in repr(vars(r)) for r in rows)
    async with _client(rt, "https") as c:
        r = await c.post("/console/login", data={"token": TOKEN})
    assert "Secure" in r.headers["set-cookie"]


async def test_logout_ends_the_session_on_the_server(rt: Runtime) -> None:
    async with _client(rt) as c:
        cookie = await _login(c)
        assert await _in(c, cookie)
        r = await c.post(
            "/console/logout",
            headers={"Cookie": f"{COOKIE}={cookie}"},
            data={"csrf": csrf.token_for(cookie)},
        )
        assert r.status_code == 303
        # a copy of the cookie kept from before the logout opens nothing
        assert not await _in(c, cookie)
    assert await _rows(rt) == []


async def test_a_session_ends_after_the_idle_timeout(rt: Runtime, clock: ManualClock) -> None:
    async with _client(rt) as c:
        cookie = await _login(c)
        for _ in range(3):  # each request restarts the idle time
            clock.advance(IDLE - timedelta(seconds=1))
            assert await _in(c, cookie)
        clock.advance(IDLE)
        assert not await _in(c, cookie)
        assert await _rows(rt) == []  # deleted on sight


async def test_a_busy_session_still_ends_at_its_lifetime(rt: Runtime, clock: ManualClock) -> None:
    async with _client(rt) as c:
        cookie = await _login(c)
        step = IDLE / 2
        for _ in range(int(LIFETIME / step) - 1):
            clock.advance(step)
            assert await _in(c, cookie)
        clock.advance(step)
        assert not await _in(c, cookie)


async def test_expired_sessions_are_purged_at_the_next_login(
    rt: Runtime, clock: ManualClock
) -> None:
    async with _client(rt) as c:
        await _login(c)
        c.cookies.clear()
        clock.advance(IDLE)
        await _login(c)
    assert len(await _rows(rt)) == 1


async def test_rotating_or_revoking_a_token_ends_its_sessions(rt: Runtime) -> None:
    async with rt.sessions() as session, session.begin():
        token = await repository.create(
            session, "ann", Role.ANALYST, now=rt.clock.now(), actor="test"
        )
    async with _client(rt) as c:
        cookie = await _login(c, token)
        page = await c.get("/console")
        assert page.status_code == 200 and "ann · analyst" in page.text
        async with rt.sessions() as session, session.begin():
            token = await repository.rotate(session, "ann", now=rt.clock.now(), actor="test")
        assert not await _in(c, cookie)
        assert (await c.get("/console", headers={"Authorization": f"Bearer {token}"})).is_success
        cookie = await _login(c, token)
        async with rt.sessions() as session, session.begin():
            await repository.revoke(session, "ann", now=rt.clock.now(), actor="test")
        assert not await _in(c, cookie)
        refused = await c.post("/console/login", data={"token": token})
        assert refused.status_code == 401


async def test_an_operator_token_opens_the_console_without_any_admin_token(
    database: str,
) -> None:
    runtime = Runtime(Settings(database_url=database, admin_token=None))
    await runtime.start(watch=False)
    try:
        async with _client(runtime) as c:
            assert (await c.get("/console/login")).status_code == 403  # nobody can log in yet
            async with runtime.sessions() as session, session.begin():
                token = await repository.create(
                    session, "root", Role.ADMIN, now=runtime.clock.now(), actor="cli:test"
                )
            await _login(c, token)
            assert (await c.get("/console")).status_code == 200
    finally:
        await runtime.stop()


def test_session_times_are_read_as_seconds_or_iso_8601(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PINGTREE_CONSOLE_IDLE_TIMEOUT", "900")
    monkeypatch.setenv("PINGTREE_CONSOLE_SESSION_LIFETIME", "PT8H")
    settings = Settings()
    assert settings.console_idle_timeout == timedelta(minutes=15)
    assert settings.console_session_lifetime == timedelta(hours=8)
    monkeypatch.setenv("PINGTREE_CONSOLE_IDLE_TIMEOUT", "0")
    with pytest.raises(ValueError, match="console_idle_timeout"):
        Settings()


async def test_the_dashboards_own_polling_does_not_keep_a_session_alive(
    rt: Runtime, clock: ManualClock
) -> None:
    poll = {"HX-Request": "true", "HX-Current-URL": "http://console.test/console"}
    async with _client(rt) as c:
        cookie = await _login(c)
        c.cookies.clear()
        for _ in range(3):
            clock.advance(IDLE / 3 - timedelta(seconds=1))
            r = await c.get(
                "/console/partials/today", headers={**poll, "Cookie": f"{COOKIE}={cookie}"}
            )
            assert r.status_code == 200
        clock.advance(timedelta(seconds=3))
        r = await c.get("/console/partials/leads", headers={**poll, "Cookie": f"{COOKIE}={cookie}"})
        assert r.status_code == 401 and r.headers["hx-redirect"].startswith("/console/login")
