"""Risk score and reasons with the lead; score bands choose the tree; thresholds act."""

from __future__ import annotations

from typing import Any

from tests.engine.conftest import Harness, sim_buyer
from tests.factories import campaign
from tests.screening_flow.flow import LEAD, admin, build, codes, person, posts, tree

# The example: 90 and up to the best buyers, under 40 rejected, between flagged.
POLICY: dict[str, Any] = {
    "checks": [
        {"check": "role_email", "penalty": 15},  # action: score (default)
        {"check": "phone_state_mismatch", "penalty": 30},  # action: score (default)
        {"check": "non_public_ip", "action": "score", "penalty": 30},
    ],
    "bands": [{"name": "premium", "min_score": 90}],
    "review_below": 90,
    "reject_below": 40,
    "dedup": {"enabled": False},
}


async def _setup(h: Harness, policy: dict[str, Any]) -> None:
    h.buyers(sim_buyer("gold"), sim_buyer("bronze"))
    await h.configure(
        build(
            [campaign("gold", h.sim), campaign("bronze", h.sim)],
            [tree("best", ["gold"]), tree("rest", ["bronze"])],
            screening=policy,
            routes=[
                {"publisher": "pub", "vertical": "auto", "band": "premium", "tree": "best"},
                {"publisher": "pub", "vertical": "auto", "tree": "rest"},
            ],
        )
    )


async def test_score_bands_choose_the_tree(engine: Harness) -> None:
    h = engine
    policy = {"checks": POLICY["checks"], "bands": POLICY["bands"], "dedup": {"enabled": False}}
    await _setup(h, policy)

    clean = (await h.post_lead(LEAD)).json()
    assert clean["status"] == "sold"
    story = await h.timeline(clean["lead_id"])
    assert story["tree"] == "best" and [s["buyer"] for s in story["sales"]] == ["gold"]
    assert story["risk_score"] == 100 and story["screening"]["band"] == "premium"

    # info@ is a role address: 15 points off, 85 is under the premium band.
    role = (await h.post_lead(person(1, email="info@example.com"))).json()
    assert role["status"] == "sold"
    story = await h.timeline(role["lead_id"])
    assert story["tree"] == "rest" and [s["buyer"] for s in story["sales"]] == ["bronze"]
    assert story["risk_score"] == 85 and story["screening"]["band"] is None
    assert posts(h, "gold") == 1 and posts(h, "bronze") == 1


async def test_risk_score_and_its_reasons_are_kept_with_the_lead(engine: Harness) -> None:
    h = engine
    await _setup(h, {**POLICY, "review_below": None})
    # A Los Angeles number for a New York lead, from an office address: two findings.
    answer = await h.post_lead(person(2, email="sales@example.com", phone="(310) 736-5002"))
    story = await h.timeline(answer.json()["lead_id"])
    assert story["risk_score"] == 55
    screening = story["screening"]
    assert screening["verdict"] == "accept" and screening["score"] == 55
    assert [(f["code"], f["field"], f["penalty"], f["action"]) for f in screening["findings"]] == [
        ("role_email", "email", 15, "score"),
        ("phone_state_mismatch", "phone", 30, "score"),
    ]
    assert "310" in screening["findings"][1]["message"]
    assert story["status"] == "sold" and story["tree"] == "rest"


async def test_thresholds_reject_flag_and_pass(engine: Harness) -> None:
    h = engine
    await _setup(h, POLICY)

    top = (await h.post_lead(LEAD)).json()
    assert top["status"] == "sold"

    # 85: between 40 and 90, flagged for review, not routed.
    middle = (await h.post_lead(person(3, email="info@example.com"))).json()
    assert middle["status"] == "review"
    assert codes(middle) == ["role_email", "low_score"]
    assert "85" in middle["reasons"][1]["message"] and "90" in middle["reasons"][1]["message"]

    # 25: role address, wrong area code and a private IP, under 40: rejected.
    low = person(4, email="info@example.com", phone="(310) 736-5004", ip="10.1.2.3")
    bottom = (await h.post_lead(low)).json()
    assert bottom["status"] == "rejected"
    assert codes(bottom) == ["role_email", "phone_state_mismatch", "non_public_ip", "low_score"]
    assert (await h.timeline(bottom["lead_id"]))["risk_score"] == 25
    assert posts(h, "gold") == 1 and posts(h, "bronze") == 0

    # The flagged lead, once approved, goes by its band: none, so the default route.
    queue = (await admin(h, "GET", "/review")).json()
    assert [item["lead_id"] for item in queue] == [middle["lead_id"]]
    assert queue[0]["risk_score"] == 85
    approved = (await admin(h, "POST", f"/review/{middle['lead_id']}/approve")).json()
    assert approved["status"] == "sold"
    assert (await h.timeline(middle["lead_id"]))["tree"] == "rest"
    assert posts(h, "bronze") == 1
