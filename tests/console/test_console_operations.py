"""Daily operations from the console: review, sales to confirm, suppression lists."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from sqlalchemy import select

from pingtree.identity import suppression_hash
from pingtree.storage.tables import SuppressionEntry
from tests.console.conftest import Harness, csrf_of, operator
from tests.engine.conftest import sim_buyer
from tests.factories import LEAD_FIELDS, campaign, document, tier
from tests.recovery.test_settle import _cut_while_at_buyer, _recover, _setup

FLAG_ROLE_EMAILS: dict[str, Any] = {"checks": [{"check": "role_email", "action": "review"}]}


async def flagging(h: Harness) -> None:
    h.buyers(sim_buyer("apex"))
    await h.configure(
        document(
            [campaign("apex", h.sim, price="15.00")],
            [tier("only", "priority", ["apex"])],
            screening=FLAG_ROLE_EMAILS,
        )
    )


async def flagged_lead(h: Harness, email: str = "info@example.com") -> str:
    r = await h.post_lead({**LEAD_FIELDS, "email": email})
    assert r.json()["status"] == "review", r.text
    lead_id: str = r.json()["lead_id"]
    return lead_id


async def test_a_flagged_lead_is_approved_from_the_queue_and_sold(engine: Harness) -> None:
    await flagging(engine)
    lead_id = await flagged_lead(engine)
    console = await operator(engine)
    queue = await console.get("/console/review")
    assert (
        f'data-lead="{lead_id}"' in queue.text and "email address is a role account" in queue.text
    )
    r = await console.submit(f"/console/review/{lead_id}/approve", {}, opened="/console/review")
    assert r.status_code == 303 and r.headers["location"].startswith("/console/review?done=")
    assert "sold (payout 7.50)" in unquote(r.headers["location"])
    assert (await engine.timeline(lead_id))["status"] == "sold"
    assert f'data-lead="{lead_id}"' not in (await console.get("/console/review")).text
    again = await console.submit(f"/console/review/{lead_id}/approve", {}, opened="/console/review")
    assert "is not waiting for review" in unquote(again.headers["location"])


async def test_rejecting_needs_a_reason_and_is_shown_on_the_lead(engine: Harness) -> None:
    await flagging(engine)
    lead_id = await flagged_lead(engine)
    console = await operator(engine)
    page = f"/console/leads/{lead_id}"
    lead = await console.get(page)
    assert 'id="review-actions"' in lead.text
    blank = await console.submit(
        f"/console/review/{lead_id}/reject", {"reason": " ", "next": "lead"}, opened=page
    )
    assert "failed=" in blank.headers["location"]
    assert (await engine.timeline(lead_id))["status"] == "review"
    why = "caller says not interested"
    r = await console.submit(
        f"/console/review/{lead_id}/reject", {"reason": why, "next": "lead"}, opened=page
    )
    assert r.headers["location"].startswith(page)
    story = await engine.timeline(lead_id)
    assert story["status"] == "rejected"
    assert story["reasons"][-1] == {
        "code": "rejected_in_review",
        "message": why,
        "field": None,
    }
    shown = await console.get(page)
    assert why in shown.text and 'id="review-actions"' not in shown.text


async def test_an_uncertain_sale_is_confirmed_from_the_console(engine: Harness) -> None:
    await _setup(engine)
    lead_id = await _cut_while_at_buyer(engine)
    await _recover(engine)
    console = await operator(engine)
    queue = await console.get("/console/review")
    assert f'<a href="/console/leads/{lead_id}">' in queue.text
    page = await console.get(f"/console/leads/{lead_id}")
    assert 'id="uncertain-actions"' in page.text
    reservation = page.text.split('action="/console/uncertain/')[1].split('"')[0]
    r = await console.submit(
        f"/console/uncertain/{reservation}", {"sold": "true"}, opened=f"/console/leads/{lead_id}"
    )
    assert r.status_code == 303 and "now sold" in unquote(r.headers["location"])
    story = await engine.timeline(lead_id)
    assert (story["status"], story["revenue"]) == ("sold", "20.00")
    twice = await console.submit(
        f"/console/uncertain/{reservation}", {"sold": "false"}, opened="/console/review"
    )
    assert "failed=" in twice.headers["location"]


async def _entries(h: Harness) -> list[tuple[str, str, str]]:
    async with h.rt.sessions() as session:
        rows = (await session.scalars(select(SuppressionEntry))).all()
    return sorted((r.value_hash, r.scope, r.owner) for r in rows)


async def test_suppression_lists_take_values_uploads_searches_and_removals(
    engine: Harness,
) -> None:
    await flagging(engine)
    console = await operator(engine)
    page = "/console/suppression"
    added = await console.submit(
        "/console/suppression/add",
        {"values": "Dana.W@Example.com\n(212) 736-5000\nnot a phone", "scope": "global"},
        opened=page,
    )
    message = unquote(added.headers["location"])
    assert "2 added to the global list, 0 already on it; 1 not valid" in message
    email = suppression_hash("email", "dana.w@example.com")
    phone = suppression_hash("phone", "+12127365000")
    assert await _entries(engine) == sorted([(email, "global", ""), (phone, "global", "")])

    token = csrf_of((await console.get(page)).text)
    upload = await console.client.post(
        "/console/suppression/upload",
        data={"csrf": token, "scope": "buyer", "owner": "apex"},
        files={"file": ("dnc.csv", b"email,phone\nsam@example.com,\n,2125550100\n", "text/csv")},
    )
    assert "dnc.csv: 2 added to apex's buyer list" in unquote(upload.headers["location"])
    unknown = await console.submit(
        "/console/suppression/add",
        {"values": "x@example.com", "scope": "buyer", "owner": "zed"},
        opened=page,
    )
    assert "no buyer 'zed'" in unquote(unknown.headers["location"])

    found = await console.get(page, value="dana.w@EXAMPLE.com")
    assert "is on:" in found.text and "the global list" in found.text
    assert "Dana.W" not in (await console.get(page)).text  # only hashes are kept
    r = await console.submit(
        "/console/suppression/remove",
        {"value": "dana.w@example.com", "scope": "global", "owner": ""},
        opened=page,
    )
    assert "Removed from the global list." in unquote(r.headers["location"])
    assert email not in [h for h, _, _ in await _entries(engine)]
    assert "is on no list" in (await console.get(page, value="dana.w@example.com")).text
    # A listed phone now rejects the lead.
    blocked = await engine.post_lead({**LEAD_FIELDS, "phone": "212-736-5000"})
    assert blocked.json()["status"] == "rejected"
