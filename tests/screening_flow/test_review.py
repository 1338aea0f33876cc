"""Manual review: a flagged lead is held, listed, and routed only once a reviewer approves."""

from __future__ import annotations

import asyncio
from typing import Any

from pingtree.config.document import ConfigDocument
from tests.engine.conftest import Harness
from tests.screening_flow.flow import (
    LEAD,
    admin,
    build,
    campaign,
    codes,
    person,
    posts,
    tree,
    two_buyers,
)

POLICY: dict[str, Any] = {
    "checks": [{"check": "invalid_zip"}, {"check": "zip_state_mismatch"}],  # review
}
# Beverly Hills ZIP for a New York lead.
FLAGGED = {**LEAD, "zip": "90210"}


async def test_a_flagged_lead_is_routed_only_after_approval(engine: Harness) -> None:
    h = engine
    await two_buyers(h, screening=POLICY)
    held = await h.post_lead(FLAGGED)
    assert held.status_code == 200
    answer = held.json()
    assert answer["status"] == "review" and codes(answer) == ["zip_state_mismatch"]
    assert posts(h, "alpha", "beta") == 0  # held: not a single ping or post
    story = await h.timeline(answer["lead_id"])
    assert story["status"] == "review" and story["attempts"] == [] and story["tree"] is None

    queue = await admin(h, "GET", "/review")
    assert queue.status_code == 200
    [item] = queue.json()
    assert item["lead_id"] == answer["lead_id"]
    assert (item["publisher"], item["vertical"], item["risk_score"]) == ("pub", "auto", 80)
    assert [r["code"] for r in item["reasons"]] == ["zip_state_mismatch"]

    approved = await admin(h, "POST", f"/review/{answer['lead_id']}/approve")
    assert approved.status_code == 200
    assert approved.json()["status"] == "sold" and approved.json()["lead_id"] == answer["lead_id"]
    [post] = h.sim.received("alpha")
    assert post.kind == "post" and LEAD["email"] in post.raw_body  # the full lead, sold
    story = await h.timeline(answer["lead_id"])
    assert story["status"] == "sold" and [s["buyer"] for s in story["sales"]] == ["alpha"]
    assert story["risk_score"] == 80  # the score stays with the lead
    assert (await admin(h, "GET", "/review")).json() == []

    twice = await admin(h, "POST", f"/review/{answer['lead_id']}/approve")
    assert twice.status_code == 409 and codes(twice.json()) == ["not_in_review"]
    late_reject = await admin(
        h, "POST", f"/review/{answer['lead_id']}/reject", json={"reason": "too late"}
    )
    assert late_reject.status_code == 409
    assert posts(h, "alpha", "beta") == 1


async def test_a_flagged_lead_rejected_in_review_never_reaches_a_buyer(engine: Harness) -> None:
    h = engine
    await two_buyers(h, screening=POLICY)
    answer = (await h.post_lead(person(5, zip="90210"))).json()
    assert answer["status"] == "review"

    empty = await admin(h, "POST", f"/review/{answer['lead_id']}/reject", json={"reason": ""})
    assert empty.status_code == 422
    rejected = await admin(
        h,
        "POST",
        f"/review/{answer['lead_id']}/reject",
        json={"reason": "caller says not interested"},
    )
    assert rejected.status_code == 200
    body = rejected.json()
    assert body["status"] == "rejected" and codes(body) == ["rejected_in_review"]
    assert body["reasons"][0]["message"] == "caller says not interested"

    story = await h.timeline(answer["lead_id"])
    assert story["status"] == "rejected" and story["answered_at"] is not None
    assert codes(story) == ["zip_state_mismatch", "rejected_in_review"]
    assert "caller says not interested" in [r["message"] for r in story["reasons"]]
    assert (await admin(h, "GET", "/review")).json() == []
    after = await admin(h, "POST", f"/review/{answer['lead_id']}/approve")
    assert after.status_code == 409
    assert posts(h, "alpha", "beta") == 0


async def test_two_reviewers_approving_at_once_sell_the_lead_once(engine: Harness) -> None:
    h = engine
    await two_buyers(h, screening=POLICY)
    lead_id = (await h.post_lead(FLAGGED)).json()["lead_id"]
    answers = await asyncio.gather(
        *(admin(h, "POST", f"/review/{lead_id}/approve") for _ in range(5))
    )
    assert sorted(a.status_code for a in answers) == [200, 409, 409, 409, 409]
    assert posts(h, "alpha", "beta") == 1


