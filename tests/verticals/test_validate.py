"""Unicode digits in digit-typed fields become ASCII; other text is kept as typed."""

from __future__ import annotations

import time
from typing import Any

import pytest

from pingtree.verticals.model import Vertical
from pingtree.verticals.validate import ascii_digits, validate_fields

VERTICAL = Vertical.model_validate(
    {
        "name": "v",
        "fields": [
            {"name": "zip", "type": "zip"},
            {"name": "phone", "type": "phone"},
            {"name": "age", "type": "integer"},
            {"name": "income", "type": "number"},
            {"name": "born", "type": "date"},
            {"name": "note"},
            {"name": "code", "regex": r"\d{3}"},
        ],
    }
)


@pytest.mark.parametrize(
    ("raw", "ascii"),
    [
        ("١٠٠٠١", "10001"),  # Arabic-Indic
        ("۱۰۰۰۱", "10001"),  # Extended Arabic-Indic (Persian)
        ("१००", "100"),  # Devanagari
        ("（２１２）７３６－５０００", "(212)736-5000"),  # full-width
        ("10001", "10001"),
    ],
)
def test_ascii_digits(raw: str, ascii: str) -> None:
    assert ascii_digits(raw) == ascii


def test_digit_fields_are_stored_with_ascii_digits() -> None:
    fields: dict[str, Any] = {
        "zip": "١٠٠٠١",
        "phone": "２１２－７３６－５０００",
        "age": "٣٦",
        "income": "５２０００.５０",
        "born": "１９９０-０１-３１",
        "note": "١٠٠",
    }
    clean, errors = validate_fields(VERTICAL, fields)
    assert errors == []
    assert clean == {
        "zip": "10001",
        "phone": "212-736-5000",
        "age": 36,
        "income": "52000.50",
        "born": "1990-01-31",
        "note": "١٠٠",  # a string field keeps what was typed
    }


def test_digits_that_do_not_make_a_value_are_refused() -> None:
    _clean, errors = validate_fields(VERTICAL, {"income": "١٫٥", "code": "١٢٣"})
    assert sorted(e.field for e in errors) == ["code", "income"]


def test_a_field_pattern_that_backtracks_on_a_value_refuses_the_field_in_time() -> None:
    # A publisher's value made for the operator's pattern: refused (a 422 naming the field),
    # not a loop held for as long as re would backtrack (2**200 ways to fail).
    vertical = Vertical.model_validate(
        {"name": "v", "fields": [{"name": "code", "regex": r"(a|a)*"}, {"name": "note"}]}
    )
    started = time.monotonic()
    _, errors = validate_fields(vertical, {"code": "a" * 200 + "!", "note": "x"})
    assert time.monotonic() - started < 2.0  # the limit is 0.1 s: a generous margin
    assert [(e.field, e.message) for e in errors] == [
        ("code", "could not be checked against (a|a)* in time (too complex a value)")
    ]
    _, errors = validate_fields(vertical, {"code": "aaa", "note": "x"})
    assert errors == []
