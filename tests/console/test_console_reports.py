"""Reports: money and leads over time in a chosen zone, buyers, publishers, cap fill, CSV and
drill-down to the leads behind a figure; on both databases."""

from __future__ import annotations

import csv
import io
import re
from html import unescape

from pingtree.clock import ManualClock
from tests.console.conftest import Harness
from tests.engine.conftest import ADMIN_TOKEN, sim_buyer
from tests.factories import LEAD_FIELDS, campaign, document, tier
from tests.reporting.books import keep_books

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


async def business(h: Harness) -> None:
    """Wednesday 2026-11-25: two sales at 12:00 UTC, one unsold at 13:00, a sale at 23:30
    (18:30 in New York, Thursday in Tokyo)."""
    clock = h.rt.clock
    assert isinstance(clock, ManualClock)
    h.buyers(sim_buyer("apex"), sim_buyer("shy", accept_rate=0.0))
    await h.configure(
        document(
            [
                campaign(
                    "apex",
                    h.sim,
                    price="20.00",
                    caps={"daily": 4},
                    filters=[{"field": "state", "op": "equals", "value": "NY"}],
                ),
                campaign("shy", h.sim, price="5.00"),
            ],
            [tier("only", "priority", ["apex", "shy"])],
            payout={"type": "fixed", "amount": "6.00"},
        )
    )
    for _ in range(2):
        assert (await h.post_lead()).json()["status"] == "sold"
    clock.advance(3600)
    ca = {**LEAD_FIELDS, "state": "CA", "zip": "94103", "phone": "(415) 555-0134"}
    assert (await h.post_lead(ca)).json()["status"] == "unsold"
    clock.advance(10.5 * 3600)
    assert (await h.post_lead()).json()["status"] == "sold"
    await keep_books(h.rt)  # the timeline and the funnels read the rollups


def cards(html: str) -> dict[str, str]:
    return dict(re.findall(r'id="t-(\w+)"[^>]*>([^<]+)<', html))


async def test_the_day_in_utc_and_in_new_york(engine_clocked: Harness) -> None:
    h = engine_clocked
    await business(h)
    utc = await h.client.get("/console/reports", params={"period": "today"}, headers=ADMIN)
    assert utc.status_code == 200
    totals = cards(utc.text)
    assert (totals["received"], totals["sold"], totals["unsold"]) == ("4", "3", "1")
    assert (totals["revenue"], totals["payout"], totals["profit"]) == ("60.00", "18.00", "42.00")
    assert 'id="money-chart"' in utc.text and 'id="leads-chart"' in utc.text
    rows = _timeline_rows(utc.text)
    assert rows["2026-11-25 12:00"][:2] == ["2", "2"]  # received, sold
    assert rows["2026-11-25 13:00"][:3] == ["1", "0", "1"]  # received, sold, unsold
    assert rows["2026-11-25 23:00"][:2] == ["1", "1"]
    new_york = await h.client.get(
        "/console/reports", params={"period": "today", "tz": "America/New_York"}, headers=ADMIN
    )
    assert _timeline_rows(new_york.text)["2026-11-25 18:00"][:2] == ["1", "1"]
    tokyo = await h.client.get(
        "/console/reports", params={"period": "yesterday", "tz": "Asia/Tokyo"}, headers=ADMIN
    )
    # Tokyo's Wednesday 25th ended at 15:00 UTC: the late lead is Thursday's there.
    assert cards(tokyo.text)["received"] == "3"


def _timeline_rows(html: str) -> dict[str, list[str]]:
    table = html.split('id="timeline-table"')[1].split("</table>")[0]
    out = {}
    for row in re.findall(r"<tr><td>([^<]+)</td>(.*?)</tr>", table, re.S):
        out[row[0]] = re.findall(r'<td class="num">([^<]+)</td>', row[1])
    return out


