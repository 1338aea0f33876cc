"""The lead page: fields, screening, skipped campaigns, every ping and post, the sales."""

from __future__ import annotations

import json
from decimal import Decimal

import httpx

from tests.console.conftest import BEARER, Rows


async def seed_lead(rows: Rows) -> None:
    lead = rows.lead(
        "L1",
        "sold",
        revenue=Decimal("25.00"),
        payout=Decimal("17.50"),
        tree="auto-main",
        risk_score=87,
        screening={"verdict": "accept", "findings": [{"code": "role_email", "penalty": 13}]},
        skips=[
            {"campaign": "capped", "reason": "cap_reached", "detail": "daily cap 10", "tier": "t1"}
        ],
        fields={"first_name": "Ada", "email": "ada@example.com", "note": "<script>x()</script>"},
    )
    await rows.add(lead)
    await rows.add(
        rows.attempt(
            "L1",
            "auction",
            "accepted",
            kind="ping",
            price=Decimal("25.00"),
            reference="bid-77",
            request={
                "method": "POST",
                "url": "https://auction.test/ping",
                "headers": {"Content-Type": "application/json", "Authorization": "***"},
                "body": json.dumps({"zip": "90210"}),
            },
            response={"status": 200, "body": json.dumps({"status": "bid", "price": "25.00"})},
        ),
        rows.attempt("L1", "picky", "rejected", reason="too old", duration_ms=45.2),
        rows.attempt(
            "L1",
            "auction",
            "accepted",
            price=Decimal("25.00"),
            request={
                "method": "POST",
                "url": "https://auction.test/post",
                "headers": {"authorization": "Bearer sekret-token"},  # as if stored unmasked
                "body": "first_name=Ada",
            },
            response={"status": 201, "body": "<ok/>"},
        ),
        rows.sale("L1", "auction", "25.00", "17.50"),
    )


async def test_timeline_shows_everything(client: httpx.AsyncClient, rows: Rows) -> None:
    await seed_lead(rows)
    r = await client.get("/console/leads/L1", headers=BEARER)
    assert r.status_code == 200
    html = r.text
    assert "ada@example.com" in html and "Ada" in html  # PII is for operators
    assert '<dd id="risk-score">87</dd>' in html
    assert "role_email" in html  # screening findings
    assert "capped" in html and "cap_reached" in html and "daily cap 10" in html
    assert html.count('<div class="event attempt">') == 3
    assert "too old" in html and "45 ms" in html
    assert "bid-77" in html
    assert "POST https://auction.test/ping" in html
    assert "&#34;zip&#34;: &#34;90210&#34;" in html  # JSON body, pretty printed and escaped
    assert "<summary>Response (201)</summary>" in html and "&lt;ok/&gt;" in html
    assert '<dd id="lead-revenue">25.00</dd>' in html
    assert '<table id="sales">' in html and "ref-L1" in html and "17.50" in html


async def test_authorization_is_masked(client: httpx.AsyncClient, rows: Rows) -> None:
    await seed_lead(rows)
    html = (await client.get("/console/leads/L1", headers=BEARER)).text
    assert "sekret" not in html
    assert "authorization: ***" in html and "Authorization: ***" in html


async def test_field_values_are_escaped(client: httpx.AsyncClient, rows: Rows) -> None:
    await seed_lead(rows)
    html = (await client.get("/console/leads/L1", headers=BEARER)).text
    assert "<script>x()</script>" not in html
    assert "&lt;script&gt;x()&lt;/script&gt;" in html


async def test_unsold_lead_without_attempts(client: httpx.AsyncClient, rows: Rows) -> None:
    await rows.add(
        rows.lead("L9", "rejected", reasons=[{"code": "invalid_email", "message": "bad"}])
    )
    html = (await client.get("/console/leads/L9", headers=BEARER)).text
    assert "invalid_email" in html
    assert "No buyer was pinged or posted." in html and "Not sold." in html


async def test_unknown_lead_is_404(client: httpx.AsyncClient) -> None:
    r = await client.get("/console/leads/nope", headers=BEARER)
    assert r.status_code == 404
    assert "There is no lead" in r.text


async def test_price_mismatch_and_unfollowed_redirect_are_shown(
    client: httpx.AsyncClient, rows: Rows
) -> None:
    await rows.add(rows.lead("L7", "sold"))
    await rows.add(
        rows.attempt(
            "L7",
            "mover",
            "error",
            reason="redirect: HTTP 307 to https://elsewhere.test/p",
            response={"status": 307, "body": "", "location": "https://elsewhere.test/p"},
        ),
        rows.attempt(
            "L7",
            "b",
            "accepted",
            price=Decimal("5.00"),
            bid_price=Decimal("30.00"),
            answer_price=Decimal("5.00"),
            price_mismatch=True,
        ),
    )
    html = (await client.get("/console/leads/L7", headers=BEARER)).text
    assert "Price mismatch: bid 30.00, answer stated 5.00" in html
    assert "Redirected to (not followed): <code>https://elsewhere.test/p</code>" in html


async def test_consent_and_audit_trail_are_shown(client: httpx.AsyncClient, rows: Rows) -> None:
    from datetime import UTC, datetime

    from pingtree import audit
    from pingtree.consent import repository as consent_repository
    from pingtree.consent.model import Certificate, ConsentIn
    from tests.consent.certificates import certificate

    at = datetime(2026, 11, 25, 11, 0, tzinfo=UTC)
    await rows.add(rows.lead("L5", "sold"))
    given = ConsentIn.model_validate(certificate(at, sellers=["Apex <Insurance>"]))
    stored = Certificate.of(given, id="C5", lead_id="L5", received_at=at)
    async with rows.rt.engine.begin() as conn:
        await consent_repository.store(conn, stored, now=at)
        await audit.append(
            conn,
            [
                audit.Event(
                    audit.EventKind.CONSENT_CAPTURED, at, lead_id="L5", subject="consent/C5"
                ),
                audit.Event(
                    audit.EventKind.REVIEW_DECIDED,
                    at,
                    actor=audit.operator("dana"),
                    lead_id="L5",
                    details={"decision": "approved"},
                ),
            ],
        )
    await rows.rt.seal()
    html = (await client.get("/console/leads/L5", headers=BEARER)).text
    assert '<dl class="kv" id="consent">' in html
    assert "Apex &lt;Insurance&gt;" in html and "203.0.113.7" in html
    assert stored.sha256 in html and "tcpa-2025-01" in html
    assert '<table id="audit">' in html
    assert "<code>review_decided</code>" in html and "operator:dana" in html
    assert "<code>decision=approved</code>" in html
    evidence = await client.get("/console/leads/L5/evidence.json", headers=BEARER)
    assert evidence.status_code == 200
    assert [link["holds"] for link in evidence.json()["links"]] == [True, True]
    disposition = evidence.headers["content-disposition"]
    assert disposition == 'attachment; filename="lead-L5-evidence.json"'
    await rows.add(rows.lead("L6", "unsold"))
    plain = (await client.get("/console/leads/L6", headers=BEARER)).text
    assert "No consent certificate came with this lead." in plain
