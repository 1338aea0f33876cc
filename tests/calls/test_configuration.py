"""What the configuration refuses about calls, naming the key and the reason."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from pingtree.buyers.calls import CallTerms
from pingtree.config.document import ConfigDocument, reference_errors
from pingtree.verticals.calls import IvrQuestion
from tests.calls.conftest import CALL_VERTICAL, TRACKING
from tests.factories import VERTICAL


def _document(**changes: Any) -> ConfigDocument:
    spec: dict[str, Any] = {
        "verticals": [CALL_VERTICAL, {**VERTICAL, "name": "forms"}],
        "publishers": [{"name": "pub", "numbers": [{"number": TRACKING, "vertical": "auto"}]}],
        "buyers": [{"name": "acme"}],
        "campaigns": [
            {
                "name": "acme",
                "buyer": "acme",
                "vertical": "auto",
                "price": {"type": "fixed", "amount": "30"},
                "delivery": {},
                "call": {"dial": "sip:agent@acme.example"},
            }
        ],
    }
    spec.update(changes)
    return ConfigDocument.model_validate(spec)


def test_a_valid_calls_configuration_has_no_reference_errors() -> None:
    assert reference_errors(_document()) == []


def test_ivr_and_caller_fields_must_be_the_verticals() -> None:
    vertical = {
        **CALL_VERTICAL,
        "calls": {"caller_field": "phon", "ivr": [{"field": "zipp", "say": "ZIP?", "digits": 5}]},
    }
    errors = dict(reference_errors(_document(verticals=[vertical])))
    assert "did you mean 'phone'" in errors["verticals[0].calls.caller_field"]
    assert "did you mean 'zip'" in errors["verticals[0].calls.ivr[0].field"]


def test_a_tracking_number_names_a_vertical_that_takes_calls_and_belongs_to_one_publisher() -> None:
    publishers = [
        {"name": "pub", "numbers": [{"number": TRACKING, "vertical": "forms"}]},
        {"name": "other", "numbers": [{"number": TRACKING, "vertical": "autos"}]},
    ]
    errors = dict(reference_errors(_document(publishers=publishers)))
    assert errors["publishers[0].numbers[0].vertical"] == "vertical 'forms' takes no calls"
    assert "unknown vertical 'autos'" in errors["publishers[1].numbers[0].vertical"]
    assert errors["publishers[1].numbers[0].number"] == f"{TRACKING} is 'pub''s number already"


@pytest.mark.parametrize(
    ("terms", "message"),
    [
        ({"dial": "5550001111"}, "neither an E.164 number"),
        ({"dial": "+15550001111", "ring_s": 1}, "greater than or equal to 5"),
        ({"dial": "+15550001111", "concurrency": 0}, "greater than or equal to 1"),
    ],
)
def test_call_terms_refuse_what_cannot_be_dialed(terms: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        CallTerms.model_validate(terms)


def test_an_ivr_question_takes_digits_or_choices() -> None:
    with pytest.raises(ValidationError, match="either digits"):
        IvrQuestion.model_validate({"field": "zip", "say": "ZIP?"})
    with pytest.raises(ValidationError, match="either digits"):
        IvrQuestion.model_validate({"field": "zip", "say": "?", "digits": 5, "choices": {"1": "a"}})
    assert IvrQuestion.model_validate({"field": "x", "say": "?", "choices": {"12": "a"}}).keys == 2


def test_only_a_campaign_that_buys_calls_may_have_no_post() -> None:
    campaign = {
        "name": "acme",
        "buyer": "acme",
        "vertical": "auto",
        "price": {"type": "fixed", "amount": "30"},
        "delivery": {},
    }
    with pytest.raises(ValidationError, match=r"delivery\.post is required"):
        _document(campaigns=[campaign])
