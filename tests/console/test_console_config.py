"""The configuration page: trees with tiers, flows and campaigns, read-only, no secrets."""

from __future__ import annotations

from typing import Any

import httpx

from tests.console.conftest import BEARER

RULES = {"rules": [{"source": "status", "equals": "200", "outcome": "accepted"}]}


def campaign(name: str, buyer: str, **over: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": name,
        "buyer": buyer,
        "vertical": "auto",
        "price": {"type": "fixed", "amount": "12.50"},
        "delivery": {"post": {"url": f"https://{buyer}.test/post", "response": RULES}},
    }
    spec.update(over)
    return spec


DOCUMENT: dict[str, Any] = {
    "verticals": [
        {
            "name": "auto",
            "fields": [
                {"name": "email", "type": "email", "required": True, "pii": True},
                {"name": "state", "type": "state"},
            ],
        }
    ],
    "publishers": [{"name": "pub-a", "payout": {"type": "revenue_share", "percent": 70}}],
    "buyers": [{"name": "apex"}, {"name": "cascade"}],
    "campaigns": [
        campaign(
            "apex-auction",
            "apex",
            price={"type": "bid", "floor": "5.00"},
            filters=[{"field": "state", "op": "in", "values": ["CA", "NV"]}],
            caps={"daily": 100, "budget": {"daily": "1000.00"}},
            delivery={
                "auth": {"type": "bearer", "token": "apex-very-secret"},
                "ping": {"url": "https://apex.test/ping", "response": RULES},
                "post": {"url": "https://apex.test/post", "response": RULES},
            },
        ),
        campaign("cascade-direct", "cascade"),
    ],
    "trees": [
        {
            "name": "auto-main",
            "vertical": "auto",
            "tiers": [
                {
                    "name": "auction",
                    "flow": "ping_post",
                    "campaigns": [{"campaign": "apex-auction"}],
                },
                {
                    "name": "direct",
                    "flow": "weight",
                    "campaigns": [{"campaign": "cascade-direct", "weight": 80}],
                },
            ],
        }
    ],
    "routes": [{"publisher": "pub-a", "vertical": "auto", "tree": "auto-main"}],
}


async def test_config_in_force_is_shown(client: httpx.AsyncClient) -> None:
    applied = await client.post("/api/v1/admin/config", json=DOCUMENT, headers=BEARER)
    assert applied.status_code == 200, applied.text
    r = await client.get("/console/config", headers=BEARER)
    assert r.status_code == 200
    html = r.text
    assert 'id="tree-auto-main"' in html
    assert "Tier 1: auction" in html and '<span class="badge">ping_post</span>' in html
    assert "Tier 2: direct" in html and '<span class="badge">weight</span>' in html
    assert "<td>cascade-direct</td><td>cascade</td>" in html
    assert '<td class="num">80</td>' in html  # the weight
    assert "state in [CA, NV]" in html
    assert "daily: 100 leads / 1,000.00" in html
    assert "bid, floor 5.00" in html and "fixed 12.50" in html
    assert "70% of revenue" in html
    spec = '<a href="/console/publishers/pub-a/spec?vertical=auto">posting spec</a>'
    assert f"<td>pub-a {spec}</td><td>auto</td><td>any other lead</td><td>auto-main</td>" in html
    assert "bearer auth" in html
    assert "apex-very-secret" not in html
    assert "<form" not in html.split('<main id="main">')[1]  # an overview: editors are linked


async def test_empty_config(client: httpx.AsyncClient) -> None:
    html = (await client.get("/console/config", headers=BEARER)).text
    assert "version 0" in html and "No trees." in html and "No campaigns." in html
