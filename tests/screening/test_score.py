"""assess(): the configured checks, their actions and penalties, score, verdict and bands."""

from __future__ import annotations

from typing import Any

import pytest

from pingtree.identity import person_hash
from pingtree.screening.model import Action, Code, ScreeningPolicy, Verdict
from pingtree.screening.score import assess

CLEAN_LEAD: dict[str, object] = {
    "first_name": "Jane",
    "email": "Jane.Smith+quotes@Gmail.com",
    "phone": "(212) 736-5000",
    "zip": "10001",
    "state": "NY",
    "ip": "73.162.14.9",
    "credit_score": "720",
    "infractions": 0,
}


def policy(**data: Any) -> ScreeningPolicy:
    return ScreeningPolicy.model_validate(data)


def lead(**changes: object) -> dict[str, object]:
    return {**CLEAN_LEAD, **changes}


def test_clean_lead_is_accepted_with_full_score() -> None:
    result = assess(CLEAN_LEAD, ScreeningPolicy.standard())
    assert result.score == 100
    assert result.verdict is Verdict.ACCEPT
    assert result.reasons == ()
    assert result.codes == []


def test_normalized_identity_for_dedup() -> None:
    result = assess(CLEAN_LEAD, ScreeningPolicy())
    assert result.normalized.email == "janesmith@gmail.com"
    assert result.normalized.phone == "+12127365000"
    assert result.normalized.hashes() == {
        "email": person_hash("janesmith@gmail.com"),
        "phone": person_hash("+12127365000"),
    }


def test_normalized_is_none_for_invalid_values() -> None:
    result = assess(lead(email="nope", phone="12"), ScreeningPolicy())
    assert result.normalized.email is None
    assert result.normalized.phone is None
    assert result.normalized.hashes() == {}


def test_empty_policy_runs_no_checks() -> None:
    result = assess(lead(email="nope", phone="555", zip="0", ip="x"), ScreeningPolicy())
    assert result.verdict is Verdict.ACCEPT
    assert result.score == 100


# One lead per check of the standard policy, failing that check and nothing else.
FAILING: list[tuple[dict[str, object], str, Verdict]] = [
    (lead(email="jane.smith@"), "invalid_email", Verdict.REJECT),
    (lead(email="jane@mailinator.com"), "disposable_email", Verdict.REJECT),
    (lead(email="sales@acme-roofing.com"), "role_email", Verdict.ACCEPT),
    (lead(phone="212-736-500"), "invalid_phone", Verdict.REJECT),
    (lead(phone="(212) 555-0123"), "fake_phone", Verdict.REJECT),
    (lead(phone="(415) 701-2311"), "phone_state_mismatch", Verdict.ACCEPT),
    (lead(zip="00000"), "invalid_zip", Verdict.REJECT),
    (lead(zip="90210"), "zip_state_mismatch", Verdict.REVIEW),
    (lead(ip="300.1.1.1"), "invalid_ip", Verdict.ACCEPT),
    (lead(ip="192.168.0.12"), "non_public_ip", Verdict.REVIEW),
]


@pytest.mark.parametrize(("fields", "code", "verdict"), FAILING)
def test_each_check_through_the_standard_policy(
    fields: dict[str, object], code: str, verdict: Verdict
) -> None:
    result = assess(fields, ScreeningPolicy.standard())
    assert result.codes == [code]
    assert result.verdict is verdict
    assert result.score == 100 - result.reasons[0].penalty


def test_every_checkable_code_is_covered_above() -> None:
    covered = {code for _fields, code, _verdict in FAILING} | {"field_rule", "low_score"}
    assert covered == {code.value for code in Code}


def test_configured_action_and_penalty_are_applied() -> None:
    strict = policy(checks=[{"check": "role_email", "action": "reject", "penalty": 35}])
    (reason,) = assess(lead(email="info@acme.com"), strict).reasons
    assert reason.action is Action.REJECT
    assert reason.penalty == 35
    assert assess(lead(email="info@acme.com"), strict).verdict is Verdict.REJECT


def test_only_configured_codes_are_reported() -> None:
    # info@mailinator.com is both role and disposable; only disposable is configured.
    only = policy(checks=[{"check": "disposable_email"}])
    assert assess(lead(email="info@mailinator.com"), only).codes == ["disposable_email"]


def test_disabled_check_is_skipped() -> None:
    off = policy(checks=[{"check": "invalid_email", "enabled": False}])
    assert assess(lead(email="nope"), off).verdict is Verdict.ACCEPT


