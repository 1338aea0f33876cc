"""Every event of a lead and every configuration change lands in the audit trail, in the
transaction that makes it; the timeline shows them, sealing links them, the evidence export
proves them."""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path
from typing import Any

from sqlalchemy import text
from typer.testing import CliRunner

from pingtree.audit.anchors import read
from pingtree.audit.verify import verify
from pingtree.cli import app
from tests.audit.conftest import unguarded
from tests.consent.certificates import certificate
from tests.engine.conftest import ADMIN_TOKEN, Harness, sim_buyer
from tests.factories import campaign, document, tier
from tests.screening_flow.flow import LEAD, person, two_buyers

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


async def _sold_lead(h: Harness, **body: Any) -> dict[str, Any]:
    h.buyers(sim_buyer("picky", accept_rate=0.0), sim_buyer("keen"))
    await h.configure(
        document(
            [campaign("picky", h.sim), campaign("keen", h.sim, price="12.34")],
            [tier("t1", "priority", ["picky", "keen"])],
        )
    )
    answer = (await h.post_lead(**body)).json()
    assert answer["status"] == "sold", answer
    return await h.timeline(answer["lead_id"])


async def test_a_sold_leads_way_is_in_its_timeline_and_sealed(engine: Harness) -> None:
    story = await _sold_lead(
        engine, consent=certificate(engine.rt.clock.now(), sellers=["Picky", "Keen"])
    )
    events = story["audit"]
    assert [(e["kind"], e["subject"]) for e in events] == [
        ("lead_received", "verticals/auto"),
        ("consent_captured", f"consent/{story['consent']['id']}"),
        ("lead_screened", None),
        ("lead_routed", None),
    ]
    received, consent, screened, routed = events
    assert received["actor"] == "publisher:pub" and routed["actor"] == "pingtree"
    fields = json.dumps(story["fields"], sort_keys=True, separators=(",", ":"))
    assert received["details"]["fields_sha256"] == hashlib.sha256(fields.encode()).hexdigest()
    assert consent["details"]["sha256"] == story["consent"]["sha256"]
    assert screened["details"]["verdict"] == "accept"
    attempts = routed["details"]["attempts"]
    assert [(a["kind"], a["campaign"], a["outcome"]) for a in attempts] == [
        ("post", "picky", "rejected"),
        ("post", "keen", "accepted"),
    ]
    assert attempts[1]["price"] == story["attempts"][1]["price"]  # as the buyer answered
    assert attempts[1]["buyer"] == "keen"
    assert routed["details"]["sales"] == [
        {
            "campaign": "keen",
            "buyer": "keen",
            "tier": "t1",
            "price": "12.34",
            "reference": story["sales"][0]["reference"],
        }
    ]
    assert routed["details"]["status"] == "sold"
    assert routed["details"]["revenue"] == "12.34"
    assert routed["details"]["consent_skipped"] == []
    assert all(e["seq"] is None for e in events)  # appended; the sealer links them

    await engine.rt.seal()
    sealed = (await engine.timeline(story["lead_id"]))["audit"]
    seqs = [e["seq"] for e in sealed]
    assert None not in seqs and seqs == sorted(seqs)
    assert (await verify(engine.rt.engine)).intact


