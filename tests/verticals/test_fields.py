"""Fields as publishers send them: names, aliases, types, derived fields. Pure, no database."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from pingtree.buyers.model import Campaign
from pingtree.routing.eligibility import CompiledCampaign, LeadView
from pingtree.verticals.model import FieldType, Vertical
from pingtree.verticals.validate import validate_fields

# Wednesday 2026-11-25 at 03:30 UTC is still Tuesday 22:30 in New York.
RECEIVED = datetime(2026, 11, 25, 3, 30, tzinfo=UTC)


def _vertical(*fields: dict[str, Any]) -> Vertical:
    return Vertical.model_validate({"name": "v", "fields": list(fields)})


def _errors(vertical: Vertical, fields: dict[str, Any]) -> dict[str, str]:
    _, errors = validate_fields(vertical, fields, received_at=RECEIVED)
    return {e.field: e.message for e in errors}


def test_camel_case_field_names_are_allowed_and_resource_names_are_not() -> None:
    vertical = _vertical({"name": "geoState", "type": "state"}, {"name": "zip_code"})
    clean, errors = validate_fields(vertical, {"geoState": "ca"})
    assert (clean, errors) == ({"geoState": "CA"}, [])
    with pytest.raises(ValidationError):  # resource names keep their own rule
        Vertical.model_validate({"name": "autoLeads", "fields": [{"name": "x"}]})
    with pytest.raises(ValidationError):
        _vertical({"name": "1st"})


def test_an_alias_is_stored_under_the_canonical_name() -> None:
    vertical = _vertical({"name": "state", "type": "state", "aliases": ["st", "State"]})
    for sent in ("st", "State", "state"):
        clean, errors = validate_fields(vertical, {sent: "ny"})
        assert (clean, errors) == ({"state": "NY"}, [])
    assert _errors(vertical, {"st": "NY", "state": "NY"}) == {
        "state": "is 'state' again (also sent as 'st')"
    }
    assert "ST" in _errors(vertical, {"ST": "NY"})  # aliases are spelled exactly


def test_an_alias_may_not_clash_with_another_name() -> None:
    with pytest.raises(ValidationError, match="'zip' is used twice"):
        _vertical({"name": "zip"}, {"name": "postal", "aliases": ["zip"]})


@pytest.mark.parametrize(
    ("kind", "word"), [("integer", "an integer"), ("number", "a number"), ("email", "an email")]
)
def test_messages_use_the_right_article(kind: str, word: str) -> None:
    message = _errors(_vertical({"name": "f", "type": kind}), {"f": "not one"})["f"]
    assert message.startswith(f"must be {word}")
    assert " a integer" not in message


@pytest.mark.parametrize(
    ("sent", "stored"), [("1990-04-05", "1990-04-05"), ("04/05/1990", "1990-04-05")]
)
def test_a_date_is_stored_as_yyyy_mm_dd(sent: str, stored: str) -> None:
    clean, errors = validate_fields(_vertical({"name": "dob", "type": "date"}), {"dob": sent})
    assert (clean, errors) == ({"dob": stored}, [])


def test_a_bad_date_is_named() -> None:
    vertical = _vertical({"name": "dob", "type": "date"})
    assert _errors(vertical, {"dob": "1990-02-30"}) == {
        "dob": "must be a date as YYYY-MM-DD or MM/DD/YYYY"
    }


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("2026-11-25T14:30:00-05:00", "2026-11-25T19:30:00+00:00"),
        ("2026-11-25T19:30:00Z", "2026-11-25T19:30:00+00:00"),
        ("2026-11-25 19:30:00", "2026-11-25T19:30:00+00:00"),  # no offset: UTC
    ],
)
def test_a_timestamp_is_stored_in_utc(sent: str, stored: str) -> None:
    vertical = _vertical({"name": "seen_at", "type": "timestamp"})
    assert validate_fields(vertical, {"seen_at": sent}) == ({"seen_at": stored}, [])
    assert "seen_at" in _errors(vertical, {"seen_at": "yesterday"})


def test_enum_values_match_ignoring_case_and_are_stored_as_listed() -> None:
    vertical = _vertical({"name": "credit", "enum": ["Excellent", "good"]})
    assert validate_fields(vertical, {"credit": "EXCELLENT"}) == ({"credit": "Excellent"}, [])
    assert "credit" in _errors(vertical, {"credit": "bad"})


DERIVED = _vertical(
    {"name": "dob", "type": "date", "pii": True},
    {"name": "seenAt", "type": "timestamp"},
    {"name": "age", "derived": {"age_from": "dob", "zone": "America/New_York"}},
    {"name": "hour", "derived": {"hour_of": "received_at", "zone": "America/New_York"}},
    {"name": "weekday", "derived": {"weekday_of": "received_at", "zone": "America/New_York"}},
    {"name": "seenHour", "derived": {"hour_of": "seenAt", "zone": "Asia/Kolkata"}},
)


def test_derived_fields_are_computed_at_intake_in_their_zone() -> None:
    clean, errors = validate_fields(
        DERIVED,
        {"dob": "11/25/1990", "seenAt": "2026-11-25T00:00:00Z"},
        received_at=RECEIVED,
    )
    assert errors == []
    # Received Tuesday 22:30 in New York, 24 November: the 36th birthday is tomorrow.
    assert clean["age"] == 35
    assert (clean["hour"], clean["weekday"]) == (22, "tue")
    assert clean["seenHour"] == 5  # 05:30 in Kolkata
    age = DERIVED.field("age")
    assert age is not None and age.type is FieldType.INTEGER
    assert "age" in DERIVED.numeric_fields


def test_a_derived_field_is_absent_when_its_source_is() -> None:
    clean, errors = validate_fields(DERIVED, {}, received_at=RECEIVED)
    assert errors == []
    assert "age" not in clean and "seenHour" not in clean and clean["hour"] == 22


def test_a_publisher_may_not_send_a_derived_field() -> None:
    assert _errors(DERIVED, {"age": 40}) == {"age": "is computed by pingtree; do not send it"}


def test_derived_fields_are_usable_in_filters() -> None:
    clean, _ = validate_fields(DERIVED, {"dob": "1990-01-01"}, received_at=RECEIVED)
    campaign = _campaign(
        [
            {"field": "age", "op": "range", "min": 30},
            {"field": "hour", "op": "in", "values": [21, 22, 23]},
            {"field": "weekday", "op": "in", "values": ["Mon", "Tue"]},
        ]
    )
    assert CompiledCampaign(campaign, DERIVED.numeric_fields).failed_filter(LeadView(clean)) is None
    clean["hour"] = 9
    assert CompiledCampaign(campaign, DERIVED.numeric_fields).failed_filter(LeadView(clean))


@pytest.mark.parametrize(
    ("derived", "message"),
    [
        ({"hour_of": "dob"}, "hour_of needs a timestamp field"),
        ({"age_from": "received_at"}, "age_from needs a date or timestamp field"),
        ({"hour_of": "nothing"}, "not 'nothing'"),
        ({"hour_of": "received_at", "age_from": "dob"}, "exactly one"),
        ({"hour_of": "received_at", "zone": "Mars/Base"}, "unknown IANA time zone"),
    ],
)
def test_a_bad_derived_field_is_a_configuration_error(
    derived: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        _vertical({"name": "dob", "type": "date"}, {"name": "x", "derived": derived})


def test_a_derived_field_has_the_type_it_computes() -> None:
    with pytest.raises(ValidationError, match="is of type integer"):
        _vertical({"name": "h", "type": "string", "derived": {"hour_of": "received_at"}})


def _campaign(filters: list[dict[str, Any]]) -> Campaign:
    return Campaign.model_validate(
        {
            "name": "c",
            "buyer": "b",
            "vertical": "v",
            "filters": filters,
            "price": {"amount": "1.00"},
            "delivery": {
                "post": {
                    "url": "http://127.0.0.1:9/post",
                    "response": {
                        "rules": [{"source": "status", "equals": "200", "outcome": "accepted"}]
                    },
                }
            },
        }
    )


def test_an_enum_on_an_integer_field_keeps_the_integer() -> None:
    vertical = _vertical({"name": "term", "type": "integer", "enum": ["15", "30"]})
    assert validate_fields(vertical, {"term": "30"}) == ({"term": 30}, [])