def test_reject_beats_review_beats_accept() -> None:
    fields = lead(zip="90210", email="jane@mailinator.com")
    assert assess(fields, ScreeningPolicy.standard()).verdict is Verdict.REJECT
    assert assess(lead(zip="90210"), ScreeningPolicy.standard()).verdict is Verdict.REVIEW


def test_score_is_clamped_at_zero() -> None:
    heavy = policy(
        checks=[
            {"check": "fake_phone", "penalty": 100},
            {"check": "invalid_email", "penalty": 100},
        ]
    )
    assert assess(lead(phone="5555555555", email="x"), heavy).score == 0


def test_score_thresholds() -> None:
    banded = policy(
        checks=[
            {"check": "role_email", "penalty": 20},
            {"check": "phone_state_mismatch", "penalty": 25},
            {"check": "non_public_ip", "action": "score", "penalty": 30},
        ],
        reject_below=40,
        review_below=70,
    )
    assert assess(lead(email="info@acme.com"), banded).verdict is Verdict.ACCEPT  # 80

    review = assess(lead(email="info@acme.com", phone="(415) 701-2311"), banded)  # 55
    assert (review.score, review.verdict) == (55, Verdict.REVIEW)
    assert review.codes == ["role_email", "phone_state_mismatch", "low_score"]
    assert review.reasons[-1].action is Action.REVIEW
    assert review.reasons[-1].message == "risk score 55 is below 70"

    reject = assess(lead(email="info@acme.com", phone="(415) 701-2311", ip="10.0.0.1"), banded)
    assert (reject.score, reject.verdict) == (25, Verdict.REJECT)
    assert reject.codes[-1] == "low_score"


def test_score_bands() -> None:
    banded = policy(
        checks=[{"check": "phone_state_mismatch", "penalty": 15}],
        bands=[{"name": "standard", "min_score": 40}, {"name": "premium", "min_score": 90}],
    )
    assert assess(CLEAN_LEAD, banded).band == "premium"
    assert assess(lead(phone="(415) 701-2311"), banded).band == "standard"
    assert banded.band_for(39) is None


def test_field_rules() -> None:
    auto = policy(
        checks=[
            {"check": "field_rule", "field": "credit_score", "min": 600},
            {"check": "field_rule", "field": "infractions", "max": 2, "action": "review"},
        ]
    )
    assert assess(CLEAN_LEAD, auto).verdict is Verdict.ACCEPT
    low = assess(lead(credit_score=550), auto)
    assert (low.codes, low.verdict) == (["field_rule"], Verdict.REJECT)
    assert low.reasons[0].field == "credit_score"
    many = assess(lead(infractions="4"), auto)
    assert (many.codes, many.verdict) == (["field_rule"], Verdict.REVIEW)
    assert many.reasons[0].field == "infractions"


def test_field_names_come_from_the_policy() -> None:
    renamed = policy(
        checks=[{"check": "invalid_phone"}, {"check": "zip_state_mismatch"}],
        fields={"phone": "mobile", "zip": "postal", "state": "province"},
    )
    fields = {"mobile": "(416) 392-2489", "postal": "M5V 3L9", "province": "ON"}
    result = assess(fields, renamed)
    assert result.verdict is Verdict.ACCEPT
    assert result.normalized.phone == "+14163922489"
    assert assess({**fields, "province": "BC"}, renamed).codes == ["zip_state_mismatch"]


def test_one_code_on_two_fields() -> None:
    both = policy(checks=[{"check": "invalid_phone"}, {"check": "invalid_phone", "field": "alt"}])
    result = assess(lead(alt="123"), both)
    assert result.codes == ["invalid_phone"]
    assert [reason.field for reason in result.reasons] == ["alt"]


def test_state_field_override() -> None:
    mismatch = policy(checks=[{"check": "phone_state_mismatch", "state_field": "home_state"}])
    assert assess(lead(home_state="CA"), mismatch).codes == ["phone_state_mismatch"]
    assert assess(lead(home_state="NY", state="CA"), mismatch).codes == []


def test_missing_fields_are_not_findings() -> None:
    result = assess({"first_name": "Jane"}, ScreeningPolicy.standard())
    assert result.verdict is Verdict.ACCEPT
    assert result.normalized.email is None


def test_assess_does_not_touch_the_lead() -> None:
    fields = dict(CLEAN_LEAD)
    assess(fields, ScreeningPolicy.standard())
    assert fields == CLEAN_LEAD
