"""The report API: JSON and CSV, filters, a chosen zone, refusals that name the field."""

from __future__ import annotations

import csv
import io

from tests.engine.conftest import ADMIN_TOKEN, WEDNESDAY_NOON, Harness, sim_buyer
from tests.factories import API_KEY, campaign, document, tier
from tests.reporting.books import keep_books

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
DAY = WEDNESDAY_NOON.date().isoformat()


async def _sold_two(h: Harness) -> None:
    h.buyers(sim_buyer("taker"))
    await h.configure(document([campaign("taker", h.sim)], [tier("t", "priority", ["taker"])]))
    for _ in range(2):
        assert (await h.post_lead()).json()["status"] == "sold"
    await keep_books(h.rt)


async def test_campaign_report_in_json_and_csv(engine_clocked: Harness) -> None:
    h = engine_clocked
    await _sold_two(h)
    query = {"start": DAY, "end": DAY, "by": "hour", "tz": "America/New_York"}
    got = await h.client.get("/api/v1/admin/reports/campaigns", params=query, headers=ADMIN)
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["timezone"] == "America/New_York" and body["by"] == "hour"
    (row,) = body["rows"]
    assert row["period"] == "2026-11-25T07:00:00-05:00"  # noon UTC is 7 in New York
    assert (row["campaign"], row["buyer"], row["sold"], row["revenue"]) == (
        "taker",
        "taker",
        2,
        "20.00",
    )
    assert row["accept_rate"] == "1.0000"

    got = await h.client.get("/api/v1/admin/reports/campaigns.csv", params=query, headers=ADMIN)
    assert got.status_code == 200
    assert got.headers["content-type"].startswith("text/csv")
    assert "attachment" in got.headers["content-disposition"]
    (line,) = list(csv.DictReader(io.StringIO(got.text)))
    assert (line["campaign"], line["sold"], line["revenue"]) == ("taker", "2", "20.00")


async def test_publisher_report_and_the_publishers_own(engine_clocked: Harness) -> None:
    h = engine_clocked
    await _sold_two(h)
    params = {"start": DAY, "end": DAY, "by": "total"}
    got = await h.client.get("/api/v1/admin/reports/publishers", params=params, headers=ADMIN)
    (row,) = got.json()["rows"]
    assert (row["publisher"], row["sent"], row["sold"], row["payout"], row["profit"]) == (
        "pub",
        2,
        2,
        "10.00",
        "10.00",
    )
    mine = await h.client.get("/api/v1/reports", params=params, headers={"X-API-Key": API_KEY})
    assert mine.status_code == 200, mine.text
    (own,) = mine.json()["rows"]
    assert (own["sent"], own["sold"], own["payout"]) == (2, 2, "10.00")
    assert "revenue" not in own and "profit" not in own and "publisher" not in own


async def test_refusals_name_the_field(engine_sqlite: Harness) -> None:
    h = engine_sqlite
    url = "/api/v1/admin/reports/campaigns"
    got = await h.client.get(url, params={"tz": "Mars/Olympus"}, headers=ADMIN)
    assert got.status_code == 422 and got.json()["reasons"][0]["field"] == "tz"
    got = await h.client.get(
        url, params={"start": "2026-01-01", "end": "2026-12-31", "by": "hour"}, headers=ADMIN
    )
    assert got.status_code == 422 and "at most 93 days" in got.json()["reasons"][0]["message"]
    got = await h.client.get(
        "/api/v1/admin/reports/publishers", params={"buyer": "taker"}, headers=ADMIN
    )
    assert got.status_code == 422 and got.json()["reasons"][0]["field"] == "buyer"
    got = await h.client.get(url, params={"by": "fortnight"}, headers=ADMIN)
    assert got.status_code == 422


async def test_per_publisher_and_a_half_hour_zone(engine_clocked: Harness) -> None:
    h = engine_clocked
    await _sold_two(h)
    split = {"start": DAY, "end": DAY, "by": "day", "by_publisher": "true"}
    got = await h.client.get("/api/v1/admin/reports/campaigns", params=split, headers=ADMIN)
    (row,) = got.json()["rows"]
    assert (row["campaign"], row["publisher"], row["sold"]) == ("taker", "pub", 2)
    mine = {"start": DAY, "end": DAY, "publisher": "nobody"}
    got = await h.client.get("/api/v1/admin/reports/campaigns", params=mine, headers=ADMIN)
    assert got.json()["rows"] == []
    # Kolkata's hours start at half past a UTC hour: read from the 15-minute rollups.
    kolkata = {"start": DAY, "end": DAY, "by": "hour", "tz": "Asia/Kolkata"}
    got = await h.client.get("/api/v1/admin/reports/campaigns", params=kolkata, headers=ADMIN)
    (row,) = got.json()["rows"]
    assert row["period"] == "2026-11-25T17:00:00+05:30"  # 12:00 UTC is 17:30 there
    assert row["period_start"] == "2026-11-25T11:30:00Z" and row["sold"] == 2


async def test_a_removed_campaign_is_reported_and_marked(engine_clocked: Harness) -> None:
    h = engine_clocked
    await _sold_two(h)
    h.buyers(sim_buyer("other"))
    await h.configure(document([campaign("other", h.sim)], [tier("t", "priority", ["other"])]))
    query = {"start": DAY, "end": DAY, "by": "total"}
    got = await h.client.get("/api/v1/admin/reports/campaigns", params=query, headers=ADMIN)
    (row,) = got.json()["rows"]
    assert (row["campaign"], row["removed"], row["sold"]) == ("taker", True, 2)
    got = await h.client.get("/api/v1/admin/reports/campaigns.csv", params=query, headers=ADMIN)
    (line,) = list(csv.DictReader(io.StringIO(got.text)))
    assert (line["campaign"], line["removed"], line["sold"]) == ("taker", "True", "2")
