"""Operator accounts in the console: every role reads the list, only admins create, rotate
and disable; a token is shown once and works at once; on SQLite and PostgreSQL."""

from __future__ import annotations

import re

import httpx

from pingtree.operators import Role
from tests.console.conftest import Harness, Operator, csrf_of, operator
from tests.operators.conftest import add_operator


def _token(html: str) -> str:
    found = re.search(r'id="operator-token" class="api-key" value="([^"]+)"', html)
    assert found is not None, "no token on the page"
    return found[1]


def _row(html: str, name: str) -> str:
    found = re.search(rf'<tr data-operator="{re.escape(name)}">(.*?)</tr>', html, re.S)
    assert found is not None, f"no row for {name}"
    return found[1]


async def _logs_in(h: Harness, token: str) -> bool:
    transport = httpx.ASGITransport(app=h.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://pingtree.test") as fresh:
        r = await fresh.post("/console/login", data={"token": token, "next": "/console"})
        return r.status_code == 303


async def test_an_admin_creates_an_account_whose_token_works_at_once(engine: Harness) -> None:
    h = engine
    admin = await operator(h)
    made = await admin.submit(
        "/console/accounts", {"name": "otto", "role": "operator"}, opened="/console/accounts"
    )
    assert made.status_code == 200 and "Created otto (operator)" in made.text
    token = _token(made.text)
    assert await _logs_in(h, token)
    listed = await admin.get("/console/accounts")
    row = _row(listed.text, "otto")
    assert "operator" in row and "active" in row and token not in listed.text
    taken = await admin.submit(
        "/console/accounts", {"name": "otto", "role": "analyst"}, opened="/console/accounts"
    )
    assert taken.status_code == 303 and "failed=" in taken.headers["location"]
    assert "exists" in (await admin.get(taken.headers["location"])).text
    bad = await admin.submit(
        "/console/accounts", {"name": "Otto Smith", "role": "operator"}, opened="/console/accounts"
    )
    assert "lower-case" in (await admin.get(bad.headers["location"])).text
    odd = await admin.submit(
        "/console/accounts", {"name": "zed", "role": "owner"}, opened="/console/accounts"
    )
    assert "role%3A%20one%20of" in odd.headers["location"]


async def test_rotating_and_disabling_stop_the_old_token(engine: Harness) -> None:
    h = engine
    old = await add_operator(h.rt, "otto", Role.OPERATOR)
    otto = await Operator.login(h.client_at("10.0.0.7"), old)
    admin = await operator(h)
    rotated = await admin.submit("/console/accounts/otto/rotate", {}, opened="/console/accounts")
    assert rotated.status_code == 200 and "New token for otto" in rotated.text
    new = _token(rotated.text)
    assert not await _logs_in(h, old) and await _logs_in(h, new)
    ended = await otto.get("/console/review")
    assert ended.status_code == 303 and "/console/login" in ended.headers["location"]
    row = _row((await admin.get("/console/accounts")).text, "otto")
    assert "UTC" in row.split("</td>")[4]  # rotated at

    gone = await admin.submit("/console/accounts/otto/disable", {}, opened="/console/accounts")
    assert gone.status_code == 303 and "done=Disabled%20otto" in gone.headers["location"]
    assert not await _logs_in(h, new)
    assert "disabled" in _row((await admin.get("/console/accounts")).text, "otto")
    again = await admin.submit("/console/accounts/otto/rotate", {}, opened="/console/accounts")
    assert "revoked" in (await admin.get(again.headers["location"])).text
    await otto.client.aclose()


async def test_an_admin_cannot_disable_itself(engine: Harness) -> None:
    h = engine
    token = await add_operator(h.rt, "ada", Role.ADMIN)
    ada = await Operator.login(h.client, token)
    page = await ada.get("/console/accounts")
    assert 'aria-label="Disable ada"' not in page.text and "(you)" in _row(page.text, "ada")
    r = await ada.submit("/console/accounts/ada/disable", {}, opened="/console/accounts")
    assert "failed=you%20cannot%20disable%20your%20own" in r.headers["location"]
    assert await _logs_in(h, token)


async def test_operators_and_analysts_read_the_list_but_change_nothing(engine: Harness) -> None:
    h = engine
    await add_operator(h.rt, "victim", Role.ANALYST)
    for name, role in (("otto", Role.OPERATOR), ("ann", Role.ANALYST)):
        someone = await Operator.login(
            h.client_at(f"10.0.1.{len(name)}"), await add_operator(h.rt, name, role)
        )
        page = await someone.get("/console/accounts")
        assert page.status_code == 200 and "victim" in page.text
        assert 'id="new-account"' not in page.text and "Rotate token" not in page.text
        csrf = csrf_of(page.text)
        for path, data in (
            ("/console/accounts", {"name": "mallory", "role": "admin", "csrf": csrf}),
            ("/console/accounts/victim/rotate", {"csrf": csrf}),
            ("/console/accounts/victim/disable", {"csrf": csrf}),
        ):
            refused = await someone.client.post(path, data=data)
            assert refused.status_code == 403, (role, path)
            assert "may not do this" in refused.text
        await someone.client.aclose()
    admin = await operator(h)
    listed = (await admin.get("/console/accounts")).text
    assert "mallory" not in listed and "active" in _row(listed, "victim")
