"""The admin REST API: the resources of the YAML file, over HTTP, on both databases."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from pingtree.publishers.model import hash_api_key
from pingtree.storage.tables import ConfigResource
from tests.engine.conftest import ADMIN_TOKEN, Harness, sim_buyer
from tests.factories import API_KEY, LEAD_FIELDS, VERTICAL, campaign, document, tier

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
BASE = "/api/v1/admin"


async def _setup(h: Harness) -> None:
    """Two buyers' campaigns in a priority tier; the test publisher routed to it."""
    h.buyers(sim_buyer("alpha"), sim_buyer("beta"))
    await h.configure(
        document(
            [
                campaign("alpha", h.sim, price="10.00"),
                campaign("beta", h.sim, price="4.00"),
            ],
            [tier("t1", "priority", [{"campaign": "alpha", "rank": 1}, "beta"])],
        )
    )


async def _get(h: Harness, path: str) -> httpx.Response:
    return await h.client.get(f"{BASE}/{path}", headers=ADMIN)


async def _put(h: Harness, path: str, spec: dict[str, Any]) -> httpx.Response:
    return await h.client.put(f"{BASE}/{path}", json=spec, headers=ADMIN)


async def _delete(h: Harness, path: str) -> httpx.Response:
    return await h.client.delete(f"{BASE}/{path}", headers=ADMIN)


def _issues(response: httpx.Response) -> list[tuple[str, str]]:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["status"] == "invalid_config"
    return [(i["path"], i["reason"]) for i in body["issues"]]


# --- auth ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": "Bearer "},
        {"Authorization": f"Basic {ADMIN_TOKEN}"},
        {"X-API-Key": API_KEY},  # a publisher key is not the admin token
    ],
)
async def test_without_the_admin_token_401(engine_sqlite: Harness, headers: dict[str, str]) -> None:
    h = engine_sqlite
    await _setup(h)
    for method, path in [
        ("GET", "/config"),
        ("POST", "/config"),
        ("GET", "/campaigns"),
        ("GET", "/campaigns/alpha"),
        ("PUT", "/buyers/intruder"),
        ("DELETE", "/campaigns/beta"),
    ]:
        body = {"name": "intruder"} if method in ("PUT", "POST") else None
        response = await h.client.request(method, f"{BASE}{path}", json=body, headers=headers)
        assert response.status_code == 401, (method, path, response.text)
        assert response.json()["reasons"][0]["code"] == "invalid_admin_token"
    assert (await _get(h, "buyers/intruder")).status_code == 404
    assert (await _get(h, "campaigns/beta")).status_code == 200


async def test_with_the_admin_token_200(engine_sqlite: Harness) -> None:
    await _setup(engine_sqlite)
    assert (await _get(engine_sqlite, "campaigns")).status_code == 200


# --- read ------------------------------------------------------------------------------------


async def test_get_each_kind(engine: Harness) -> None:
    h = engine
    await _setup(h)
    expected = {
        "verticals": ["auto"],
        "publishers": ["pub"],
        "buyers": ["alpha", "beta"],
        "campaigns": ["alpha", "beta"],
        "trees": ["main"],
        "routes": ["pub:auto"],
    }
    for kind, names in expected.items():
        listed = await _get(h, kind)
        assert listed.status_code == 200, listed.text
        items = listed.json()
        keys = [
            i["name"] if kind != "routes" else f"{i['publisher']}:{i['vertical']}" for i in items
        ]
        assert keys == names, kind
        for name, item in zip(names, items, strict=True):
            one = await _get(h, f"{kind}/{name}")
            assert one.status_code == 200, one.text
            assert one.json() == item

    alpha = (await _get(h, "campaigns/alpha")).json()
    assert alpha["price"] == {
        "type": "fixed",
        "amount": "10.00",
        "floor": "0.00",
        "max_price": "1000.00",
        "post_price": "bid",
    }
    publisher = (await _get(h, "publishers/pub")).json()
    assert "api_key" not in publisher
    assert publisher["api_key_sha256"] == hash_api_key(API_KEY)

    whole = (await _get(h, "config")).json()
    assert whole["version"] == 1
    assert [c["name"] for c in whole["campaigns"]] == ["alpha", "beta"]


async def test_unknown_kind_and_name_404(engine_sqlite: Harness) -> None:
    h = engine_sqlite
    await _setup(h)
    assert (await _get(h, "widgets")).status_code == 404
    assert (await _get(h, "campaigns/nope")).status_code == 404
    assert (await _put(h, "widgets/x", {"name": "x"})).status_code == 404
    assert (await _delete(h, "campaigns/nope")).status_code == 404
    assert (await _delete(h, "widgets/x")).status_code == 404


