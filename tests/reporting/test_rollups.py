"""Leads sold through the engine show up in the rollup reports, exactly as in the raw rows."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from pingtree.reporting.periods import By
from pingtree.reporting.reports import Filters, campaign_report, publisher_report
from pingtree.storage.tables import AttemptRow
from tests.engine.conftest import WEDNESDAY_NOON, Harness, sim_buyer
from tests.factories import LEAD_FIELDS, campaign, document, tier
from tests.reporting.books import keep_books

UTC_ZONE = ZoneInfo("UTC")
DAY = WEDNESDAY_NOON.date()


async def _sell(h: Harness) -> None:
    h.buyers(sim_buyer("picky", accept_rate=0.0), sim_buyer("taker"))
    await h.configure(
        document(
            [campaign("picky", h.sim, price="20.00"), campaign("taker", h.sim, price="10.00")],
            [tier("t", "price", ["picky", "taker"])],
        )
    )
    for _ in range(3):
        assert (await h.post_lead()).json()["status"] == "sold"
    answer = await h.post_lead({**LEAD_FIELDS, "zip": "ABCDE"})
    assert answer.status_code == 422


async def test_a_report_adds_up_what_the_leads_did(engine_clocked: Harness) -> None:
    h = engine_clocked
    await _sell(h)
    kept = await keep_books(h.rt)
    assert kept.events == 4  # three leads answered, and the refusals counted
    async with h.rt.engine.connect() as conn:
        report = await campaign_report(conn, start=DAY, end=DAY, zone=UTC_ZONE, by=By.DAY)
        raw_reasons = dict(
            (
                await conn.execute(
                    select(AttemptRow.reason, func.count())
                    .where(AttemptRow.campaign == "picky")
                    .group_by(AttemptRow.reason)
                )
            ).all()
        )
    rows = {row.keys["campaign"]: row for row in report.rows}
    picky, taker = rows["picky"].figures, rows["taker"].figures
    assert (picky["offered"], picky["posted"], picky["rejected"], picky["sold"]) == (3, 3, 3, 0)
    assert rows["picky"].reasons["rejected_by_reason"] == raw_reasons
    assert picky["accept_rate"] == Decimal("0")
    assert (taker["offered"], taker["sold"], taker["revenue"]) == (3, 3, Decimal("30.00"))
    assert (taker["accept_rate"], taker["accepted_price"]) == (Decimal("1"), Decimal("10.00"))
    assert (taker["payout"], taker["cost_per_lead"]) == (Decimal("15.00"), Decimal("5.00"))
    assert rows["taker"].period.label == DAY.isoformat()
    assert report.rolled_at == WEDNESDAY_NOON

    async with h.rt.engine.connect() as conn:
        publishers = await publisher_report(conn, start=DAY, end=DAY, zone=UTC_ZONE, by=By.TOTAL)
    (pub,) = publishers.rows
    assert pub.keys == {"publisher": "pub"}
    figures = pub.figures
    assert (figures["sent"], figures["sold"], figures["unsold"]) == (3, 3, 0)
    assert (figures["revenue"], figures["payout"], figures["profit"]) == (
        Decimal("30.00"),
        Decimal("15.00"),
        Decimal("15.00"),
    )
    assert figures["average_answer_ms"] == 0  # the manual clock did not move


async def test_rolling_twice_counts_each_lead_once(engine: Harness) -> None:
    h = engine
    await _sell(h)
    await keep_books(h.rt)
    again = await keep_books(h.rt)
    assert again.events == 0
    today = h.rt.clock.now().date()
    async with h.rt.engine.connect() as conn:
        report = await campaign_report(
            conn, start=today, end=today, zone=UTC_ZONE, by=By.TOTAL, filters=Filters(buyer="taker")
        )
    assert [(r.keys["campaign"], r.figures["sold"]) for r in report.rows] == [("taker", 3)]


async def test_intake_refusals_count_for_the_publisher(engine_clocked: Harness) -> None:
    h = engine_clocked
    await _sell(h)
    await keep_books(h.rt)
    async with h.rt.engine.connect() as conn:
        report = await publisher_report(
            conn, start=DAY - timedelta(days=1), end=DAY, zone=UTC_ZONE, by=By.DAY
        )
    (row,) = report.rows
    assert row.figures["refused"] == 1
    assert row.reasons["refused_by_reason"] == {"invalid_field": 1}


async def test_test_leads_count_nowhere(engine_clocked: Harness) -> None:
    h = engine_clocked
    h.buyers(sim_buyer("taker"))
    await h.configure(document([campaign("taker", h.sim)], [tier("t", "priority", ["taker"])]))
    assert (await h.post_lead(test=True)).json()["status"] == "sold"
    kept = await keep_books(h.rt)
    assert (kept.events, kept.entries) == (0, 0)
    async with h.rt.engine.connect() as conn:
        report = await campaign_report(conn, start=DAY, end=DAY, zone=UTC_ZONE, by=By.DAY)
    assert report.rows == []
