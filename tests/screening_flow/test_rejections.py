"""A lead failing a check gets its stable code in a 200 answer, and no buyer hears of it."""

from __future__ import annotations

from typing import Any

import pytest

from tests.engine.conftest import Harness
from tests.screening_flow.flow import LEAD, codes, person, posts, two_buyers

# Every built-in check, with actions chosen so that each failure is decisive on its own.
POLICY: dict[str, Any] = {
    "checks": [
        {"check": "invalid_email"},
        {"check": "disposable_email"},
        {"check": "role_email"},
        {"check": "invalid_phone"},
        {"check": "fake_phone"},
        {"check": "phone_state_mismatch", "action": "reject"},
        {"check": "invalid_zip"},
        {"check": "zip_state_mismatch"},  # default action: review
        {"check": "invalid_ip", "action": "reject"},
        {"check": "non_public_ip", "action": "reject"},
        {"check": "field_rule", "field": "credit_score", "min": 580},
        {"check": "field_rule", "field": "infractions", "max": 3},
    ],
}

# (changed fields, expected code, field the reason names, expected status)
CASES: dict[str, tuple[dict[str, Any], str, str, str]] = {
    "email-syntax": ({"email": "ada.lovelace@@example.com"}, "invalid_email", "email", "rejected"),
    "email-no-domain": ({"email": "ada.lovelace"}, "invalid_email", "email", "rejected"),
    "mailinator": (
        {"email": "ada.lovelace@mailinator.com"},
        "disposable_email",
        "email",
        "rejected",
    ),
    "guerrillamail": ({"email": "ada@guerrillamail.com"}, "disposable_email", "email", "rejected"),
    "phone-short": ({"phone": "(212) 736-500"}, "invalid_phone", "phone", "rejected"),
    "phone-letters": ({"phone": "call me maybe"}, "invalid_phone", "phone", "rejected"),
    # Jamaica shares +1 but is not a US or Canadian number.
    "phone-jamaica": ({"phone": "+1 876 927 1234"}, "invalid_phone", "phone", "rejected"),
    "phone-555-01xx": ({"phone": "(212) 555-0142"}, "fake_phone", "phone", "rejected"),
    "phone-repeated": ({"phone": "999-999-9999"}, "fake_phone", "phone", "rejected"),
    "phone-900": ({"phone": "(900) 736-5000"}, "fake_phone", "phone", "rejected"),
    # 310 is Los Angeles; the lead says New York.
    "phone-area-code": ({"phone": "(310) 736-5000"}, "phone_state_mismatch", "phone", "rejected"),
    "zip-unknown": ({"zip": "00000"}, "invalid_zip", "zip", "rejected"),
    "zip-letters": ({"zip": "ABCDE"}, "invalid_zip", "zip", "rejected"),
    # Beverly Hills is in California: flagged for review, not rejected.
    "zip-other-state": ({"zip": "90210"}, "zip_state_mismatch", "zip", "review"),
    "ip-garbage": ({"ip": "999.1.1.1"}, "invalid_ip", "ip", "rejected"),
    "ip-private": ({"ip": "192.168.1.20"}, "non_public_ip", "ip", "rejected"),
    "ip-loopback": ({"ip": "127.0.0.1"}, "non_public_ip", "ip", "rejected"),
    "ip-cgnat": ({"ip": "100.64.12.1"}, "non_public_ip", "ip", "rejected"),
    "credit-score": ({"credit_score": 540}, "field_rule", "credit_score", "rejected"),
    "infractions": ({"infractions": 5}, "field_rule", "infractions", "rejected"),
}


async def test_a_clean_lead_is_sold_with_a_perfect_score(engine: Harness) -> None:
    h = engine
    await two_buyers(h, screening=POLICY)
    answer = (await h.post_lead(LEAD)).json()
    assert answer["status"] == "sold" and answer["reasons"] == []
    assert posts(h, "alpha") == 1 and posts(h, "beta") == 0
    story = await h.timeline(answer["lead_id"])
    assert story["risk_score"] == 100
    assert story["screening"]["verdict"] == "accept" and story["screening"]["findings"] == []


@pytest.mark.parametrize("case", list(CASES))
async def test_a_lead_failing_a_check_gets_its_code_and_reaches_no_buyer(
    engine: Harness, case: str
) -> None:
    h = engine
    changes, code, field, status = CASES[case]
    await two_buyers(h, screening=POLICY)
    response = await h.post_lead({**LEAD, **changes})

    assert response.status_code == 200
    answer = response.json()
    assert answer["status"] == status, answer
    assert codes(answer) == [code], answer
    [reason] = answer["reasons"]
    assert reason["field"] == field and reason["message"]
    assert answer["payout"] == "0.00"
    assert posts(h, "alpha", "beta") == 0  # no ping, no post: no buyer heard of the lead

    story = await h.timeline(answer["lead_id"])
    assert story["status"] == status
    assert codes(story) == [code]
    assert story["attempts"] == [] and story["sales"] == [] and story["tree"] is None
    assert story["risk_score"] is not None and story["risk_score"] < 100
    assert story["screening"]["verdict"] == ("reject" if status == "rejected" else "review")
    assert [f["code"] for f in story["screening"]["findings"]] == [code]
    assert story["fields"] == {**LEAD, **changes}  # the lead is kept whole, as sent


async def test_every_reason_is_named_at_once(engine_sqlite: Harness) -> None:
    h = engine_sqlite
    await two_buyers(h, screening=POLICY)
    bad = person(
        1, email="x@mailinator.com", phone="555-555-5555", zip="00000", ip="10.0.0.1", infractions=9
    )
    answer = (await h.post_lead(bad)).json()
    assert answer["status"] == "rejected"
    assert sorted(codes(answer)) == sorted(
        ["disposable_email", "fake_phone", "invalid_zip", "non_public_ip", "field_rule"]
    )
    story = await h.timeline(answer["lead_id"])
    assert story["risk_score"] == 0  # 40 + 60 + 30 + 30 + 30 points off 100, floored at 0
    assert posts(h, "alpha", "beta") == 0


async def test_role_address_only_lowers_the_score(engine_sqlite: Harness) -> None:
    h = engine_sqlite
    await two_buyers(h, screening=POLICY)
    answer = (await h.post_lead(person(2, email="info@example.com"))).json()
    # A score-only finding is no reason to turn the lead away: it sells, the score says why.
    assert answer["status"] == "sold" and answer["reasons"] == []
    story = await h.timeline(answer["lead_id"])
    assert story["risk_score"] == 90
    [finding] = story["screening"]["findings"]
    assert finding["code"] == "role_email" and finding["action"] == "score"
    assert finding["penalty"] == 10 and finding["field"] == "email"
    assert posts(h, "alpha") == 1