# --- write, every kind -------------------------------------------------------------------------


async def test_put_and_delete_each_kind(engine: Harness) -> None:
    h = engine
    await _setup(h)
    h.buyers(sim_buyer("gamma"))
    home = {
        **VERTICAL,
        "name": "home",
        "fields": [f for f in VERTICAL["fields"] if f["name"] != "ssn"],
    }
    specs: list[tuple[str, str, dict[str, Any]]] = [
        ("verticals", "home", home),
        ("publishers", "pub2", {"name": "pub2", "payout": {"type": "fixed", "amount": "3.25"}}),
        ("buyers", "gamma", {"name": "gamma", "contact_email": "ops@gamma.example"}),
        ("campaigns", "gamma", {**campaign("gamma", h.sim, price="7.10"), "vertical": "home"}),
        (
            "trees",
            "home-tree",
            {"name": "home-tree", "vertical": "home", "tiers": [tier("only", "price", ["gamma"])]},
        ),
        ("routes", "pub2:home", {"publisher": "pub2", "vertical": "home", "tree": "home-tree"}),
    ]
    version = (await _get(h, "config")).json()["version"]
    for kind, name, spec in specs:
        created = await _put(h, f"{kind}/{name}", spec)
        assert created.status_code == 200, (kind, created.text)
        fetched = await _get(h, f"{kind}/{name}")
        assert fetched.status_code == 200
        answer = {k: v for k, v in created.json().items() if k != "api_key"}
        assert fetched.json() == answer
        version += 1
        assert (await _get(h, "config")).json()["version"] == version

    assert (await _get(h, "campaigns/gamma")).json()["price"]["amount"] == "7.10"
    assert (await _get(h, "publishers/pub2")).json()["payout"]["amount"] == "3.25"

    # replace: PUT again with a change; the same PUT twice is no change at all
    changed = {**specs[3][2], "price": {"type": "fixed", "amount": "8.00"}}
    assert (await _put(h, "campaigns/gamma", changed)).status_code == 200
    assert (await _get(h, "campaigns/gamma")).json()["price"]["amount"] == "8.00"
    version += 1
    assert (await _put(h, "campaigns/gamma", changed)).status_code == 200
    assert (await _get(h, "config")).json()["version"] == version

    # delete in dependency order: each goes, and is gone
    for kind, name, _ in reversed(specs):
        removed = await _delete(h, f"{kind}/{name}")
        assert removed.status_code == 204, (kind, removed.text)
        assert (await _get(h, f"{kind}/{name}")).status_code == 404
    assert [b["name"] for b in (await _get(h, "buyers")).json()] == ["alpha", "beta"]
    assert [v["name"] for v in (await _get(h, "verticals")).json()] == ["auto"]


async def test_put_bad_spec_422_names_the_path(engine: Harness) -> None:
    h = engine
    await _setup(h)
    bad = campaign("gamma", h.sim, buyer="alpha", sim_buyer="alpha", caps={"daily": -1})
    bad["price"] = {"type": "fixed", "amount": "1.234"}
    bad["schedule"] = {"timezone": "Nowhere/Land", "windows": [{}]}
    bad["colour"] = "red"
    issues = _issues(await _put(h, "campaigns/gamma", bad))
    assert ("caps.daily", "must be >= 0") in issues
    assert ("price.amount", "must have at most 2 decimal places") in issues
    assert ("schedule.timezone", "unknown IANA time zone 'Nowhere/Land'") in issues
    assert ("colour", "is not a known key") in issues
    assert (await _get(h, "campaigns/gamma")).status_code == 404
    assert (await _get(h, "config")).json()["version"] == 1


async def test_put_that_refers_to_an_unknown_buyer_422(engine: Harness) -> None:
    h = engine
    await _setup(h)
    spec = campaign("alpha", h.sim, buyer="ghost", price="10.00")
    issues = _issues(await _put(h, "campaigns/alpha", spec))
    assert issues == [("campaigns/alpha.buyer", "unknown buyer 'ghost'")]
    assert (await _get(h, "campaigns/alpha")).json()["buyer"] == "alpha"  # unchanged

    tree = {"name": "other", "vertical": "auto", "tiers": [tier("x", "even", ["missing"])]}
    issues = _issues(await _put(h, "trees/other", tree))
    assert issues == [("trees/other.tiers[0].campaigns[0].campaign", "unknown campaign 'missing'")]
    assert (await _get(h, "trees/other")).status_code == 404