async def test_approval_honours_lists_changed_while_the_lead_waited(engine: Harness) -> None:
    h = engine
    await two_buyers(h, screening=POLICY)
    lead_id = (await h.post_lead(FLAGGED)).json()["lead_id"]
    added = await admin(
        h,
        "POST",
        "/suppressions",
        json={"scope": "buyer", "owner": "alpha", "phones": [LEAD["phone"]]},
    )
    assert added.json()["added"] == 1
    approved = (await admin(h, "POST", f"/review/{lead_id}/approve")).json()
    assert approved["status"] == "sold"
    story = await h.timeline(lead_id)
    assert [s["buyer"] for s in story["sales"]] == ["beta"]
    assert [(s["campaign"], s["reason"]) for s in story["skipped"]] == [("alpha", "blocked")]
    assert posts(h, "alpha") == 0


async def test_only_an_admin_reviews_and_only_flagged_leads(engine_sqlite: Harness) -> None:
    h = engine_sqlite
    await two_buyers(h, screening=POLICY)
    flagged = (await h.post_lead(FLAGGED)).json()["lead_id"]
    sold = (await h.post_lead(person(6))).json()
    assert sold["status"] == "sold"
    anonymous = await h.client.post(f"/api/v1/admin/review/{flagged}/approve")
    assert anonymous.status_code == 401
    assert (await h.client.get("/api/v1/admin/review")).status_code == 401
    not_flagged = await admin(h, "POST", f"/review/{sold['lead_id']}/approve")
    assert not_flagged.status_code == 409
    unknown = await admin(h, "POST", "/review/no-such-lead/approve")
    assert unknown.status_code == 409
    assert [i["lead_id"] for i in (await admin(h, "GET", "/review")).json()] == [flagged]


async def test_a_lead_rejected_in_review_frees_the_person_it_held(engine: Harness) -> None:
    h = engine
    await two_buyers(h, screening={**POLICY, "dedup": {"window_hours": 24}})
    first = (await h.post_lead(person(7, zip="90210"))).json()
    assert first["status"] == "review"
    # While it waits, the person is taken: the same person again is a duplicate.
    again = (await h.post_lead(person(7))).json()
    assert again["status"] == "rejected" and codes(again) == ["duplicate"]
    rejected = await admin(h, "POST", f"/review/{first['lead_id']}/reject", json={"reason": "no"})
    assert rejected.status_code == 200
    # Rejected, it claims no one, as a lead a check rejects: the person may come again.
    third = (await h.post_lead(person(7))).json()
    assert third["status"] == "sold"


async def test_approve_and_reject_at_once_one_decision_wins_whole(engine: Harness) -> None:
    h = engine
    await two_buyers(h, screening={**POLICY, "dedup": {"window_hours": 24}})
    lead_id = (await h.post_lead(person(8, zip="90210"))).json()["lead_id"]
    approved, rejected = await asyncio.gather(
        admin(h, "POST", f"/review/{lead_id}/approve"),
        admin(h, "POST", f"/review/{lead_id}/reject", json={"reason": "looks fake"}),
    )
    assert sorted([approved.status_code, rejected.status_code]) == [200, 409]
    shown = (await admin(h, "GET", f"/leads/{lead_id}")).json()
    if rejected.status_code == 200:
        # The rejection landed whole: status, reason and the freed person in one commit.
        assert shown["status"] == "rejected" and posts(h, "alpha", "beta") == 0
        assert "rejected_in_review" in codes(shown)
        assert (await h.post_lead(person(8))).json()["status"] == "sold"
    else:
        assert shown["status"] == "sold" and posts(h, "alpha", "beta") == 1
        assert "rejected_in_review" not in codes(shown)


async def test_a_lead_whose_publisher_was_removed_stays_in_review_until_rejected(
    engine: Harness,
) -> None:
    h = engine
    await two_buyers(h, screening=POLICY)
    answer = (await h.post_lead(FLAGGED)).json()
    assert answer["status"] == "review"
    alpha, beta = (campaign(name, h.sim, timeout_ms=30_000) for name in ("alpha", "beta"))
    data = build([alpha, beta], [tree("main", ["alpha", "beta"])], screening=POLICY).model_dump(
        mode="json", exclude_none=True
    )
    data["publishers"] = [p for p in data["publishers"] if p["name"] != "pub"]
    data["routes"] = [r for r in data["routes"] if r["publisher"] != "pub"]
    await h.configure(ConfigDocument.model_validate(data))

    approved = await admin(h, "POST", f"/review/{answer['lead_id']}/approve")
    assert approved.status_code == 409, approved.text
    assert codes(approved.json()) == ["not_routable"]
    assert [i["lead_id"] for i in (await admin(h, "GET", "/review")).json()] == [answer["lead_id"]]
    rejected = await admin(
        h, "POST", f"/review/{answer['lead_id']}/reject", json={"reason": "publisher gone"}
    )
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    assert posts(h, "alpha", "beta") == 0
