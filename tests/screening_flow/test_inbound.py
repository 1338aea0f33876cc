"""Inbound ping-post: the full lead is screened at the post; a rejected one is never posted."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tests.engine.conftest import Harness, sim_buyer
from tests.factories import API_KEY, campaign, tier
from tests.screening_flow.flow import LEAD, build, codes

NON_PII = {k: LEAD[k] for k in ("zip", "state", "credit_score", "infractions")}
HEADERS = {"X-API-Key": API_KEY}


async def _setup(h: Harness) -> None:
    h.buyers(
        sim_buyer("top", bid_min=Decimal("40.00"), bid_max=Decimal("40.00")),
        sim_buyer("next", bid_min=Decimal("25.00"), bid_max=Decimal("25.00")),
    )
    await h.configure(
        build(
            [
                campaign("top", h.sim, bid=True, caps={"daily": 1}),
                campaign("next", h.sim, bid=True),
            ],
            [
                {
                    "name": "main",
                    "vertical": "auto",
                    "tiers": [tier("a", "ping_post", ["top", "next"])],
                }
            ],
            screening={"checks": [{"check": "disposable_email"}]},
        )
    )


async def _ping(h: Harness) -> dict[str, Any]:
    response = await h.client.post(
        "/api/v1/pings", json={"vertical": "auto", "fields": NON_PII}, headers=HEADERS
    )
    data: dict[str, Any] = response.json()
    return data


async def test_a_post_failing_screening_is_rejected_and_frees_the_bid(engine: Harness) -> None:
    h = engine
    await _setup(h)
    ping = await _ping(h)
    assert ping["status"] == "bid" and ping["payout"] == "20.00"

    response = await h.client.post(
        "/api/v1/posts",
        json={"ping_id": ping["ping_id"], "fields": {**LEAD, "email": "ada@mailinator.com"}},
        headers=HEADERS,
    )
    assert response.status_code == 200
    answer = response.json()
    assert answer["status"] == "rejected" and codes(answer) == ["disposable_email"]
    # Buyers saw the non-PII ping only; the full lead was never posted to anyone.
    kinds = [r.kind for b in ("top", "next") for r in h.sim.received(b)]
    assert kinds and set(kinds) == {"ping"}
    # The rejected lead's timeline still shows the pings made for it.
    story = await h.timeline(ping["ping_id"])
    assert sorted((a["campaign"], a["kind"]) for a in story["attempts"]) == [
        ("next", "ping"),
        ("top", "ping"),
    ]

    # top's single daily slot, held for the ping, is free again for the next one.
    assert (await _ping(h))["payout"] == "20.00"


async def test_a_person_bought_through_ping_post_counts_for_the_buyers_window(
    engine: Harness,
) -> None:
    h = engine
    h.buyers(
        sim_buyer("top", bid_min=Decimal("40.00"), bid_max=Decimal("40.00")),
        sim_buyer("next", bid_min=Decimal("25.00"), bid_max=Decimal("25.00")),
    )
    await h.configure(
        build(
            [campaign("top", h.sim, bid=True), campaign("next", h.sim, bid=True)],
            [
                {
                    "name": "main",
                    "vertical": "auto",
                    "tiers": [tier("a", "ping_post", ["top", "next"])],
                }
            ],
            dedup_days={"top": 30},
        )
    )
    sales = []
    for _ in range(2):
        ping = await _ping(h)
        response = await h.client.post(
            "/api/v1/posts", json={"ping_id": ping["ping_id"], "fields": LEAD}, headers=HEADERS
        )
        assert response.json()["status"] == "sold"
        sales += (await h.timeline(ping["ping_id"]))["sales"]
    # top bought the person with the first post; the second goes to next.
    assert [s["buyer"] for s in sales] == ["top", "next"]
    assert [r.kind for r in h.sim.received("top")].count("post") == 1