async def test_put_with_a_name_other_than_the_url_422_and_nothing_stored(
    engine_sqlite: Harness,
) -> None:
    h = engine_sqlite
    await _setup(h)
    response = await _put(h, "buyers/one", {"name": "two"})
    assert response.status_code == 422
    assert response.json()["reasons"][0]["code"] == "name_mismatch"
    assert (await _get(h, "buyers/two")).status_code == 404
    assert (await _get(h, "buyers/one")).status_code == 404


async def test_delete_a_referenced_buyer_422_names_the_campaign(engine: Harness) -> None:
    h = engine
    await _setup(h)
    issues = _issues(await _delete(h, "buyers/alpha"))
    assert issues == [("campaigns/alpha.buyer", "still refers to buyers/alpha")]
    assert (await _get(h, "buyers/alpha")).status_code == 200

    issues = _issues(await _delete(h, "campaigns/beta"))
    assert issues == [
        ("trees/main.tiers[0].campaigns[1].campaign", "still refers to campaigns/beta")
    ]
    issues = _issues(await _delete(h, "trees/main"))
    assert issues == [("routes/pub:auto.tree", "still refers to trees/main")]
    assert (await _get(h, "config")).json()["version"] == 1
    # the lead path still works: nothing was half-removed
    assert (await h.post_lead()).json()["status"] == "sold"


# --- publishers' keys ----------------------------------------------------------------------


async def test_new_publisher_gets_its_key_once_and_it_works(engine: Harness) -> None:
    h = engine
    await _setup(h)
    created = await _put(h, "publishers/newpub", {"name": "newpub"})
    assert created.status_code == 200, created.text
    key = created.json()["api_key"]
    assert created.json()["api_key_sha256"] == hash_api_key(key)
    route = {"publisher": "newpub", "vertical": "auto", "tree": "main"}
    assert (await _put(h, "routes/newpub:auto", route)).status_code == 200

    fetched = (await _get(h, "publishers/newpub")).json()
    assert "api_key" not in fetched
    async with h.rt.sessions() as session:
        spec = await session.scalar(
            select(ConfigResource.spec).where(
                ConfigResource.kind == "publishers", ConfigResource.name == "newpub"
            )
        )
    assert spec is not None and "api_key" not in spec and key not in str(spec)

    lead = {"vertical": "auto", "fields": LEAD_FIELDS}
    sold = await h.client.post("/api/v1/leads", json=lead, headers={"X-API-Key": key})
    assert sold.status_code == 200, sold.text
    assert sold.json()["status"] == "sold"
    assert Decimal(sold.json()["payout"]) == Decimal("5.00")  # default: half of 10.00

    # changing the publisher later shows no key and keeps the one it has
    again = await _put(h, "publishers/newpub", {"name": "newpub", "active": True})
    assert again.status_code == 200 and "api_key" not in again.json()
    ok = await h.client.post("/api/v1/leads", json=lead, headers={"X-API-Key": key})
    assert ok.json()["status"] == "sold"
    wrong = await h.client.post("/api/v1/leads", json=lead, headers={"X-API-Key": key + "x"})
    assert wrong.status_code == 401


async def test_publisher_put_with_its_own_key_stores_only_the_hash(engine_sqlite: Harness) -> None:
    h = engine_sqlite
    await _setup(h)
    own = "publisher-chosen-key-123456"
    answer = await _put(h, "publishers/own", {"name": "own", "api_key": own})
    assert answer.status_code == 200
    assert "api_key" not in answer.json()
    assert answer.json()["api_key_sha256"] == hash_api_key(own)
    assert own not in (await _get(h, "config")).text


# --- the whole document --------------------------------------------------------------------


async def test_post_config_dry_run_then_apply(engine: Harness) -> None:
    h = engine
    await _setup(h)
    whole = (await _get(h, "config")).json()
    version = whole.pop("version")
    whole["campaigns"][0]["price"]["amount"] = "11.00"  # alpha
    whole["buyers"].append({"name": "delta"})
    whole["routes"] = []

    dry = await h.client.post(
        f"{BASE}/config", params={"dry_run": "true"}, json=whole, headers=ADMIN
    )
    assert dry.status_code == 200, dry.text
    assert dry.json() == {
        "dry_run": True,
        "create": ["buyers/delta"],
        "change": ["campaigns/alpha"],
        "remove": ["routes/pub:auto"],
        "new_api_keys": {},
        "changes": {"campaigns/alpha": ["campaigns/alpha.price.amount: 10.00 -> 11.00"]},
    }
    after_dry = (await _get(h, "config")).json()
    assert after_dry["version"] == version
    assert after_dry["campaigns"][0]["price"]["amount"] == "10.00"
    assert (await h.post_lead()).json()["status"] == "sold"  # still routed

    applied = await h.client.post(f"{BASE}/config", json=whole, headers=ADMIN)
    assert applied.status_code == 200, applied.text
    assert applied.json()["dry_run"] is False
    assert applied.json()["change"] == ["campaigns/alpha"]
    now = (await _get(h, "config")).json()
    assert now["version"] == version + 1
    assert now["campaigns"][0]["price"]["amount"] == "11.00"
    assert now["routes"] == []
    unrouted = await h.post_lead()
    assert unrouted.status_code == 422
    assert unrouted.json()["reasons"][0]["code"] == "not_routed"

    again = await h.client.post(f"{BASE}/config", json=whole, headers=ADMIN)
    assert again.json()["create"] == again.json()["change"] == again.json()["remove"] == []


