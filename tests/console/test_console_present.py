"""How stored values read in the console."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

from pingtree.console import present


def test_money_and_percent() -> None:
    assert present.money(Decimal("1234567.5")) == "1,234,567.50"
    assert present.money(None) == "–"
    assert present.percent(Decimal(2) / Decimal(3)) == "66.7%"
    assert present.percent(None) == "–"


def test_times_are_shown_in_utc() -> None:
    at = datetime(2024, 5, 1, 2, 30, tzinfo=timezone(timedelta(hours=2)))
    assert present.when(at) == "2024-05-01 00:30:00 UTC"
    assert present.when(datetime(2024, 5, 1, tzinfo=UTC)) == "2024-05-01 00:00:00 UTC"


def test_pretty_bodies() -> None:
    assert present.pretty('{"b":1,"a":[1]}') == '{\n  "a": [\n    1\n  ],\n  "b": 1\n}'
    assert present.pretty("status=ok") == "status=ok"
    assert present.pretty('"just a string"') == '"just a string"'
    assert present.pretty({"x": Decimal("1.50")}) == '{\n  "x": "1.50"\n}'


def test_credentials_are_masked() -> None:
    headers = {"Authorization": "Basic abc", "X-API-Key": "k", "Accept": "*/*"}
    assert present.masked_headers(headers) == {
        "Authorization": "***",
        "X-API-Key": "***",
        "Accept": "*/*",
    }
    assert present.masked_headers(None) == {}
    head = present.request_head({"method": "POST", "url": "https://b.test", "headers": headers})
    assert head == "POST https://b.test\nAuthorization: ***\nX-API-Key: ***\nAccept: */*"
