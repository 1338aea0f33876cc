"""The dashboard: today's totals from leads and sales, and the newest leads, polled by HTMX."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx

from tests.console.conftest import BEARER, Rows


def card(html: str, name: str) -> str:
    found = re.search(rf'id="{name}">([^<]*)<', html)
    assert found, name
    return found.group(1)


async def seed_day(rows: Rows) -> None:
    yesterday = rows.now - timedelta(days=1)
    await rows.add(
        rows.lead("L1", "sold", revenue=20, payout=14),
        rows.lead("L2", "sold", revenue=1215, payout=850),
        rows.lead("L3", "unsold"),
        rows.lead("L4", "rejected"),
        rows.lead("T1", "sold", test=True, revenue=100, payout=50),
        rows.lead("Y1", "sold", received_at=yesterday, revenue=30, payout=20),
    )
    await rows.add(
        rows.sale("L1", "alpha", "20.00", "14.00"),
        rows.sale("L2", "alpha", "1215.50", "850.25"),
        rows.sale("T1", "alpha", "100.00", "50.00", test=True),
        rows.sale("Y1", "alpha", "30.00", "20.00", sold_at=yesterday),
    )


async def test_todays_totals_leave_out_test_leads_and_other_days(
    client: httpx.AsyncClient, rows: Rows
) -> None:
    await seed_day(rows)
    html = (await client.get("/console", headers=BEARER)).text
    assert card(html, "received") == "4"
    assert card(html, "sold") == "2"
    assert card(html, "unsold") == "1"
    assert card(html, "rejected") == "1"
    assert card(html, "revenue") == "1,235.50"
    assert card(html, "payout") == "864.25"
    assert card(html, "profit") == "371.25"


async def test_latest_leads_link_to_their_timelines(client: httpx.AsyncClient, rows: Rows) -> None:
    await seed_day(rows)
    html = (await client.get("/console", headers=BEARER)).text
    assert '<a href="/console/leads/L2"><code>L2</code></a>' in html
    assert "1,215.00" in html  # the lead's revenue column
    assert '<span class="badge test">test</span>' in html  # test leads are listed, marked


async def test_dashboard_polls_a_partial_every_five_seconds(client: httpx.AsyncClient) -> None:
    html = (await client.get("/console", headers=BEARER)).text
    assert 'hx-get="/console/partials/leads" hx-trigger="every 5s"' in html
    assert 'hx-get="/console/partials/today?tz=UTC" hx-trigger="every 5s"' in html


async def test_partial_is_only_the_table(client: httpx.AsyncClient, rows: Rows) -> None:
    await seed_day(rows)
    headers = {**BEARER, "HX-Request": "true"}
    r = await client.get("/console/partials/leads", headers=headers)
    assert r.status_code == 200
    body = r.text.strip()
    assert body.startswith('<table id="leads-table">') and body.endswith("</table>")
    assert "<html" not in body and "<header" not in body and "<style" not in body
    assert body.count("<tr>") == 1 + 6  # header row and six leads

    today = (await client.get("/console/partials/today", headers=headers)).text.strip()
    assert today.startswith('<div class="cards">') and card(today, "received") == "4"


async def test_table_shows_the_newest_fifty(client: httpx.AsyncClient, rows: Rows) -> None:
    start = rows.now - timedelta(hours=1)
    await rows.add(
        *(rows.lead(f"N{i:02d}", received_at=start + timedelta(seconds=i)) for i in range(55))
    )
    html = (await client.get("/console/partials/leads", headers=BEARER)).text
    shown = re.findall(r"<code>(N\d\d)</code>", html)
    assert shown == [f"N{i:02d}" for i in range(54, 4, -1)]


async def test_empty_day(client: httpx.AsyncClient) -> None:
    html = (await client.get("/console", headers=BEARER)).text
    assert card(html, "received") == "0"
    assert card(html, "revenue") == "0.00"
    assert "No leads yet." in html
