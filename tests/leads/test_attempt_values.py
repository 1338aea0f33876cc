"""One flat view of an attempt: the row it is stored in and the API's AttemptOut agree with
attempt_values, the one function that flattens an Attempt."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from pingtree.buyers.model import Exchange, Outcome
from pingtree.leads.repository import attempt_values
from pingtree.leads.schemas import AttemptOut
from pingtree.routing.model import Answer, Attempt, Reading
from pingtree.storage.tables import AttemptRow

POST = Attempt(
    campaign="c",
    buyer="b",
    kind=Exchange.POST,
    started_at=datetime(2026, 12, 3, 18, tzinfo=UTC),
    answer=Answer(
        Reading(Outcome.ACCEPTED, price=Decimal("8.00"), reference="r-1", redirect_url="u"),
        duration_ms=12.34567,
        request={"url": "post"},
        response={"status": 200},
    ),
    tier="t",
    bid_price=Decimal("9.00"),
)


def test_the_row_and_the_api_hold_what_attempt_values_gives() -> None:
    values = attempt_values(POST)
    row = {c.name for c in AttemptRow.__table__.columns} - {"id", "lead_id", "test"}
    assert set(values) == row == set(AttemptOut.model_fields)


def test_an_attempt_flat_names_its_answer_and_its_agreed_price() -> None:
    shown = AttemptOut.model_validate(attempt_values(POST))
    assert shown.model_dump(mode="json") == {
        "campaign": "c",
        "buyer": "b",
        "tier": "t",
        "kind": "post",
        "outcome": "accepted",
        "price": "8.00",
        "reference": "r-1",
        "reason": None,
        "redirect_url": "u",
        "started_at": "2026-12-03T18:00:00Z",
        "duration_ms": 12.346,
        "request": {"url": "post"},
        "response": {"status": 200},
        "bid_price": "9.00",
        "answer_price": "8.00",
        "price_mismatch": True,
    }
