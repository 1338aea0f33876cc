"""The buyers and campaigns tables read the campaign rollups: for the same leads they show
the figures the raw exchanges and sales give (counted as the tables counted them before),
the average latency and the distinct leads posted (a buyer's, over its campaigns) included.
On both databases."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Integer, case, distinct, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from pingtree.buyers.model import Exchange
from pingtree.clock import ManualClock
from pingtree.reporting import series
from pingtree.storage.tables import AttemptRow, Lead, Sale
from tests.console.conftest import Harness
from tests.engine.conftest import ADMIN_TOKEN, sim_buyer
from tests.factories import campaign, document, tier
from tests.reporting.books import keep_books

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
MEAN_WITHIN_MS = 0.001
"""The rollups add each exchange's duration rounded to the microsecond (reporting.events),
the raw rows keep it whole: their means agree within 0.0005 ms an exchange. (Compared as
text at one decimal they differed at a rounding edge: '15.7' against '15.6'.)"""


def _count_if(condition: Any) -> Any:
    return func.sum(case((condition, 1), else_=0), type_=Integer)


async def raw_figures(
    session: AsyncSession, since: datetime, until: datetime, publisher: str | None, by: str
) -> list[tuple[Any, ...]]:
    """The table rows as the raw attempt and sale rows give them (the tables' old queries)."""
    keys = [AttemptRow.buyer] + ([AttemptRow.campaign] if by == "campaign" else [])
    attempts = (
        select(
            *keys,
            _count_if(AttemptRow.kind == Exchange.PING),
            _count_if(AttemptRow.kind == Exchange.POST),
            func.count(distinct(case((AttemptRow.kind == Exchange.POST, AttemptRow.lead_id)))),
            _count_if(AttemptRow.outcome == "timeout"),
            _count_if(AttemptRow.outcome == "error"),
            _count_if(
                (AttemptRow.kind == Exchange.POST)
                & AttemptRow.outcome.in_(("rejected", "duplicate"))
            ),
            func.avg(AttemptRow.duration_ms),
        )
        .where(AttemptRow.test.is_(False))
        .where(AttemptRow.started_at >= since, AttemptRow.started_at < until)
        .group_by(*keys)
    )
    sale_keys = [Sale.buyer] + ([Sale.campaign] if by == "campaign" else [])
    sales = (
        select(*sale_keys, func.count(Sale.id), func.sum(Sale.price))
        .where(Sale.test.is_(False), Sale.sold_at >= since, Sale.sold_at < until)
        .group_by(*sale_keys)
    )
    if publisher:
        attempts = attempts.where(
            AttemptRow.lead_id.in_(select(Lead.id).where(Lead.publisher == publisher))
        )
        sales = sales.where(Sale.publisher == publisher)
    width = len(keys)
    found: dict[tuple[str, ...], dict[str, Any]] = {}
    for row in await session.execute(attempts):
        pings, posts, offered, timeouts, errors, rejections, mean = row[width:]
        found[tuple(row[:width])] = {
            "pings": int(pings),
            "posts": int(posts),
            "offered": int(offered),
            "sold": 0,
            "timeouts": int(timeouts),
            "errors": int(errors),
            "rejections": int(rejections),
            "mean_ms": pytest.approx(float(mean), abs=MEAN_WITHIN_MS),
            "revenue": Decimal("0.00"),
        }
    for row in await session.execute(sales):
        figures = found[tuple(row[:width])]
        figures["sold"], figures["revenue"] = int(row[width]), Decimal(row[width + 1])
    return sorted((*key, figures) for key, figures in found.items())


def shown(rows: list[series.BuyerFigures], by: str) -> list[tuple[Any, ...]]:
    """The tables' rows, as raw_figures gives them."""
    out = []
    for f in rows:
        key = (f.buyer, f.campaign) if isinstance(f, series.CampaignFigures) else (f.buyer,)
        figures = {
            "pings": f.pings,
            "posts": f.posts,
            "offered": f.offered,
            "sold": f.sold,
            "timeouts": f.timeouts,
            "errors": f.errors,
            "rejections": f.rejections,
            "mean_ms": f.mean_ms,
            "revenue": f.revenue,
        }
        out.append((*key, figures))
    assert all(len(row) == (3 if by == "campaign" else 2) for row in out)
    return sorted(out)


async def test_the_buyer_and_campaign_tables_equal_the_raw_exchanges(
    engine_clocked: Harness,
) -> None:
    h = engine_clocked
    clock = h.rt.clock
    assert isinstance(clock, ManualClock)
    h.buyers(
        sim_buyer("apex", latency_ms_min=5.0, latency_ms_max=30.0),
        sim_buyer("naysayer", accept_rate=0.0),
        sim_buyer("broken", error_rate=1.0),
        sim_buyer("sleepy", hang_rate=1.0),
    )
    await h.configure(
        document(
            [
                # apex's first campaign turns the lead down, its second buys it: apex was
                # posted one lead twice (offered 1, posts 2).
                campaign("apex-no", h.sim, buyer="apex", sim_buyer="naysayer", price="30.00"),
                campaign("apex-yes", h.sim, buyer="apex", sim_buyer="apex", price="20.00"),
                campaign("broken", h.sim, price="40.00"),
                campaign("sleepy", h.sim, price="35.00", ping=True, timeout_ms=150),
            ],
            [
                tier("first", "priority", ["broken", "sleepy", "apex-no"]),
                tier("second", "priority", ["apex-yes"]),
            ],
            payout={"type": "fixed", "amount": "6.00"},
        )
    )
    pubs = []
    for i in range(4):
        pub = await h.post_lead()
        assert pub.status_code == 200, pub.text
        pubs.append(pub.json()["status"])
        clock.advance(3600 + 120 * i)
    assert "sold" in pubs
    until = clock.now().replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    since = until - timedelta(days=7)
    async with h.rt.sessions() as session:
        # Read from the rollups, not the raw rows: nothing shows before the roller took
        # the leads in.
        assert await series.buyers(session, series.Scope(since, until)) == []
        assert await series.campaigns(session, series.Scope(since, until)) == []
    await keep_books(h.rt)
    async with h.rt.sessions() as session:
        name = (await session.scalars(select(Lead.publisher))).first()
        for who in (None, name):
            scope = series.Scope(since, until, who)
            buyers = shown(await series.buyers(session, scope), "buyer")
            raw_buyers = await raw_figures(session, since, until, who, "buyer")
            assert buyers == raw_buyers
            campaigns = shown(await series.campaigns(session, scope), "campaign")
            assert campaigns == await raw_figures(session, since, until, who, "campaign")
        elsewhere = series.Scope(since, until, "no-such-publisher")
        assert await series.buyers(session, elsewhere) == []
    figures = {row[0]: row[1] for row in raw_buyers}
    # The data has what the tables count: pings, timeouts, errors, rejections, a buyer
    # posted the same lead by two campaigns, a latency.
    assert figures["apex"]["posts"] > figures["apex"]["offered"] > 0
    assert figures["sleepy"]["timeouts"] > 0 and figures["sleepy"]["pings"] > 0
    assert figures["broken"]["errors"] > 0 and figures["apex"]["rejections"] > 0
    assert figures["apex"]["mean_ms"].expected > 0

    # The page's CSV shows the same rows (7 days in UTC: the same scope).
    got = await h.client.get(
        "/console/reports/buyers.csv", params={"period": "7d", "tz": "UTC"}, headers=ADMIN
    )
    csv_rows = {r["buyer"]: r for r in csv.DictReader(io.StringIO(got.text))}
    assert set(csv_rows) == set(figures)
    for buyer, row in csv_rows.items():
        raw = figures[buyer]
        assert (int(row["posts"]), int(row["offered"])) == (raw["posts"], raw["offered"])
        shown_ms = float(row["mean_ms"])  # one decimal on the page
        assert shown_ms == pytest.approx(raw["mean_ms"].expected, abs=0.05 + MEAN_WITHIN_MS)
        assert Decimal(row["revenue"]) == raw["revenue"]
