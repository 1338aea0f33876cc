"""Filters are checked against their vertical's fields when a configuration is validated."""

from __future__ import annotations

from typing import Any

from pingtree.config.document import ConfigDocument, reference_errors


def _doc(filters: list[dict[str, Any]]) -> ConfigDocument:
    post = {
        "url": "http://127.0.0.1:9/post",
        "response": {"rules": [{"source": "status", "equals": "200", "outcome": "accepted"}]},
    }
    return ConfigDocument.model_validate(
        {
            "verticals": [
                {
                    "name": "v",
                    "fields": [
                        {"name": "age", "type": "integer"},
                        {"name": "geoState", "type": "state"},
                        {"name": "hour", "derived": {"hour_of": "received_at"}},
                    ],
                }
            ],
            "buyers": [{"name": "b"}],
            "campaigns": [
                {
                    "name": "c",
                    "buyer": "b",
                    "vertical": "v",
                    "filters": filters,
                    "price": {"amount": "1.00"},
                    "delivery": {"post": post},
                }
            ],
        }
    )


def test_numbers_on_numeric_and_derived_fields_and_camel_case_names_are_accepted() -> None:
    doc = _doc(
        [
            {"field": "age", "op": "in", "values": [13, "14"]},
            {"field": "hour", "op": "equals", "value": 9},
            {"field": "geoState", "op": "in", "values": ["CA"]},
        ]
    )
    assert reference_errors(doc) == []


def test_a_word_on_a_numeric_field_is_named() -> None:
    doc = _doc([{"field": "age", "op": "in", "values": [13, "teen"]}])
    assert reference_errors(doc) == [
        ("campaigns[0].filters[0]", "'age' is a numeric field: 'teen' is no number")
    ]
