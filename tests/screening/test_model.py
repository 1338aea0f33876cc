"""The screening policy models: defaults, validation and overlays."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from pingtree.screening.model import (
    DEFAULT_ACTION,
    DEFAULT_PENALTY,
    Action,
    CheckConfig,
    Code,
    ScreeningPolicy,
)


def test_check_defaults_depend_on_the_code() -> None:
    for code, action in DEFAULT_ACTION.items():
        if code is Code.FIELD_RULE:
            continue
        config = CheckConfig.model_validate({"check": code.value})
        assert config.action is action
        assert config.penalty == DEFAULT_PENALTY[code]


def test_explicit_values_win_over_defaults() -> None:
    config = CheckConfig.model_validate({"check": "role_email", "action": "review", "penalty": 0})
    assert (config.action, config.penalty) == (Action.REVIEW, 0)


def test_field_rule_from_yaml_shape() -> None:
    config = CheckConfig.model_validate(
        {"check": "field_rule", "field": "credit_score", "min": "600", "in": ["600", "700"]}
    )
    assert config.min == Decimal("600")
    assert config.in_values == ["600", "700"]
    assert config.model_dump(by_alias=True, exclude_unset=True)["in"] == ["600", "700"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"check": "nope"}, "Input should be"),
        ({"check": "low_score"}, "low_score comes from"),
        ({"check": "field_rule", "min": 1}, "field_rule needs a field"),
        ({"check": "field_rule", "field": "x"}, "at least one of"),
        ({"check": "field_rule", "field": "x", "min": 5, "max": 1}, "min must be <= max"),
        ({"check": "role_email", "max": 3}, "only for field_rule"),
        ({"check": "role_email", "in": ["a"]}, "parameters in are only for field_rule"),
        ({"check": "invalid_zip", "state_field": "st"}, "state_field only applies"),
        ({"check": "role_email", "penalty": 101}, "less than or equal to 100"),
        ({"check": "role_email", "action": "drop"}, "Input should be"),
        ({"check": "role_email", "field": "Bad Name"}, "String should match"),
        ({"check": "role_email", "colour": "red"}, "Extra inputs"),
    ],
)
def test_check_config_validation(data: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        CheckConfig.model_validate(data)


def test_policy_rejects_duplicate_checks() -> None:
    with pytest.raises(ValidationError, match="configured twice"):
        ScreeningPolicy.model_validate({"checks": [{"check": "role_email"}] * 2})
    ScreeningPolicy.model_validate(
        {"checks": [{"check": "invalid_phone"}, {"check": "invalid_phone", "field": "alt"}]}
    )


def test_policy_thresholds_ordered() -> None:
    with pytest.raises(ValidationError, match="reject_below must be <= review_below"):
        ScreeningPolicy(reject_below=80, review_below=40)


def test_bands_unique_and_sorted() -> None:
    with pytest.raises(ValidationError, match="names must be unique"):
        ScreeningPolicy.model_validate(
            {"bands": [{"name": "a", "min_score": 1}, {"name": "a", "min_score": 2}]}
        )
    with pytest.raises(ValidationError, match="min_score values must be unique"):
        ScreeningPolicy.model_validate(
            {"bands": [{"name": "a", "min_score": 1}, {"name": "b", "min_score": 1}]}
        )
    policy = ScreeningPolicy.model_validate(
        {"bands": [{"name": "low", "min_score": 0}, {"name": "top", "min_score": 90}]}
    )
    assert [band.name for band in policy.bands] == ["top", "low"]
    assert policy.band_for(95) == "top"
    assert policy.band_for(89) == "low"


def test_dedup_and_suppression_defaults() -> None:
    policy = ScreeningPolicy()
    assert policy.dedup.enabled
    assert policy.dedup.window_hours == 720
    assert policy.dedup.fields == ["email", "phone"]
    assert policy.suppression.enabled
    with pytest.raises(ValidationError):
        ScreeningPolicy.model_validate({"dedup": {"fields": ["email", "email"]}})
    with pytest.raises(ValidationError):
        ScreeningPolicy.model_validate({"dedup": {"window_hours": 0}})


def test_standard_policy_has_every_built_in_check() -> None:
    checks = {config.check for config in ScreeningPolicy.standard().checks}
    assert checks == set(Code) - {Code.FIELD_RULE, Code.LOW_SCORE}


def test_overlay_publisher_on_vertical() -> None:
    vertical = ScreeningPolicy.model_validate(
        {
            "checks": [
                {"check": "role_email"},
                {"check": "invalid_ip"},
                {"check": "field_rule", "field": "credit_score", "min": 600},
                {"check": "field_rule", "field": "infractions", "max": 2},
            ],
            "reject_below": 30,
            "dedup": {"window_hours": 48},
        }
    )
    publisher = ScreeningPolicy.model_validate(
        {
            "checks": [
                {"check": "role_email", "action": "reject"},
                {"check": "invalid_ip", "enabled": False},
                {"check": "field_rule", "field": "credit_score", "min": 650},
                {"check": "field_rule", "field": "infractions", "enabled": False},
                {"check": "fake_phone"},
            ],
            "review_below": 60,
        }
    )
    merged = vertical.overlay(publisher)
    by_key = {config.key: config for config in merged.checks}
    assert by_key[(Code.ROLE_EMAIL, None)].action is Action.REJECT
    assert not by_key[(Code.INVALID_IP, None)].enabled
    assert by_key[(Code.FIELD_RULE, "credit_score")].min == Decimal("650")
    assert not by_key[(Code.FIELD_RULE, "infractions")].enabled
    assert (Code.FAKE_PHONE, None) in by_key
    # Unset in the override: the vertical's values stay.
    assert merged.reject_below == 30
    assert merged.review_below == 60
    assert merged.dedup.window_hours == 48


def test_overlay_result_is_validated() -> None:
    vertical = ScreeningPolicy(review_below=50)
    with pytest.raises(ValidationError, match="reject_below must be <= review_below"):
        vertical.overlay(ScreeningPolicy(reject_below=70))
