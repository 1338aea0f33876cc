"""Consent from intake to the buyer: refused when missing or too old (one 422 with the field
errors), stored unchangeable, enforced one-to-one in routing, handed over with each post
through a signed, expiring link that the public endpoint checks."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from pingtree.clock import ManualClock
from pingtree.config.document import ConfigDocument
from tests.consent.certificates import certificate
from tests.engine.conftest import WEDNESDAY_NOON, Harness, sim_buyer
from tests.factories import API_KEY, LEAD_FIELDS, VERTICAL, campaign, document, tier

HEADERS = {"X-API-Key": API_KEY}
CONSENT_NAMES = {"apex": ["Apex Insurance"], "bluecrest": ["Bluecrest Mutual"], "cascade": []}


def _document(
    h: Harness,
    *,
    policy: dict[str, Any] | None = None,
    publisher_policy: dict[str, Any] | None = None,
    template: str | None = None,
    flow: str = "priority",
) -> ConfigDocument:
    """cascade (rank 1), apex (rank 2), bluecrest (rank 3); consent required, a day at most."""
    policy = policy if policy is not None else {"required": True, "max_age": 86_400}
    bid = flow == "ping_post"
    campaigns = [
        campaign("cascade", h.sim, bid=bid),
        campaign("apex", h.sim, bid=bid),
        campaign("bluecrest", h.sim, bid=bid),
    ]
    if template is not None:
        campaigns[1]["delivery"]["post"]["template"] = template
    entries: list[str | dict[str, Any]] = [
        {"campaign": name, "rank": rank}
        for rank, name in enumerate(("cascade", "apex", "bluecrest"), start=1)
    ]
    doc = document(campaigns, [tier("t1", flow, entries)], vertical={**VERTICAL, "consent": policy})
    data = doc.model_dump(mode="json", exclude_none=True)
    for buyer in data["buyers"]:
        buyer["consent_names"] = CONSENT_NAMES[buyer["name"]]
    if publisher_policy is not None:
        data["publishers"][0]["consent"] = publisher_policy
    return ConfigDocument.model_validate(data)


async def _setup(h: Harness, **options: Any) -> None:
    h.buyers(
        sim_buyer("cascade", bid_min=Decimal("30.00"), bid_max=Decimal("30.00")),
        sim_buyer("apex", bid_min=Decimal("20.00"), bid_max=Decimal("20.00")),
        sim_buyer("bluecrest", bid_min=Decimal("10.00"), bid_max=Decimal("10.00")),
    )
    await h.configure(_document(h, **options))


def _reasons(response: httpx.Response) -> list[tuple[str, str | None]]:
    return [(r["code"], r.get("field")) for r in response.json()["reasons"]]


async def test_a_missing_certificate_is_named_with_the_other_bad_fields(
    engine_sqlite: Harness,
) -> None:
    await _setup(engine_sqlite)
    response = await engine_sqlite.post_lead({**LEAD_FIELDS, "zip": "ABCDE"})
    assert response.status_code == 422
    assert _reasons(response) == [("invalid_field", "zip"), ("missing_consent", "consent")]
    bad = certificate(engine_sqlite.rt.clock.now(), ip="not-an-ip", user_agent=None)
    response = await engine_sqlite.post_lead({**LEAD_FIELDS, "age": 12}, consent=bad)
    assert response.status_code == 422
    assert sorted(_reasons(response)) == [
        ("invalid_consent", "consent.ip"),
        ("invalid_consent", "consent.user_agent"),
        ("invalid_field", "age"),
    ]


async def test_a_certificate_older_than_max_age_is_refused(engine_on_wednesday: Harness) -> None:
    h = engine_on_wednesday
    await _setup(h)
    old = certificate(WEDNESDAY_NOON - timedelta(days=1, seconds=1))
    response = await h.post_lead(consent=old)
    assert response.status_code == 422
    assert _reasons(response) == [("consent_too_old", "consent.consented_at")]
    fresh = certificate(WEDNESDAY_NOON - timedelta(hours=23))
    assert (await h.post_lead(consent=fresh)).json()["status"] == "sold"


async def test_no_sellers_named_follows_the_policy(engine_sqlite: Harness) -> None:
    h = engine_sqlite
    unnamed = certificate(h.rt.clock.now(), sellers=[])
    await _setup(h, policy={"required": True, "unnamed_sellers": "refuse"})
    response = await h.post_lead(consent=unnamed)
    assert response.status_code == 422
    assert _reasons(response) == [("consent_names_no_seller", "consent.sellers")]
    await _setup(h, policy={"required": True, "unnamed_sellers": "allow"})
    sold = await h.post_lead(consent=unnamed)
    assert sold.json()["status"] == "sold"
    assert [s["campaign"] for s in (await h.timeline(sold.json()["lead_id"]))["sales"]] == [
        "cascade"
    ]


async def test_the_publishers_policy_lays_over_the_verticals(engine_sqlite: Harness) -> None:
    h = engine_sqlite
    await _setup(h, policy={}, publisher_policy={"required": True})
    response = await h.post_lead()
    assert _reasons(response) == [("missing_consent", "consent")]
    await _setup(h, policy={"required": True}, publisher_policy={"required": False})
    assert (await h.post_lead()).json()["status"] == "sold"


async def test_one_to_one_consent_offers_the_lead_only_to_the_named_sellers(
    engine: Harness,
) -> None:
    await _setup(engine)
    given = certificate(engine.rt.clock.now(), sellers=["APEX insurance", "Someone Else Ltd"])
    answer = (await engine.post_lead(consent=given)).json()
    assert answer["status"] == "sold"
    story = await engine.timeline(answer["lead_id"])
    assert [s["campaign"] for s in story["sales"]] == ["apex"]
    assert {(s["campaign"], s["reason"]) for s in story["skipped"]} == {
        ("cascade", "consent"),
        ("bluecrest", "consent"),
    }
    assert [r.kind for r in engine.sim.received("cascade")] == []
    consent = story["consent"]
    assert consent["sellers"] == ["APEX insurance", "Someone Else Ltd"]
    assert consent["sha256"] == hashlib.sha256(consent["certificate_text"].encode()).hexdigest()
    assert consent["certificate"]["ip"] == "203.0.113.7"
    kinds = [e["kind"] for e in story["audit"]]
    assert kinds[:3] == ["lead_received", "consent_captured", "lead_screened"]
    answered = next(e for e in story["audit"] if e["kind"] == "lead_routed")
    assert sorted(answered["details"]["consent_skipped"]) == ["bluecrest", "cascade"]

    # Stored unchangeable: the database refuses to edit or delete the certificate.
    for statement in (
        "UPDATE consent_certificates SET sellers = '[]'",
        "DELETE FROM consent_certificates",
    ):
        with pytest.raises(DBAPIError, match="cannot be changed or deleted"):
            async with engine.rt.engine.begin() as conn:
                await conn.execute(text(statement))


async def test_sellers_no_buyer_goes_by_leave_the_lead_unsold(engine_sqlite: Harness) -> None:
    await _setup(engine_sqlite)
    given = certificate(engine_sqlite.rt.clock.now(), sellers=["Nobody We Know"])
    answer = (await engine_sqlite.post_lead(consent=given)).json()
    assert answer["status"] == "unsold"
    assert [r["code"] for r in answer["reasons"]] == ["no_eligible_buyer"]


async def test_each_post_hands_over_a_link_the_buyer_can_check(engine_clocked: Harness) -> None:
    h = engine_clocked
    clock = h.rt.clock
    assert isinstance(clock, ManualClock)
    template = (
        '{"lead": {{ lead.email | tojson }}, "consent": {"id": {{ consent.id | tojson }}, '
        '"sha256": {{ consent.sha256 | tojson }}, "url": {{ consent.url | tojson }}}}'
    )
    await _setup(h, template=template)
    lead_one = await h.post_lead(consent=certificate(clock.now(), sellers=["Bluecrest Mutual"]))
    lead_two = await h.post_lead(consent=certificate(clock.now(), sellers=["Apex Insurance"]))
    assert lead_one.json()["status"] == lead_two.json()["status"] == "sold", (
        lead_one.text,
        lead_two.text,
    )

    # The default body carries the reference beside the fields; a template reads `consent`.
    [plain] = [r.body for r in h.sim.received("bluecrest") if r.kind == "post"]
    [templated] = [r.body["consent"] for r in h.sim.received("apex") if r.kind == "post"]
    story = await h.timeline(lead_one.json()["lead_id"])
    assert plain["consent_id"] == story["consent"]["id"]
    assert plain["consent_sha256"] == story["consent"]["sha256"]
    assert plain["consent_expires_at"] == (clock.now() + timedelta(days=30)).isoformat()
    assert set(templated) == {"id", "sha256", "url"}

    for handed in (plain, {f"consent_{k}": v for k, v in templated.items()}):
        link = urlsplit(handed["consent_url"])
        assert link.netloc == "127.0.0.1:8000"  # public_url unset: http://host:port
        fetched = await h.client.get(f"{link.path}?{link.query}")
        assert fetched.status_code == 200, fetched.text
        assert fetched.headers["content-type"] == "application/json"
        assert hashlib.sha256(fetched.content).hexdigest() == handed["consent_sha256"]
        assert fetched.headers["x-consent-sha256"] == handed["consent_sha256"]

    link = urlsplit(plain["consent_url"])
    forged = link.query.replace("signature=", "signature=0")[:-1]
    refused = await h.client.get(f"{link.path}?{forged}")
    assert refused.status_code == 403 and _reasons(refused) == [("invalid_link", None)]
    other = await h.client.get(f"{link.path[:-4]}abcd?{link.query}")
    assert other.status_code == 403
    clock.set(clock.now() + timedelta(days=30))
    expired = await h.client.get(f"{link.path}?{link.query}")
    assert expired.status_code == 410 and _reasons(expired) == [("link_expired", None)]


async def test_inbound_post_carries_consent_to_the_named_seller_only(engine: Harness) -> None:
    await _setup(engine, flow="ping_post")
    non_pii = {k: v for k, v in LEAD_FIELDS.items() if k in ("zip", "state", "age", "credit")}
    ping = await engine.client.post(
        "/api/v1/pings", json={"vertical": "auto", "fields": non_pii}, headers=HEADERS
    )
    assert ping.json()["payout"] == "15.00"  # cascade's 30.00 bid leads
    missing = await engine.client.post(
        "/api/v1/posts",
        json={"ping_id": ping.json()["ping_id"], "fields": LEAD_FIELDS},
        headers=HEADERS,
    )
    assert _reasons(missing) == [("missing_consent", "consent")]
    given = certificate(engine.rt.clock.now(), sellers=["Apex Insurance"])
    answer = await engine.client.post(
        "/api/v1/posts",
        json={"ping_id": ping.json()["ping_id"], "fields": LEAD_FIELDS, "consent": given},
        headers=HEADERS,
    )
    assert answer.json()["status"] == "sold", answer.text
    story = await engine.timeline(answer.json()["lead_id"])
    assert [s["campaign"] for s in story["sales"]] == ["apex"]
    assert ("cascade", "consent") in {(s["campaign"], s["reason"]) for s in story["skipped"]}
    assert [r.kind for r in engine.sim.received("cascade")] == ["ping"]
    [post] = [r.body for r in engine.sim.received("apex") if r.kind == "post"]
    assert post["consent_id"] == story["consent"]["id"]


async def test_the_buyers_example_fetches_and_checks_the_certificate(
    engine_sqlite: Harness,
) -> None:
    """examples/verify_consent.py against pingtree served over real HTTP."""
    import asyncio
    import importlib.util
    import socket
    from pathlib import Path

    import uvicorn

    h = engine_sqlite
    await _setup(h)
    answer = await h.post_lead(consent=certificate(h.rt.clock.now(), sellers=["Bluecrest Mutual"]))
    assert answer.json()["status"] == "sold"
    [post] = [r.body for r in h.sim.received("bluecrest") if r.kind == "post"]

    spec = importlib.util.spec_from_file_location(
        "verify_consent", Path(__file__).resolve().parents[2] / "examples" / "verify_consent.py"
    )
    assert spec is not None and spec.loader is not None
    example: Any = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(h.app, host="127.0.0.1", port=port, lifespan="off", log_level="warning")
    )
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:
            await asyncio.sleep(0.01)
        url = post["consent_url"].replace("127.0.0.1:8000", f"127.0.0.1:{port}")
        found = await asyncio.to_thread(example.fetch_consent, url, post["consent_sha256"])
        assert found["sellers"] == ["Bluecrest Mutual"] and found["id"] == post["consent_id"]
        assert example.names_us(found, ["BLUECREST  mutual"])
        assert not example.names_us(found, ["Apex Insurance"])
        with pytest.raises(ValueError, match="does not match"):
            await asyncio.to_thread(example.fetch_consent, url, "0" * 64)
    finally:
        server.should_exit = True
        await serving
