"""A publisher reads only its own lead's outcome: never buyers, bids, prices or revenue."""

from __future__ import annotations

import json
from typing import Any

from tests.engine.conftest import Harness, sim_buyer
from tests.factories import API_KEY, campaign
from tests.screening_flow.flow import OTHER_KEY, build, person, tree

PUBLISHER_LEAD_KEYS = {
    "lead_id",
    "status",
    "test",
    "payout",
    "redirect_url",
    "reasons",
    "screening_findings",
    "received_at",
    "answered_at",
}
REASON_KEYS = {"code", "message", "field"}


def keys(value: Any, prefix: str = "") -> set[str]:
    """Every key of a JSON value, recursively, as dotted paths ([] for list items)."""
    found: set[str] = set()
    if isinstance(value, dict):
        for k, v in value.items():
            found.add(prefix + k)
            found |= keys(v, f"{prefix}{k}.")
    elif isinstance(value, list):
        for item in value:
            found |= keys(item, f"{prefix[:-1]}[].")
    return found


async def _setup(h: Harness) -> None:
    h.buyers(
        sim_buyer("alpha", redirect_url="https://offers.example/thanks"),
        sim_buyer("beta", accept_rate=0.0),
    )
    policy = {"checks": [{"check": "role_email", "penalty": 15}], "dedup": {"enabled": False}}
    await h.configure(
        build(
            [
                campaign("beta", h.sim, price="30.00"),
                campaign("alpha", h.sim, price="21.37"),
            ],
            [tree("main", ["beta", "alpha"])],
            screening=policy,
        )
    )


async def _as(h: Harness, lead_id: str, key: str = API_KEY) -> Any:
    return await h.client.get(f"/api/v1/leads/{lead_id}", headers={"X-API-Key": key})


async def test_a_sold_lead_shows_the_publisher_only_its_story(engine: Harness) -> None:
    h = engine
    await _setup(h)
    # info@ is a role address: a finding that only lowers the score; the lead still sells.
    answer = (await h.post_lead(person(1, email="info@example.com"))).json()
    assert answer["status"] == "sold", answer

    response = await _as(h, answer["lead_id"])
    assert response.status_code == 200, response.text
    view = response.json()
    assert keys(view) == PUBLISHER_LEAD_KEYS
    assert view["status"] == "sold" and view["payout"] == answer["payout"] == "10.69"  # 50%
    assert view["redirect_url"] == "https://offers.example/thanks"
    assert view["screening_findings"] == ["role_email"]
    assert view["reasons"] == [] and view["test"] is False
    assert view["received_at"] and view["answered_at"]

    text = json.dumps({k: v for k, v in view.items() if not k.endswith("_at")})  # times aside
    story = await h.timeline(answer["lead_id"])  # the operator's view has all of it
    assert story["revenue"] == "21.37" and len(story["attempts"]) == 2
    for secret in ("alpha", "beta", "21.37", "30.00", "main", str(h.sim.base_url), "127.0.0.1"):
        assert secret not in text, secret


async def test_an_unsold_lead_shows_reasons_with_codes(engine_sqlite: Harness) -> None:
    h = engine_sqlite
    await _setup(h)
    h.sim.buyer("alpha").accept_rate = 0.0
    answer = (await h.post_lead(person(2))).json()
    view = (await _as(h, answer["lead_id"])).json()
    assert keys(view) == PUBLISHER_LEAD_KEYS | {f"reasons[].{k}" for k in REASON_KEYS}
    assert [r["code"] for r in view["reasons"]] == ["no_buyer_accepted"]
    assert view["payout"] == "0.00" and view["screening_findings"] == []


async def test_another_publishers_lead_is_not_found(engine_sqlite: Harness) -> None:
    h = engine_sqlite
    await _setup(h)
    answer = (await h.post_lead(person(3))).json()
    other = await _as(h, answer["lead_id"], OTHER_KEY)
    assert other.status_code == 404
    assert other.json()["reasons"][0]["code"] == "not_found"
    assert (await _as(h, answer["lead_id"])).status_code == 200
