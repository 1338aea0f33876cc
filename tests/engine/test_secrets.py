"""Buyer secrets: the buyer receives them; nothing pingtree stores, shows or exports holds them."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from sqlalchemy import text

from pingtree.config.files import dump_document
from pingtree.config.store import load_document
from pingtree.credentials import SecretKeys
from tests.engine.conftest import ADMIN_TOKEN, SECRET_KEY, Harness, sim_buyer
from tests.factories import campaign, document, tier

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
APIKEY = "apikey-from-env-5e1f2a"
COOKIE = "sess-9f8e7d6c5b4a"
PROXY = "cHJveHk6c2VjcmV0LXByb3h5"
TOKEN = "tok-XYZ123abcdef"
URL_TOKEN = "url-tok-QQ77zz"
PASSWORD = "pw-hunter22-acme"
SECRETS = (APIKEY, COOKIE, PROXY, TOKEN, URL_TOKEN, PASSWORD)
TEMPLATE = '{"apikey": "{{ secrets.apikey }}", "zip": "{{ lead.zip }}", "lead": "{{ lead_id }}"}'


def secret_campaign(h: Harness, name: str = "acme", env: str = "PT_TEST_ACME_APIKEY") -> Any:
    spec = campaign(name, h.sim)
    post = spec["delivery"]["post"]
    post["url"] += "?token={{ secrets.urltoken }}&src=pingtree"
    post["template"] = TEMPLATE
    post["headers"] = {
        "Cookie": "session={{ secrets.cookie }}",
        "Proxy-Authorization": "Basic {{ secrets.proxy }}",
        "X-Buyer-Token": "{{ secrets.token }}",
    }
    spec["delivery"]["auth"] = {
        "type": "basic",
        "username": "acme",
        "password": "{{ secrets.password }}",
    }
    keys = SecretKeys.parse(SECRET_KEY)
    assert keys is not None
    spec["delivery"]["secrets"] = {
        "apikey": {"env": env},
        "cookie": COOKIE,  # in clear in the file: encrypted when applied
        "proxy": keys.seal(PROXY),  # as `pingtree secrets encrypt` gives it
        "token": TOKEN,
        "urltoken": URL_TOKEN,
        "password": PASSWORD,
    }
    return spec


async def test_buyer_gets_the_secrets_and_no_record_holds_them(
    engine: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = engine
    monkeypatch.setenv("PT_TEST_ACME_APIKEY", APIKEY)
    h.buyers(sim_buyer("acme"))
    await h.configure(document([secret_campaign(h)], [tier("t", "priority", ["acme"])]))
    response = await h.post_lead()
    assert response.json()["status"] == "sold", response.text
    lead_id = response.json()["lead_id"]

    [got] = h.sim.received("acme")
    assert got.header("Cookie") == f"session={COOKIE}"
    assert got.header("Proxy-Authorization") == f"Basic {PROXY}"
    assert got.header("X-Buyer-Token") == TOKEN
    assert got.header("Authorization") == "Basic " + base64.b64encode(
        f"acme:{PASSWORD}".encode()
    ).decode("ascii")
    assert f"token={URL_TOKEN}&src=pingtree" in got.path
    assert got.body["apikey"] == APIKEY

    timeline = await h.client.get(f"/api/v1/admin/leads/{lead_id}", headers=ADMIN)
    console = await h.client.get(f"/console/leads/{lead_id}", headers=ADMIN)
    config_page = await h.client.get("/console/config", headers=ADMIN)
    admin_config = await h.client.get("/api/v1/admin/config", headers=ADMIN)
    admin_campaign = await h.client.get("/api/v1/admin/campaigns/acme", headers=ADMIN)
    async with h.rt.sessions() as session:
        exported = dump_document((await load_document(session))[0])
        rows: list[str] = []
        for table in ("attempts", "config_resources", "leads"):
            found = await session.execute(text(f"SELECT * FROM {table}"))
            rows += [str(row) for row in found.all()]
    stored = "\n".join(rows)
    shown = {
        "timeline": timeline.text,
        "console lead page": console.text,
        "console config page": config_page.text,
        "admin config": admin_config.text,
        "admin campaign": admin_campaign.text,
        "export": exported,
        "database rows": stored,
    }
    assert all(r.status_code == 200 for r in (timeline, console, config_page, admin_config))
    leaks = {where: [s for s in SECRETS if s in text_] for where, text_ in shown.items()}
    assert not any(leaks.values()), leaks
    [attempt] = timeline.json()["attempts"]
    recorded = attempt["request"]
    assert recorded["headers"]["Cookie"] == "***"
    assert recorded["headers"]["Proxy-Authorization"] == "***"
    assert recorded["headers"]["X-Buyer-Token"] == "***"
    assert recorded["url"].endswith("?token=***&src=***")
    assert '"apikey": "***"' in recorded["body"]
    assert '"zip": "10001"' in recorded["body"]  # the rest of the record is intact
    assert "{{ secrets.apikey }}" in exported  # references, not values
    assert "enc:" in exported and "PT_TEST_ACME_APIKEY" in exported


async def test_a_secret_that_cannot_be_had_fails_that_buyer_and_the_lead_cascades(
    engine_sqlite: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = engine_sqlite
    monkeypatch.delenv("PT_TEST_UNSET_KEY", raising=False)
    h.buyers(sim_buyer("acme"), sim_buyer("backup"))
    campaigns = [secret_campaign(h, env="PT_TEST_UNSET_KEY"), campaign("backup", h.sim)]
    await h.configure(document(campaigns, [tier("t", "priority", ["acme", "backup"])]))
    response = await h.post_lead()
    assert response.json()["status"] == "sold"
    timeline = await h.client.get(
        f"/api/v1/admin/leads/{response.json()['lead_id']}", headers=ADMIN
    )
    first, second = timeline.json()["attempts"]
    assert first["outcome"] == "error"
    assert first["reason"] == "secret 'apikey': environment variable PT_TEST_UNSET_KEY is unset"
    assert second["campaign"] == "backup" and second["outcome"] == "accepted"
    assert h.sim.received("acme") == []


async def test_the_buyers_answer_is_stored_without_a_secret_it_echoes(
    engine_sqlite: Harness,
) -> None:
    h = engine_sqlite
    # A buyer whose rejection reason repeats the token it was sent.
    h.buyers(sim_buyer("acme", accept_rate=0.0))
    spec = campaign("acme", h.sim)
    spec["delivery"]["secrets"] = {"token": TOKEN}
    spec["delivery"]["post"]["headers"] = {"X-Buyer-Token": "{{ secrets.token }}"}
    spec["delivery"]["post"]["response"] = {
        **spec["delivery"]["post"]["response"],
        "reason": {"source": "header", "path": "X-Echo"},
    }
    await h.configure(document([spec], [tier("t", "priority", ["acme"])]))
    h.sim.buyer("acme").echo_header = "X-Buyer-Token"
    response = await h.post_lead()
    timeline = await h.client.get(
        f"/api/v1/admin/leads/{response.json()['lead_id']}", headers=ADMIN
    )
    [attempt] = timeline.json()["attempts"]
    assert attempt["outcome"] == "rejected"
    assert attempt["reason"] == "***"
    assert TOKEN not in timeline.text
    assert h.sim.received("acme")[0].header("X-Buyer-Token") == TOKEN


async def test_a_token_written_in_an_older_url_is_masked_in_records_and_pages(
    engine_sqlite: Harness,
) -> None:
    h = engine_sqlite
    h.buyers(sim_buyer("acme"))
    spec = campaign("acme", h.sim)
    spec["delivery"]["post"]["url"] += "?token=legacy-literal-55"
    await h.configure(document([spec], [tier("t", "priority", ["acme"])]))
    response = await h.post_lead()
    lead_id = response.json()["lead_id"]
    assert "token=legacy-literal-55" in h.sim.received("acme")[0].path
    timeline = await h.client.get(f"/api/v1/admin/leads/{lead_id}", headers=ADMIN)
    console = await h.client.get(f"/console/leads/{lead_id}", headers=ADMIN)
    config_page = await h.client.get("/console/config", headers=ADMIN)
    for page in (timeline, console, config_page):
        assert page.status_code == 200
        assert "legacy-literal-55" not in page.text
    assert timeline.json()["attempts"][0]["request"]["url"].endswith("?token=***")
