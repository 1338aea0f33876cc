"""Response rules as a user moving from LeadConduit or LeadExec writes them."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pingtree.buyers.model import Outcome, ResponseRules
from pingtree.buyers.selectors import compile_selector
from pingtree.delivery.responses import BuyerResponse, Reader, read_response
from pingtree.money import LARGEST, parse_money


def rules(**spec: Any) -> ResponseRules:
    return ResponseRules.model_validate(spec)


def answer(text: str, status: int = 200, headers: dict[str, str] | None = None) -> BuyerResponse:
    return BuyerResponse(status=status, headers=headers or {}, text=text)


JSON_RULES = rules(
    rules=[
        {"source": "json", "path": "$.result.status", "equals": "success", "outcome": "accepted"},
        {"source": "json", "path": "$.result.status", "contains": "dup", "outcome": "duplicate"},
        {
            "source": "json",
            "path": "$.result.status",
            "matches": "^(fail|reject)",
            "outcome": "rejected",
        },
    ],
    price={"source": "json", "path": "$.result.payout"},
    reference={"source": "json", "path": "$.result.ids[0]"},
    reason={"source": "json", "path": "$.result.message"},
    redirect_url={"source": "json", "path": "$.result.url"},
)


def test_json_rules_read_outcome_price_reference_reason_redirect() -> None:
    got = read_response(
        JSON_RULES,
        answer(
            '{"result": {"status": "Success", "payout": "31.50", "ids": ["B-9"],'
            ' "url": "https://b.example/x", "message": "ok"}}'
        ),
    )
    assert got.outcome is Outcome.ACCEPTED
    assert got.price == Decimal("31.50") and got.reference == "B-9"
    assert got.redirect_url == "https://b.example/x" and got.reason == "ok"


@pytest.mark.parametrize(
    ("status", "expected"),
    [("duplicate lead", Outcome.DUPLICATE), ("rejected: zip", Outcome.REJECTED)],
)
def test_contains_and_matches(status: str, expected: Outcome) -> None:
    assert (
        read_response(JSON_RULES, answer(f'{{"result": {{"status": "{status}"}}}}')).outcome
        is expected
    )


def test_5xx_is_always_an_error_even_if_a_rule_says_accepted() -> None:
    got = read_response(JSON_RULES, answer('{"result": {"status": "success"}}', status=503))
    assert got.outcome is Outcome.ERROR and got.reason == "HTTP 503"


def test_a_200_html_error_page_is_an_error_not_an_accept() -> None:
    got = read_response(JSON_RULES, answer("<html><body>Internal error</body></html>"))
    assert got.outcome is Outcome.ERROR and "not JSON" in (got.reason or "")


def test_unrecognised_answer_takes_otherwise() -> None:
    lenient = rules(
        rules=[{"source": "json", "path": "$.ok", "equals": "true", "outcome": "accepted"}],
        otherwise="rejected",
    )
    assert read_response(lenient, answer('{"ok": false}')).outcome is Outcome.REJECTED
    strict = rules(
        rules=[{"source": "json", "path": "$.ok", "equals": "true", "outcome": "accepted"}]
    )
    assert read_response(strict, answer('{"ok": false}')).outcome is Outcome.ERROR


def test_xpath_regex_status_header_and_body_rules() -> None:
    xml = rules(
        rules=[
            {"source": "xpath", "path": "/response/@result", "equals": "ok", "outcome": "accepted"}
        ],
        price={"source": "xpath", "path": "//price"},
        reference={"source": "regex", "path": r"<id>(\w+)</id>"},
    )
    got = read_response(
        xml,
        answer('<response result="ok"><bid><price>$1,204.5</price></bid><id>Q7</id></response>'),
    )
    assert (got.outcome, got.price, got.reference) == (Outcome.ACCEPTED, Decimal("1204.50"), "Q7")
    by_status = rules(rules=[{"source": "status", "equals": "201", "outcome": "accepted"}])
    assert read_response(by_status, answer("", status=201)).outcome is Outcome.ACCEPTED
    by_header = rules(
        rules=[{"source": "header", "path": "X-Result", "equals": "sold", "outcome": "accepted"}]
    )
    assert (
        read_response(by_header, answer("", headers={"X-Result": "SOLD"})).outcome
        is Outcome.ACCEPTED
    )
    by_body = rules(rules=[{"source": "body", "contains": "lead accepted", "outcome": "accepted"}])
    assert read_response(by_body, answer("Result: Lead Accepted #44")).outcome is Outcome.ACCEPTED
    exists = rules(
        rules=[{"source": "json", "path": "$.error", "exists": True, "outcome": "rejected"}]
    )
    assert read_response(exists, answer('{"error": "bad zip"}')).outcome is Outcome.REJECTED


def test_json_path_misses_are_misses() -> None:
    doc = answer('{"a": [{"b": 1}]}')

    def found(path: str) -> list[str]:
        return compile_selector("json", path).find(doc).values

    assert found("$.a[0].b") == ["1"]
    assert found("$['a'][0]['b']") == ["1"]
    assert found("$.a[3].b") == []
    assert found("$.a.b") == []
    assert found("$.x") == []


@given(st.decimals(min_value=0, max_value=Decimal("99999999.99"), places=2))
def test_money_survives_every_way_a_buyer_writes_it(value: Decimal) -> None:
    for text in (str(value), f"${value}", f"{value:,}", f" {value} "):
        assert parse_money(text) == value


@pytest.mark.parametrize(
    ("raw", "charged"),
    [("30.005", "30.00"), ("30.009", "30.00"), ("0.004", "0.00"), ("1,200.999", "1200.99")],
)
def test_a_fraction_of_a_cent_is_dropped_never_charged(raw: str, charged: str) -> None:
    # The buyer pays what it bid at most: 30.005 rounded half up would charge it 30.01.
    assert parse_money(raw) == Decimal(charged)


@pytest.mark.parametrize(
    "raw",
    ["", "abc", "-5", "NaN", "Infinity", None, True, "9,50", "1,2,3", "12,34.5", "30_00", ",5"],
)
def test_not_money(raw: object) -> None:
    assert parse_money(raw) is None


@pytest.mark.parametrize(
    "text",
    [
        '{"status": "success", "status": "failed"}',
        '{"result": {"status": "success", "payout": "1.00", "payout": "31.50"}}',
        '[{"a": 1}, {"b": 2, "b": 3}]',
    ],
)
def test_a_json_answer_naming_a_key_twice_is_unreadable(text: str) -> None:
    reader = Reader("c", JSON_RULES, LARGEST, bid=False)
    got = reader.read(answer(text), None).reading
    assert got.outcome is Outcome.ERROR
    assert got.reason is not None and got.reason.startswith("unreadable_answer:")
    assert "twice" in got.reason


def test_the_same_key_in_two_objects_is_not_repeated() -> None:
    text = '{"result": {"status": "success", "payout": "31.50"}, "meta": {"status": "ok"}}'
    got = Reader("c", JSON_RULES, LARGEST, bid=False).read(answer(text), None).reading
    assert got.outcome is Outcome.ACCEPTED and got.price == Decimal("31.50")
