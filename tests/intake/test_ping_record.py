"""An inbound ping's stored record: the pings it made, kept with it until it is posted.

A ping stored before an Attempt held its Answer (and the Answer its Reading) kept each
attempt flat; posted after, it is read into the composed shape, and its rows and timeline
are the same as before.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from pydantic import TypeAdapter

from pingtree.buyers.model import Exchange, Outcome
from pingtree.intake.inbound import PingRecord
from pingtree.leads.repository import attempt_values
from pingtree.routing.model import Answer, Attempt, Reading, Skip, SkipReason

LATE = "late for the auction: no bid within its 300 ms window"

FLAT: dict[str, Any] = {
    # As the version before stored it (TypeAdapter(PingRecord).dump_python(mode="json")).
    "attempts": [
        {
            "campaign": "top",
            "buyer": "top",
            "kind": "ping",
            "outcome": "accepted",
            "started_at": "2026-12-03T18:00:00.120000Z",
            "duration_ms": 12.5,
            "price": "40.00",
            "reference": "bid-7",
            "reason": None,
            "redirect_url": None,
            "request": {
                "method": "POST",
                "url": "http://127.0.0.1:9/ping",
                "body": '{"zip": "10001"}',
            },
            "response": {
                "status": 200,
                "body": '{"status": "bid"}',
                "captured": {"tier": "gold"},
            },
            "tier": "auction",
            "bid_price": None,
            "answer_price": "40.00",
            "price_mismatch": False,
        },
        {
            "campaign": "slow",
            "buyer": "slow",
            "kind": "ping",
            "outcome": "timeout",
            "started_at": "2026-12-03T18:00:00.100000Z",
            "duration_ms": 300.0,
            "price": None,
            "reference": None,
            "reason": LATE,
            "redirect_url": None,
            "request": {},
            "response": {},
            "tier": "auction",
            "bid_price": None,
            "answer_price": None,
            "price_mismatch": False,
        },
    ],
    "skips": [{"campaign": "slow", "reason": "late", "detail": LATE, "tier": "auction"}],
}

COMPOSED = PingRecord(
    attempts=[
        Attempt(
            campaign="top",
            buyer="top",
            kind=Exchange.PING,
            started_at=datetime(2026, 12, 3, 18, 0, 0, 120000, tzinfo=UTC),
            answer=Answer(
                Reading(
                    Outcome.ACCEPTED,
                    price=Decimal("40.00"),
                    reference="bid-7",
                    captured={"tier": "gold"},
                ),
                duration_ms=12.5,
                request=FLAT["attempts"][0]["request"],
                response=FLAT["attempts"][0]["response"],
            ),
            tier="auction",
        ),
        Attempt(
            campaign="slow",
            buyer="slow",
            kind=Exchange.PING,
            started_at=datetime(2026, 12, 3, 18, 0, 0, 100000, tzinfo=UTC),
            answer=Answer(Reading(Outcome.TIMEOUT, reason=LATE), duration_ms=300.0),
            tier="auction",
        ),
    ],
    skips=[Skip("slow", SkipReason.LATE, LATE, "auction")],
)


def test_a_ping_stored_flat_is_read_composed() -> None:
    assert PingRecord.of(copy.deepcopy(FLAT)) == COMPOSED


def test_a_ping_stored_flat_writes_the_rows_it_wrote_before() -> None:
    as_json = TypeAdapter(dict[str, Any])
    rows = [as_json.dump_python(attempt_values(a), mode="json") for a in COMPOSED.attempts]
    assert rows == FLAT["attempts"]


def test_a_record_is_stored_composed_and_read_back_whole() -> None:
    stored = COMPOSED.to_json()
    assert stored["attempts"][0]["answer"]["reading"]["price"] == "40.00"
    assert "outcome" not in stored["attempts"][0]  # nothing copied beside the answer
    assert PingRecord.of(stored) == COMPOSED


def test_a_ping_stored_before_records_were_kept_has_none() -> None:
    assert PingRecord.of(None) == PingRecord()
