"""The buyers report: per campaign offered, sold, errors, timeouts, rejections, rate, revenue."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import httpx

from tests.console.conftest import BEARER, Rows


def row(html: str, campaign: str) -> dict[str, str]:
    found = re.search(rf'<tr data-campaign="{campaign}">(.*?)</tr>', html, re.S)
    assert found, campaign
    cells = re.findall(r'<td class="num (\w+)">([^<]*)</td>', found.group(1))
    return dict(cells)


async def seed(rows: Rows) -> None:
    await rows.add(*(rows.lead(f"L{i}") for i in range(1, 6)), rows.lead("T1", test=True))
    old = rows.now - timedelta(days=10)
    await rows.add(
        rows.attempt("L1", "alpha", "accepted", kind="ping"),
        rows.attempt("L1", "alpha", "accepted"),
        rows.attempt(
            "L2",
            "alpha",
            "accepted",
            bid_price=Decimal("30.01"),
            answer_price=Decimal("5.00"),
            price_mismatch=True,
        ),
        rows.attempt("L3", "alpha", "rejected"),
        rows.attempt("L4", "alpha", "error"),
        rows.attempt("L4", "alpha", "timeout"),  # a second post of one lead: offered once
        rows.attempt("L5", "alpha", "duplicate", started_at=old),
        rows.attempt("T1", "alpha", "accepted", test=True),
        rows.attempt("L1", "beta", "timeout", kind="ping"),
        rows.sale("L1", "alpha", "20.00", "10.00"),
        rows.sale("L2", "alpha", "30.01", "15.00"),
        rows.sale("T1", "alpha", "99.00", "50.00", test=True),
    )


async def test_per_campaign_numbers(client: httpx.AsyncClient, rows: Rows) -> None:
    await seed(rows)
    html = (await client.get("/console/buyers", headers=BEARER)).text  # today
    alpha = row(html, "alpha")
    assert alpha == {
        "pings": "1",
        "offered": "4",
        "sold": "2",
        "errors": "1",
        "timeouts": "1",
        "rejections": "1",
        "mismatches": "1",
        "rate": "50.0%",
        "avg": "25.01",
        "revenue": "50.01",
    }
    beta = row(html, "beta")
    assert beta["offered"] == "0" and beta["timeouts"] == "1"
    assert beta["rate"] == "–" and beta["avg"] == "–" and beta["revenue"] == "0.00"
    assert html.index('data-campaign="alpha"') < html.index('data-campaign="beta"')


async def test_period_widens_the_report(client: httpx.AsyncClient, rows: Rows) -> None:
    await seed(rows)
    week = (await client.get("/console/buyers?period=7d", headers=BEARER)).text
    assert row(week, "alpha")["offered"] == "4"
    month = row((await client.get("/console/buyers?period=30d", headers=BEARER)).text, "alpha")
    assert month["offered"] == "5" and month["rejections"] == "2"
    assert month["rate"] == "40.0%"
    everything = (await client.get("/console/buyers?period=all", headers=BEARER)).text
    assert row(everything, "alpha")["offered"] == "5"
    bad = await client.get("/console/buyers?period=forever", headers=BEARER)
    assert bad.status_code == 400  # a page naming the bad parameter, not the API's JSON
    assert bad.headers["content-type"].startswith("text/html")
    assert "<code>period</code>" in bad.text


async def test_no_activity(client: httpx.AsyncClient) -> None:
    html = (await client.get("/console/buyers", headers=BEARER)).text
    assert "No pings, posts or sales in this period." in html


async def test_report_module_directly(rows: Rows) -> None:
    from pingtree.reporting.campaigns import campaign_stats

    await seed(rows)
    async with rows.rt.sessions() as session:
        stats = {s.campaign: s for s in await campaign_stats(session, None)}
    alpha = stats["alpha"]
    assert (alpha.offered, alpha.sold, alpha.revenue) == (5, 2, Decimal("50.01"))
    assert alpha.accept_rate == Decimal("0.4")
    assert alpha.average_price == Decimal("25.01")  # 25.005 rounds half up