async def test_every_figure_leads_to_its_leads(engine_clocked: Harness) -> None:
    h = engine_clocked
    await business(h)
    page = await h.client.get("/console/reports", params={"period": "today"}, headers=ADMIN)
    sold_link = re.search(r'<a class="value" id="t-sold" href="([^"]+)"', page.text)
    assert sold_link is not None
    leads = await h.client.get(unescape(sold_link[1]), headers=ADMIN)
    shown = re.findall(r"badge (\w+)\"", leads.text.split('id="lead-results"')[1])
    assert shown and set(shown) == {"sold"} and len(shown) == int(cards(page.text)["sold"])
    # A piece of the 12:00 column links to the two leads sold in that hour.
    piece = re.search(r'<a href="([^"]+)" aria-label="12:00: 2 sold"', page.text)
    assert piece is not None
    hour = await h.client.get(unescape(piece[1]), headers=ADMIN)
    assert len(re.findall(r'class="badge sold"', hour.text)) == 2


async def test_buyers_publishers_and_cap_fill(engine_clocked: Harness) -> None:
    h = engine_clocked
    await business(h)
    page = (await h.client.get("/console/reports", headers=ADMIN)).text
    apex = re.search(r'<tr data-buyer="apex">(.*?)</tr>', page, re.S)
    shy = re.search(r'<tr data-buyer="shy">(.*?)</tr>', page, re.S)
    assert apex is not None and shy is not None
    numbers = re.findall(r'<td class="num">(?:<a [^>]+>)?([^<]+)', apex[1])
    assert numbers[1:4] == ["3", "3", "100.0%"]  # offered, sold, accept rate
    assert re.findall(r'<td class="num">(?:<a [^>]+>)?([^<]+)', shy[1])[1:4] == ["1", "0", "0.0%"]
    funnel = re.search(r'<tr data-publisher="pub">(.*?)</tr>', page, re.S)
    assert funnel is not None
    assert re.findall(r'<td class="num">([^<]+)</td>', funnel[1]) == [
        "4",
        "0",
        "0",
        "1",
        "3",
        "60.00",
        "18.00",
        "42.00",
    ]
    caps = page.split('id="cap-bars"')[1].split("</ul>")[0]
    assert "apex · daily" in caps and "3 of 4 leads (2026-11-25)" in caps


async def test_each_table_downloads_as_csv(engine_clocked: Harness) -> None:
    h = engine_clocked
    await business(h)
    for table, first in (
        ("timeline", "start"),
        ("buyers", "buyer"),
        ("publishers", "publisher"),
        ("caps", "campaign"),
    ):
        r = await h.client.get(
            f"/console/reports/{table}.csv",
            params={"period": "today", "tz": "America/New_York"},
            headers=ADMIN,
        )
        assert r.status_code == 200, table
        assert r.headers["content-type"].startswith("text/csv")
        assert f"pingtree-{table}-" in r.headers["content-disposition"]
        rows = list(csv.reader(io.StringIO(r.text)))
        assert rows[0][0] == first
    timeline = await h.client.get(
        "/console/reports/timeline.csv", params={"period": "today"}, headers=ADMIN
    )
    rows = list(csv.DictReader(io.StringIO(timeline.text)))
    assert len(rows) == 24 and rows[12]["start"] == "2026-11-25T12:00:00+00:00"
    assert rows[12]["sold"] == "2" and rows[12]["revenue"] == "40.00"
    assert rows[23]["sold"] == "1" and rows[23]["profit"] == "14.00"
    week = await h.client.get(
        "/console/reports/timeline.csv", params={"period": "7d"}, headers=ADMIN
    )
    assert len(list(csv.DictReader(io.StringIO(week.text)))) == 7  # a row per day
    bad = await h.client.get("/console/reports", params={"tz": "Mars/Olympus"}, headers=ADMIN)
    assert bad.status_code == 400 and "unknown time zone" in bad.text
    assert (await h.client.get("/console/reports/ledger.csv", headers=ADMIN)).status_code == 404