async def test_the_evidence_export_proves_each_event(
    engine: Harness, tmp_path: Path, monkeypatch: Any
) -> None:
    story = await _sold_lead(
        engine, consent=certificate(engine.rt.clock.now(), sellers=["Picky", "Keen"])
    )
    lead_id = story["lead_id"]
    await engine.rt.seal()
    response = await engine.client.get(f"/api/v1/admin/leads/{lead_id}/evidence", headers=ADMIN)
    assert response.status_code == 200, response.text
    evidence = response.json()
    assert evidence["format"] == "pingtree-evidence/1"
    assert evidence["lead"]["lead_id"] == lead_id
    consent = evidence["lead"]["consent"]
    assert hashlib.sha256(consent["certificate_text"].encode()).hexdigest() == consent["sha256"]
    links = evidence["links"]
    assert len(links) == 4 and all(link["holds"] for link in links)
    assert evidence["chain_head"]["seq"] >= links[-1]["seq"]
    # Anyone can recompute a link from the export alone, as `hashing` says.
    link = links[2]
    parts = [
        link["prev_hash"],
        str(link["seq"]),
        str(link["id"]),
        link["occurred_at_text"],
        link["kind"],
        lead_id,
        link["actor"],
        link["subject"] or "",
        link["details_text"],
    ]
    record = "".join(f"{len(p)}:{p};" for p in parts)
    assert hashlib.sha256(record.encode()).hexdigest() == link["hash"]

    # `pingtree audit evidence` writes the same links (run in a thread: it has its own loop).
    monkeypatch.setenv("PINGTREE_DATABASE_URL", engine.rt.settings.database)
    out = tmp_path / "evidence.json"
    written = await asyncio.to_thread(
        CliRunner().invoke, app, ["audit", "evidence", lead_id, "--out", str(out)]
    )
    assert written.exit_code == 0, written.output
    assert json.loads(out.read_text())["links"] == links

    async with unguarded(engine.rt.engine) as conn:
        await conn.execute(
            text("UPDATE audit_events SET details = '{}' WHERE id = :id"), {"id": link["id"]}
        )
    again = (
        await engine.client.get(f"/api/v1/admin/leads/{lead_id}/evidence", headers=ADMIN)
    ).json()
    assert [x["holds"] for x in again["links"]] == [True, True, False, True]
    missing = await engine.client.get("/api/v1/admin/leads/nope/evidence", headers=ADMIN)
    assert missing.status_code == 404


async def test_review_decisions_name_the_reviewer(engine_sqlite: Harness) -> None:
    h = engine_sqlite
    policy = {"checks": [{"check": "invalid_zip"}, {"check": "zip_state_mismatch"}]}
    await two_buyers(h, screening=policy)
    held = (await h.post_lead({**LEAD, "zip": "90210"})).json()
    rejected = (await h.post_lead(person(5, zip="90210"))).json()
    assert held["status"] == rejected["status"] == "review"
    await h.client.post(f"/api/v1/admin/review/{held['lead_id']}/approve", headers=ADMIN)
    await h.client.post(
        f"/api/v1/admin/review/{rejected['lead_id']}/reject",
        headers=ADMIN,
        json={"reason": "caller says not interested"},
    )
    approved_story = (await h.timeline(held["lead_id"]))["audit"]
    rejected_story = (await h.timeline(rejected["lead_id"]))["audit"]
    decided = [e for e in approved_story if e["kind"] == "review_decided"]
    assert [(e["actor"], e["details"]) for e in decided] == [
        ("operator:admin-token", {"decision": "approved"})
    ]
    assert [e["kind"] for e in approved_story] == [
        "lead_received",
        "lead_screened",
        "lead_answered",  # review
        "review_decided",
        "lead_routed",  # sold
    ]
    assert [(e["kind"], e["details"].get("decision")) for e in rejected_story[-2:]] == [
        ("review_decided", "rejected"),
        ("lead_answered", None),
    ]
    assert rejected_story[-2]["details"]["reason"] == "caller says not interested"
    assert rejected_story[-1]["details"]["status"] == "rejected"


