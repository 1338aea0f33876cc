"""Response rules end to end: raw buyer answers off the wire, on both databases (issue 10)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from pingtree.buyers.model import Campaign, ResponseRule, ResponseRules
from pingtree.clock import SystemClock
from pingtree.delivery.connections import BuyerConnections
from pingtree.delivery.gateway import HttpGateway
from pingtree.simulator.behaviour import ScriptedAnswer
from tests.engine.conftest import ADMIN_TOKEN, Harness, sim_buyer
from tests.factories import campaign, document, tier

THANK_YOU = (
    b"<html><body><div class='result'><h1>Thank you!</h1>"
    b"<p>Reference <span id='ref'>LX-4471</span></p></div></body></html>"
)
HTML_RULES: dict[str, Any] = {
    "rules": [
        {"source": "css", "path": "div.result h1", "contains": "thank you", "outcome": "accepted"},
        {"source": "css", "path": "h1", "contains": "sorry", "outcome": "rejected"},
    ],
    "reference": {"source": "css", "path": "#ref"},
    "capture": {"session": {"source": "cookie", "path": "session"}},
}


@pytest.fixture
def engine(engine_senders: Harness) -> Harness:
    """Each test here on both databases, and with the requests sent (and their answers read
    by these rules) in a delivery process: the rules travel there and read the same."""
    return engine_senders


async def _story(h: Harness, script: ScriptedAnswer, rules: dict[str, Any]) -> dict[str, Any]:
    h.buyers(sim_buyer("html", scripted=script), sim_buyer("second"))
    spec = campaign("html", h.sim)
    spec["delivery"]["post"]["response"] = rules
    await h.configure(
        document([spec, campaign("second", h.sim)], [tier("t", "priority", ["html", "second"])])
    )
    response = await h.post_lead()
    assert response.status_code == 200, response.text
    return await h.timeline(response.json()["lead_id"])


def _post(story: dict[str, Any], name: str) -> dict[str, Any]:
    (found,) = [a for a in story["attempts"] if a["campaign"] == name and a["kind"] == "post"]
    return found


async def test_an_html_thank_you_page_with_cookies_sells_and_keeps_its_captures(
    engine: Harness,
) -> None:
    script = ScriptedAnswer(
        headers=[
            ("Content-Type", "text/html; charset=utf-8"),
            ("Set-Cookie", "session=s-1; Path=/; HttpOnly"),
            ("Set-Cookie", "lead_id=B-77; Path=/"),
        ],
        body=THANK_YOU,
    )
    rules = {
        **HTML_RULES,
        "capture": {
            **HTML_RULES["capture"],
            "buyer_lead_id": {"source": "cookie", "path": "lead_id"},
        },
    }
    story = await _story(engine, script, rules)
    post = _post(story, "html")
    assert (post["outcome"], post["reference"]) == ("accepted", "LX-4471")
    assert post["response"]["captured"] == {"session": "s-1", "buyer_lead_id": "B-77"}
    assert [(s["campaign"], Decimal(str(s["price"]))) for s in story["sales"]] == [
        ("html", Decimal("10.00"))
    ]
    page = await engine.client.get(
        f"/console/leads/{story['lead_id']}",
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    assert page.status_code == 200
    assert "<code>buyer_lead_id=B-77</code>" in page.text  # the timeline shows the captures


async def test_a_sorry_page_is_a_reject_with_the_default_reason(engine: Harness) -> None:
    script = ScriptedAnswer(
        headers=[("Content-Type", "text/html")], body=b"<html><h1>Sorry</h1></html>"
    )
    story = await _story(engine, script, HTML_RULES)
    post = _post(story, "html")
    assert (post["outcome"], post["reason"]) == ("rejected", "rejected by buyer")
    assert [s["campaign"] for s in story["sales"]] == ["second"]


# An operator's pattern that backtracks (each `a` may be either branch: 2**3000 ways to
# fail on this body). Under Python's re the buyer's answer would hold the loop for longer
# than any test runs; it costs this one attempt and at most patterns.LIMIT_S.
BACKTRACKS = r"^(a|a)*$"


@pytest.mark.parametrize(
    "rules",
    [
        {"rules": [{"source": "body", "matches": BACKTRACKS, "outcome": "accepted"}]},
        {
            "rules": [{"source": "status", "equals": "200", "outcome": "accepted"}],
            "reference": {"source": "regex", "path": BACKTRACKS},
        },
    ],
    ids=["matches", "regex-source"],
)
async def test_a_pattern_that_backtracks_on_a_hostile_answer_costs_one_attempt(
    engine: Harness, rules: dict[str, Any]
) -> None:
    script = ScriptedAnswer(headers=[("Content-Type", "text/plain")], body=b"a" * 3000 + b"!")
    story = await _story(engine, script, rules)
    post = _post(story, "html")
    assert post["outcome"] == "error"
    assert post["reason"].startswith("unreadable_answer: the pattern"), post["reason"]
    assert "was stopped" in post["reason"]
    assert [s["campaign"] for s in story["sales"]] == ["second"]


async def test_repeated_headers_reach_the_rules(engine: Harness) -> None:
    script = ScriptedAnswer(
        headers=[("x-result", "pending"), ("X-Result", "SOLD"), ("X-Lead", "H-9")],
        body=b"",
    )
    rules = {
        "rules": [
            {"source": "header", "path": "X-RESULT", "equals": "sold", "outcome": "accepted"}
        ],
        "reference": {"source": "header", "path": "x-lead"},
    }
    post = _post(await _story(engine, script, rules), "html")
    assert (post["outcome"], post["reference"]) == ("accepted", "H-9")


async def test_a_rule_that_fails_while_reading_is_an_unreadable_answer(engine: Harness) -> None:
    # Validation refuses such a path; a configuration that skipped it (built in code, or
    # stored by an older version) still costs the one attempt, never the lead.
    h = engine
    h.buyers(sim_buyer("xml", respond_as="xml"))
    spec = Campaign.model_validate(campaign("xml", h.sim))
    broken = ResponseRule.model_construct(
        source="xpath", path="nosuch()", exists=True, outcome="accepted"
    )
    rules = ResponseRules.model_construct(
        rules=[broken], otherwise="error", capture={}, default_reason="x"
    )
    spec.delivery.post.response = rules
    async with BuyerConnections(h.rt.settings.buyer_allowlist) as connections:
        gateway = HttpGateway(connections, SystemClock())
        answer = await gateway.post(
            spec, lead_id="L1", fields={"zip": "10001"}, bid=None, test=True, timeout=5
        )
    reading = answer.reading
    assert reading.outcome == "error"
    assert (reading.reason or "").startswith("unreadable_answer:"), reading.reason