async def test_a_removed_campaign_keeps_its_history_marked_as_removed(
    engine_clocked: Harness,
) -> None:
    h = engine_clocked
    await business(h)
    # apex, which made every sale, leaves the configuration (its buyer too).
    await h.configure(
        document(
            [campaign("shy", h.sim, price="5.00")],
            [tier("only", "priority", ["shy"])],
            payout={"type": "fixed", "amount": "6.00"},
        )
    )
    assert "apex" not in h.rt.catalog.campaigns
    page = await h.client.get("/console/reports", params={"period": "today"}, headers=ADMIN)
    totals = cards(page.text)
    assert (totals["sold"], totals["revenue"], totals["profit"]) == ("3", "60.00", "42.00")
    assert _timeline_rows(page.text)["2026-11-25 12:00"][:2] == ["2", "2"]
    assert "40.00" in "".join(_timeline_rows(page.text)["2026-11-25 12:00"])
    apex = re.search(r'<tr data-campaign="apex">(.*?)</tr>', page.text, re.S)
    assert apex is not None and 'class="badge paused">removed</span>' in apex[1]
    assert re.findall(r'<td class="num">(?:<a [^>]+>)?([^<]+)', apex[1])[:4] == [
        "0",
        "3",
        "3",
        "100.0%",
    ]  # pings, offered, sold, accept rate
    shy = re.search(r'<tr data-campaign="shy">(.*?)</tr>', page.text, re.S)
    assert shy is not None and "removed" not in shy[1]
    assert re.search(r'<tr data-buyer="apex">', page.text)  # its buyer's figures too
    download = await h.client.get(
        "/console/reports/campaigns.csv", params={"period": "today"}, headers=ADMIN
    )
    rows = {r["campaign"]: r for r in csv.DictReader(io.StringIO(download.text))}
    assert (rows["apex"]["removed"], rows["apex"]["sold"], rows["apex"]["revenue"]) == (
        "yes",
        "3",
        "60.00",
    )
    assert rows["shy"]["removed"] == "no"
    stats = await h.client.get("/console/buyers", params={"period": "today"}, headers=ADMIN)
    listed = re.search(r'<tr data-campaign="apex">(.*?)</tr>', stats.text, re.S)
    assert listed is not None and "removed" in listed[1]


async def test_half_and_three_quarter_hour_zones_count_in_their_own_hours(
    engine_clocked: Harness,
) -> None:
    """Kolkata is UTC+05:30, Kathmandu UTC+05:45: their hours and days start off the UTC hour,
    so two leads of one UTC hour can fall in two local hours, or two local days."""
    h = engine_clocked
    clock = h.rt.clock
    assert isinstance(clock, ManualClock)
    h.buyers(sim_buyer("apex"))
    await h.configure(document([campaign("apex", h.sim)], [tier("only", "priority", ["apex"])]))
    for minutes in (10, 30, 335, 30):  # 12:10, 12:40, 18:15, 18:45 UTC
        clock.advance(minutes * 60)
        assert (await h.post_lead()).json()["status"] == "sold"
    await keep_books(h.rt)

    async def rows(tz: str, since: str, until: str) -> dict[str, list[str]]:
        params = {"tz": tz, "from": since, "to": until}
        page = await h.client.get("/console/reports", params=params, headers=ADMIN)
        assert page.status_code == 200, page.text
        return _timeline_rows(page.text)

    kolkata = await rows("Asia/Kolkata", "2026-11-25T17:00", "2026-11-25T19:00")
    assert kolkata["2026-11-25 17:00"][:2] == ["1", "1"]  # 12:10 UTC is 17:40 there
    assert kolkata["2026-11-25 18:00"][:2] == ["1", "1"]  # 12:40 UTC is 18:10
    assert kolkata["2026-11-25 18:00"][-3] == "10.00"  # its sale's revenue too
    days = await rows("Asia/Kolkata", "2026-11-20", "2026-11-26")
    assert days["2026-11-25"][:2] == ["3", "3"]  # 18:15 UTC is 23:45 on Wednesday...
    assert days["2026-11-26"][:2] == ["1", "1"]  # ...18:45 UTC is 00:15 on Thursday
    kathmandu = await rows("Asia/Kathmandu", "2026-11-25T17:00", "2026-11-25T19:00")
    assert kathmandu["2026-11-25 17:00"][:2] == ["1", "1"]  # 12:10 UTC is 17:55 there
    assert kathmandu["2026-11-25 18:00"][:2] == ["1", "1"]  # 12:40 UTC is 18:25
    csv_rows = await h.client.get(
        "/console/reports/timeline.csv",
        params={"tz": "Asia/Kolkata", "from": "2026-11-25T17:00", "to": "2026-11-25T19:00"},
        headers=ADMIN,
    )
    hours = list(csv.DictReader(io.StringIO(csv_rows.text)))
    assert [(r["start"], r["received"]) for r in hours] == [
        ("2026-11-25T17:00:00+05:30", "1"),
        ("2026-11-25T18:00:00+05:30", "1"),
    ]