async def test_configuration_changes_name_who_and_what(engine: Harness) -> None:
    h = engine
    h.buyers(sim_buyer("keen"))
    await h.configure(document([campaign("keen", h.sim)], [tier("t1", "priority", ["keen"])]))
    changed = await h.client.put(
        "/api/v1/admin/buyers/keen",
        headers=ADMIN,
        json={"name": "keen", "dedup_days": 7, "consent_names": ["Keen Insurance"]},
    )
    assert changed.status_code == 200, changed.text
    listed = await h.client.get(
        "/api/v1/admin/audit", headers=ADMIN, params={"subject": "buyers/keen"}
    )
    assert listed.status_code == 200
    latest, created = listed.json()
    assert (created["actor"], created["details"]["action"]) == ("unknown", "create")
    assert latest["actor"] == "operator:admin-token"
    assert latest["details"]["action"] == "change"
    assert latest["details"]["before"] == {
        "name": "keen",
        "active": True,
        "dedup_days": 0,
        "consent_names": [],
    }
    assert latest["details"]["after"]["consent_names"] == ["Keen Insurance"]

    await h.client.delete("/api/v1/admin/routes/pub:auto", headers=ADMIN)
    [removed] = (
        await h.client.get(
            "/api/v1/admin/audit", headers=ADMIN, params={"subject": "routes/pub:auto", "limit": 1}
        )
    ).json()
    assert removed["details"]["action"] == "remove" and removed["details"]["after"] is None
    assert removed["actor"] == "operator:admin-token"
    kinds = await h.client.get("/api/v1/admin/audit", headers=ADMIN, params={"kind": "bogus"})
    assert kinds.status_code == 422


def test_pingtree_apply_is_recorded_with_the_user(
    database_url: str, tmp_path: Path, monkeypatch: Any
) -> None:
    import asyncio

    from pingtree import audit
    from pingtree.audit.repository import recent
    from tests.audit.conftest import engine_for
    from tests.config.conftest import DEMO, DEMO_SIMULATOR

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PINGTREE_DATABASE_URL", database_url)
    monkeypatch.setenv("PINGTREE_BUYER_URL_ALLOW", DEMO_SIMULATOR)
    monkeypatch.setenv("USER", "dana")
    monkeypatch.setenv("LOGNAME", "dana")
    anchors = tmp_path / "anchors.txt"
    monkeypatch.setenv("PINGTREE_AUDIT_ANCHOR_FILE", str(anchors))
    result = CliRunner().invoke(app, ["apply", str(DEMO)])
    assert result.exit_code == 0, result.output

    async def events() -> list[audit.StoredEvent]:
        async with engine_for(database_url) as engine, engine.connect() as conn:
            return await recent(conn, kind="config_changed", limit=100)

    found = asyncio.run(events())
    assert len(found) == 22  # the demo's resources
    assert {e.actor for e in found} == {"cli:dana"}
    assert {json.loads(e.details)["action"] for e in found} == {"create"}
    assert "apex-auction" in {e.subject.split("/")[1] for e in found if e.subject}
    sealed = CliRunner().invoke(app, ["audit", "anchor", "--file", str(anchors)])
    assert sealed.exit_code == 0
    assert read(anchors)[-1].seq == 22


async def test_a_lead_a_crash_interrupted_gets_its_intake_events_when_settled(
    database_url: str,
) -> None:
    from datetime import timedelta

    from pingtree import audit
    from pingtree.clock import ManualClock
    from pingtree.leads import trail
    from pingtree.leads.repository import LeadRecord, insert_lead
    from pingtree.recovery.service import settle_interrupted
    from tests.audit.conftest import T0, engine_for

    def stored(lead_id: str) -> LeadRecord:
        lead = LeadRecord(lead_id, "pub", "auto", {"email": "a@example.com"}, False, T0)
        lead.screening = {"verdict": "accept", "score": 90, "band": None, "findings": []}
        return lead

    async with engine_for(database_url) as engine:
        async with engine.begin() as conn:
            for lead_id in ("crashed-before-record", "inbound-claimed"):
                await insert_lead(conn, stored(lead_id))
            await audit.append(conn, trail.taken(stored("inbound-claimed")))
        clock = ManualClock(T0 + timedelta(hours=1))
        for _ in range(2):  # a second pass finds nothing left to settle
            await settle_interrupted(
                engine=engine, clock=clock, older_than=timedelta(minutes=5), skip=()
            )
        async with engine.connect() as conn:
            kinds = {
                lead_id: [e.kind for e in await audit.lead_events(conn, lead_id)]
                for lead_id in ("crashed-before-record", "inbound-claimed")
            }
    assert kinds == {
        # screening's verdict is stored with the lead's record, which never landed
        "crashed-before-record": ["lead_received", "lead_settled"],
        "inbound-claimed": ["lead_received", "lead_screened", "lead_settled"],
    }
