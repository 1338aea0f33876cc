"""Intake: clear 4xx answers, idempotency, the lead stored before routing, the timeline."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from pingtree.storage.tables import Lead, Sale
from tests.engine.conftest import Harness, sim_buyer
from tests.factories import API_KEY, LEAD_FIELDS, campaign, document, tier


async def _setup(h: Harness, **campaign_extra: object) -> None:
    h.buyers(sim_buyer("buyer", latency_ms_min=20, latency_ms_max=40))
    await h.configure(
        document([campaign("buyer", h.sim, **campaign_extra)], [tier("t", "priority", ["buyer"])])
    )


async def test_every_bad_field_is_named_in_one_422(engine_sqlite: Harness) -> None:
    await _setup(engine_sqlite)
    fields = {
        **LEAD_FIELDS,
        "email": "not-an-email",
        "zip": "ABCDE",
        "age": 12,
        "credit": "superb",
        "favourite_colour": "blue",
    }
    del fields["phone"]
    response = await engine_sqlite.post_lead(fields)
    assert response.status_code == 422
    body = response.json()
    assert body["status"] == "rejected"
    named = {r["field"]: r["message"] for r in body["reasons"]}
    assert set(named) == {"email", "zip", "age", "credit", "favourite_colour", "phone"}
    assert "is required" in named["phone"] and ">= 18" in named["age"]
    assert "one of: excellent, good, fair, poor" in named["credit"]
    assert engine_sqlite.sim.received("buyer") == []


async def test_malformed_body_and_auth_get_clear_4xx(engine_sqlite: Harness) -> None:
    h = engine_sqlite
    await _setup(h)
    raw = await h.client.post("/api/v1/leads", content=b"{not json", headers={"X-API-Key": API_KEY})
    assert raw.status_code == 422 and raw.json()["reasons"]
    missing = await h.client.post("/api/v1/leads", json={"vertical": "auto", "fields": {}})
    assert missing.status_code == 401 and missing.json()["reasons"][0]["code"] == "missing_api_key"
    wrong = await h.client.post(
        "/api/v1/leads", json={"vertical": "auto", "fields": {}}, headers={"X-API-Key": "nope"}
    )
    assert wrong.status_code == 401
    unknown = await h.post_lead(vertical="boats")
    assert unknown.status_code == 422 and unknown.json()["reasons"][0]["code"] == "unknown_vertical"
    no_fields = await h.client.post(
        "/api/v1/leads", json={"vertical": "auto"}, headers={"X-API-Key": API_KEY}
    )
    assert no_fields.status_code == 422
    assert no_fields.json()["reasons"][0]["field"] == "fields"


async def test_ten_copies_with_one_idempotency_key_sell_once(engine: Harness) -> None:
    await _setup(engine)
    answers = await asyncio.gather(
        *(engine.post_lead(headers={"Idempotency-Key": "order-42"}) for _ in range(10))
    )
    assert {a.status_code for a in answers} == {200}
    bodies = [a.json() for a in answers]
    assert len({b["lead_id"] for b in bodies}) == 1
    assert {b["status"] for b in bodies} == {"sold"}
    assert len(engine.sim.received("buyer")) == 1
    async with engine.rt.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Lead)) == 1
        assert await session.scalar(select(func.count()).select_from(Sale)) == 1
    # Later repeats get the same answer; the same key with another lead is refused.
    again = await engine.post_lead(headers={"Idempotency-Key": "order-42"})
    assert again.json() == bodies[0]
    other = await engine.post_lead(
        {**LEAD_FIELDS, "zip": "10002"}, headers={"Idempotency-Key": "order-42"}
    )
    assert (
        other.status_code == 422 and other.json()["reasons"][0]["code"] == "idempotency_key_reused"
    )


async def test_timeline_says_why_each_campaign_was_skipped(engine_on_wednesday: Harness) -> None:
    h = engine_on_wednesday  # "nights" takes leads only on Mondays: closed, whatever today is
    h.buyers(sim_buyer("ca_only"), sim_buyer("nights"), sim_buyer("full"), sim_buyer("taker"))
    await h.configure(
        document(
            [
                campaign(
                    "ca_only",
                    h.sim,
                    filters=[{"field": "state", "op": "in", "values": ["CA"]}],
                ),
                campaign(
                    "nights",
                    h.sim,
                    schedule={
                        "timezone": "Pacific/Kiritimati",
                        "windows": [{"days": ["mon"], "start": "03:00", "end": "03:01"}],
                    },
                ),
                campaign("full", h.sim, caps={"daily": 1}),
                campaign("taker", h.sim),
            ],
            [tier("t", "priority", ["ca_only", "nights", "full", "taker"])],
        )
    )
    first = (await h.post_lead()).json()
    assert first["status"] == "sold"
    story = await h.timeline((await h.post_lead()).json()["lead_id"])
    skipped = {s["campaign"]: (s["reason"], s["detail"]) for s in story["skipped"]}
    assert skipped["ca_only"] == ("filter", "state in [CA]")
    assert skipped["nights"][0] == "schedule" and "Pacific/Kiritimati" in skipped["nights"][1]
    assert skipped["full"] == ("cap", "daily cap 1 reached")
    assert [s["campaign"] for s in story["sales"]] == ["taker"]
    assert story["fields"]["ssn"] == "123-45-6789"  # the lead is stored whole


async def test_unsold_lead_is_kept_and_answered(engine_sqlite: Harness) -> None:
    h = engine_sqlite
    await _setup(h)
    h.sim.buyer("buyer").accept_rate = 0.0
    answer = (await h.post_lead()).json()
    assert answer["status"] == "unsold" and answer["payout"] == "0.00"
    assert answer["reasons"][0]["code"] == "no_buyer_accepted"
    story = await h.timeline(answer["lead_id"])
    assert story["status"] == "unsold" and len(story["attempts"]) == 1


async def test_a_publisher_reads_only_its_own_leads(engine_sqlite: Harness) -> None:
    h = engine_sqlite
    await _setup(h)
    answer = (await h.post_lead()).json()
    other = await h.client.get(
        f"/api/v1/leads/{answer['lead_id']}", headers={"X-API-Key": "someone-else"}
    )
    assert other.status_code == 401
    missing = await h.client.get("/api/v1/leads/nope", headers={"X-API-Key": API_KEY})
    assert missing.status_code == 404