async def test_post_config_with_a_bad_document_422(engine_sqlite: Harness) -> None:
    h = engine_sqlite
    await _setup(h)
    whole = (await _get(h, "config")).json()
    whole.pop("version")
    whole["campaigns"][1]["caps"] = {"daily": -1}
    whole["routes"][0]["tree"] = "nowhere"
    response = await h.client.post(f"{BASE}/config", json=whole, headers=ADMIN)
    assert ("campaigns[1].caps.daily", "must be >= 0") in _issues(response)
    whole["campaigns"][1]["caps"] = {}
    response = await h.client.post(f"{BASE}/config", json=whole, headers=ADMIN)
    assert _issues(response) == [("routes[0].tree", "unknown tree 'nowhere'")]
    assert (await _get(h, "config")).json()["version"] == 1


# --- changes take effect on the next lead ---------------------------------------------------


async def test_a_change_takes_effect_on_the_next_lead(engine: Harness) -> None:
    h = engine
    await _setup(h)
    first = await h.post_lead()
    assert first.json()["status"] == "sold"
    assert Decimal(first.json()["payout"]) == Decimal("5.00")  # alpha at 10.00, 50%

    raised = campaign("alpha", h.sim, price="30.00")
    assert (await _put(h, "campaigns/alpha", raised)).status_code == 200
    second = await h.post_lead()
    assert Decimal(second.json()["payout"]) == Decimal("15.00")

    paused = {**raised, "active": False}
    assert (await _put(h, "campaigns/alpha", paused)).status_code == 200
    third = await h.post_lead()
    assert Decimal(third.json()["payout"]) == Decimal("2.00")  # beta at 4.00

    payout = {"name": "pub", "payout": {"type": "fixed", "amount": "1.50"}, "api_key": API_KEY}
    assert (await _put(h, "publishers/pub", payout)).status_code == 200
    fourth = await h.post_lead()
    assert Decimal(fourth.json()["payout"]) == Decimal("1.50")

    assert (await _delete(h, "routes/pub:auto")).status_code == 204
    fifth = await h.post_lead()
    assert fifth.status_code == 422
    assert fifth.json()["reasons"][0]["code"] == "not_routed"
    assert len(h.sim.received("alpha")) == 2  # never offered a lead while paused


# --- OpenAPI -------------------------------------------------------------------------------


async def test_docs_and_openapi_list_the_admin_paths(engine_sqlite: Harness) -> None:
    h = engine_sqlite
    docs = await h.client.get("/docs")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()
    spec = await h.client.get("/openapi.json")
    assert spec.status_code == 200
    paths = spec.json()["paths"]
    assert {"get", "post"} <= set(paths["/api/v1/admin/config"])
    assert {"get"} <= set(paths["/api/v1/admin/{kind}"])
    assert {"get", "put", "delete"} <= set(paths["/api/v1/admin/{kind}/{name}"])
    assert "/api/v1/leads" in paths


async def test_concurrent_writes_never_leave_a_dangling_reference(engine: Harness) -> None:
    # One writer adds campaigns for a new buyer while another deletes that buyer: each
    # change is checked against the whole configuration, one writer at a time.
    h = engine
    await _setup(h)
    assert (await _put(h, "buyers/fresh", {"name": "fresh"})).status_code == 200
    specs = [campaign(f"fresh-{i}", h.sim, buyer="fresh", sim_buyer="alpha") for i in range(4)]
    answers = await asyncio.gather(
        *(_put(h, f"campaigns/{spec['name']}", spec) for spec in specs),
        _delete(h, "buyers/fresh"),
    )
    assert {a.status_code for a in answers} <= {200, 204, 422}
    buyers = {b["name"] for b in (await _get(h, "buyers")).json()}
    campaigns = (await _get(h, "campaigns")).json()
    assert all(c["buyer"] in buyers for c in campaigns)
