"""Only admin token holders see the console: login cookie, bearer header, or nothing."""

from __future__ import annotations

import httpx

from pingtree.app import create_app
from pingtree.console.auth import COOKIE
from tests.console.conftest import BEARER, TOKEN, csrf_of, started


async def test_pages_redirect_to_login_without_token(client: httpx.AsyncClient) -> None:
    for path in ("/console", "/console/buyers", "/console/config", "/console/leads/x"):
        r = await client.get(path)
        assert r.status_code == 303, path
        assert r.headers["location"].startswith("/console/login?next=")


async def test_login_form_then_cookie_opens_the_console(client: httpx.AsyncClient) -> None:
    form = await client.get("/console/login", params={"next": "/console/buyers"})
    assert form.status_code == 200
    assert 'name="token"' in form.text and 'value="/console/buyers"' in form.text

    r = await client.post("/console/login", data={"token": TOKEN, "next": "/console/buyers"})
    assert r.status_code == 303
    assert r.headers["location"] == "/console/buyers"
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/console" in cookie
    assert f"{COOKIE}={TOKEN};" not in cookie  # the cookie is not the token itself

    page = await client.get("/console/buyers")
    assert page.status_code == 200
    assert "Buyers and campaigns" in page.text


async def test_wrong_token_is_refused(client: httpx.AsyncClient) -> None:
    r = await client.post("/console/login", data={"token": "nope", "next": "/console"})
    assert r.status_code == 401
    assert "not the admin token" in r.text
    assert COOKIE not in r.headers.get("set-cookie", "")
    assert (await client.get("/console")).status_code == 303


async def test_bearer_header_opens_the_console(client: httpx.AsyncClient) -> None:
    assert (await client.get("/console", headers=BEARER)).status_code == 200
    wrong = await client.get("/console", headers={"Authorization": "Bearer x"})
    assert wrong.status_code == 303


async def test_login_never_redirects_off_the_console(client: httpx.AsyncClient) -> None:
    for target in ("https://evil.test/", "//evil.test/console", "/api/v1/admin/config"):
        r = await client.post("/console/login", data={"token": TOKEN, "next": target})
        assert r.headers["location"] == "/console", target


async def test_htmx_poll_without_login_is_sent_to_login(client: httpx.AsyncClient) -> None:
    headers = {"HX-Request": "true", "HX-Current-URL": "http://console.test/console"}
    r = await client.get("/console/partials/leads", headers=headers)
    assert r.status_code == 401
    assert r.headers["hx-redirect"] == "/console/login?next=/console"
    assert r.text == ""


async def test_logout_forgets_the_cookie(client: httpx.AsyncClient) -> None:
    await client.post("/console/login", data={"token": TOKEN})
    dashboard = await client.get("/console")
    assert dashboard.status_code == 200
    r = await client.post("/console/logout", data={"csrf": csrf_of(dashboard.text)})
    assert r.status_code == 303
    assert (await client.get("/console")).status_code == 303


async def test_logout_from_another_site_is_refused(client: httpx.AsyncClient) -> None:
    await client.post("/console/login", data={"token": TOKEN})
    token = csrf_of((await client.get("/console")).text)
    assert (await client.post("/console/logout")).status_code == 403  # no token
    assert (await client.post("/console/logout", data={"csrf": "0" * 64})).status_code == 403
    foreign = {"Origin": "https://evil.test"}
    r = await client.post("/console/logout", data={"csrf": token}, headers=foreign)
    assert r.status_code == 403
    assert (await client.get("/console")).status_code == 200  # still logged in


async def test_pages_are_not_cached_nor_framed(client: httpx.AsyncClient) -> None:
    r = await client.get("/console", headers=BEARER)
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["x-frame-options"] == "DENY"
    assert "script-src 'self'" in r.headers["content-security-policy"]


async def test_console_says_so_when_no_admin_token_is_set(database: str) -> None:
    rt = await started(database, None)
    try:
        app = create_app(rt.settings, runtime=rt)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://console.test") as c:
            for r in (
                await c.get("/console"),
                await c.get("/console/login"),
                await c.post("/console/login", data={"token": ""}),
                await c.get("/console/buyers", headers=BEARER),
            ):
                assert r.status_code == 403
                assert "no admin token is configured" in r.text
                assert "PINGTREE_ADMIN_TOKEN" in r.text
    finally:
        await rt.stop()


async def test_htmx_is_served_from_the_package(client: httpx.AsyncClient) -> None:
    r = await client.get("/console/static/htmx.min.js")
    assert r.status_code == 200
    assert "htmx" in r.text[:200]
    page = await client.get("/console", headers=BEARER)
    assert '<script src="/console/static/htmx.min.js" defer></script>' in page.text
