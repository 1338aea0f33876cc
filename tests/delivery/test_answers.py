"""What an answer can be: 3xx, non-2xx accepts, bounded prices (issue 7, points 2, 3, 5)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from pingtree.buyers.model import Outcome, Price, ResponseRules
from pingtree.delivery.responses import BuyerResponse, read_response
from pingtree.money import parse_money

RULES = ResponseRules.model_validate(
    {
        "rules": [
            {"source": "json", "path": "$.status", "equals": "accepted", "outcome": "accepted"},
            {"source": "json", "path": "$.status", "equals": "rejected", "outcome": "rejected"},
        ],
        "price": {"source": "json", "path": "$.price"},
        "reason": {"source": "json", "path": "$.reason"},
    }
)


def answer(text: str, status: int = 200, **headers: str) -> BuyerResponse:
    return BuyerResponse(status=status, headers=headers, text=text)


ACCEPT = '{"status": "accepted", "price": "12.00"}'


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_3xx_is_a_redirect_error_even_with_an_accept_body(status: int) -> None:
    got = read_response(RULES, answer(ACCEPT, status, Location="https://elsewhere.example/p"))
    assert got.outcome is Outcome.ERROR
    assert got.reason == f"redirect: HTTP {status} to https://elsewhere.example/p"


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422, 429, 418, 199])
def test_a_non_2xx_accept_body_is_an_error(status: int) -> None:
    got = read_response(RULES, answer(ACCEPT, status))
    assert got.outcome is Outcome.ERROR and (got.reason or "").startswith("not_2xx:")
    assert got.price is None


@pytest.mark.parametrize("status", [200, 201, 202, 204, 299])
def test_a_2xx_accept_body_is_an_accept(status: int) -> None:
    got = read_response(RULES, answer(ACCEPT, status))
    assert (got.outcome, got.price) == (Outcome.ACCEPTED, Decimal("12.00"))


def test_a_4xx_rejection_keeps_its_reason() -> None:
    got = read_response(RULES, answer('{"status": "rejected", "reason": "bad zip"}', 422))
    assert (got.outcome, got.reason) == (Outcome.REJECTED, "bad zip")


def test_only_a_rule_on_the_status_accepts_a_non_2xx_answer() -> None:
    by_status = ResponseRules.model_validate(
        {"rules": [{"source": "status", "matches": "^409$", "outcome": "accepted"}]}
    )
    assert read_response(by_status, answer("", 409)).outcome is Outcome.ACCEPTED
    lenient = ResponseRules.model_validate(
        {
            "rules": [{"source": "json", "path": "$.x", "exists": True, "outcome": "rejected"}],
            "otherwise": "accepted",
        }
    )
    assert read_response(lenient, answer("{}", 200)).outcome is Outcome.ACCEPTED
    assert read_response(lenient, answer("{}", 404)).outcome is Outcome.ERROR


ABSURD = ["1e30", "9" * 40, "1e9", "NaN", "-5", "0", "0.001", "sNaN", "-0", "1e-30", "Infinity"]


@pytest.mark.parametrize("price", ABSURD)
def test_an_absurd_price_in_a_bid_is_an_invalid_bid(price: str) -> None:
    body = f'{{"status": "accepted", "price": "{price}"}}'
    got = read_response(RULES, answer(body), max_price=Decimal("1000"), bid=True)
    assert got.outcome is Outcome.ERROR
    assert (got.reason or "").startswith("invalid_bid:"), got.reason


@pytest.mark.parametrize("price", ABSURD)
def test_an_absurd_price_in_an_accepted_post_is_kept_out_of_the_books(price: str) -> None:
    body = f'{{"status": "accepted", "price": "{price}"}}'
    got = read_response(RULES, answer(body), max_price=Decimal("1000"))
    assert got.outcome is Outcome.ACCEPTED and got.price is None
    assert got.answered_price == price[:40]


def test_a_price_up_to_max_price_is_a_price() -> None:
    at_max = read_response(
        RULES, answer('{"status": "accepted", "price": "75.00"}'), bid=True, max_price=Decimal("75")
    )
    assert at_max.price == Decimal("75.00")
    over = read_response(
        RULES, answer('{"status": "accepted", "price": "75.01"}'), bid=True, max_price=Decimal("75")
    )
    assert over.outcome is Outcome.ERROR


@given(st.one_of(st.text(max_size=80), st.floats(), st.integers(), st.decimals()))
def test_parse_money_never_raises_and_stays_storable(raw: Any) -> None:
    value = parse_money(raw)
    if value is not None:
        assert value.is_finite() and 0 <= value <= Decimal("9999999999.99")
        assert value == value.quantize(Decimal("0.01"))


@pytest.mark.parametrize("raw", ["1e30", "9" * 40, "1" * 100, "1e999999999", "-1e30"])
def test_huge_amounts_are_not_money(raw: str) -> None:
    assert parse_money(raw) is None


def test_max_price_and_post_price_defaults_and_checks() -> None:
    price = Price.model_validate({"type": "bid"})
    assert price.max_price == Decimal("1000.00") and price.post_price == "bid"
    assert price.booked(Decimal("30"), Decimal("5")) == Decimal("30")
    assert Price.model_validate({"type": "bid", "post_price": "lower"}).booked(
        Decimal("30"), Decimal("5")
    ) == Decimal("5")
    assert Price.model_validate({"type": "bid", "post_price": "answer"}).booked(
        Decimal("30"), None
    ) == Decimal("30")
    with pytest.raises(ValidationError, match="floor"):
        Price.model_validate({"type": "bid", "floor": "50", "max_price": "20"})
    with pytest.raises(ValidationError, match="max_price"):
        Price.model_validate({"type": "bid", "max_price": "0"})
