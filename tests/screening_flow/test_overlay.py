"""A publisher's policy laid over the vertical's: what it sets wins, the rest is kept."""

from __future__ import annotations

from typing import Any

from tests.engine.conftest import Harness, sim_buyer
from tests.factories import campaign
from tests.screening_flow.flow import LEAD, OTHER_KEY, build, codes, posts, tree

VERTICAL_POLICY: dict[str, Any] = {
    "checks": [
        {"check": "zip_state_mismatch"},  # review
        {"check": "role_email", "action": "reject"},
    ],
    "bands": [{"name": "premium", "min_score": 90}],
    "dedup": {"window_hours": 24},
}
# The publisher switches the ZIP check off, only scores role addresses, and sends repeats.
PUB_POLICY: dict[str, Any] = {
    "checks": [
        {"check": "zip_state_mismatch", "enabled": False},
        {"check": "role_email", "action": "score", "penalty": 5},
    ],
    "dedup": {"enabled": False},
}
OTHER = {"X-API-Key": OTHER_KEY}


async def _setup(h: Harness) -> None:
    h.buyers(sim_buyer("gold"), sim_buyer("bronze"))
    await h.configure(
        build(
            [campaign("gold", h.sim), campaign("bronze", h.sim)],
            [tree("best", ["gold"]), tree("rest", ["bronze"])],
            screening=VERTICAL_POLICY,
            publisher_screening=PUB_POLICY,
            routes=[
                {"publisher": pub, "vertical": "auto", "band": band, "tree": name}
                for pub in ("pub", "other")
                for band, name in (("premium", "best"), (None, "rest"))
            ],
        )
    )


async def test_a_publisher_switches_a_check_off(engine: Harness) -> None:
    h = engine
    await _setup(h)
    flagged = {**LEAD, "zip": "90210"}
    ours = (await h.post_lead(flagged)).json()
    assert ours["status"] == "sold"
    story = await h.timeline(ours["lead_id"])
    assert story["risk_score"] == 100 and story["screening"]["findings"] == []
    # The vertical's bands still apply to the publisher's leads: premium, tree best.
    assert story["tree"] == "best"
    theirs = (await h.post_lead({**flagged, "email": "grace@example.com"}, headers=OTHER)).json()
    assert theirs["status"] == "review" and codes(theirs) == ["zip_state_mismatch"]
    assert posts(h, "gold") == 1 and posts(h, "bronze") == 0


async def test_a_publisher_changes_an_action_and_the_dedup(engine: Harness) -> None:
    h = engine
    await _setup(h)
    role = {**LEAD, "email": "info@example.com"}
    ours = (await h.post_lead(role)).json()
    assert ours["status"] == "sold"
    assert (await h.timeline(ours["lead_id"]))["risk_score"] == 95
    theirs = (await h.post_lead({**role, "phone": "(212) 736-5077"}, headers=OTHER)).json()
    assert theirs["status"] == "rejected" and codes(theirs) == ["role_email"]

    # Dedup is off for pub only: its repeat sells, the other publisher's repeat does not.
    assert (await h.post_lead(role)).json()["status"] == "sold"
    other_lead = {**LEAD, "email": "grace@example.com", "phone": "(212) 736-5088"}
    assert (await h.post_lead(other_lead, headers=OTHER)).json()["status"] == "sold"
    again = (await h.post_lead(other_lead, headers=OTHER)).json()
    assert again["status"] == "rejected" and codes(again) == ["duplicate"]
