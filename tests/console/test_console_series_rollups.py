"""The console's charts read the rollups: per local day of a week in Los Angeles, the
timeline's leads and money equal the reports API's publisher report for the same days, and
the figures the charts showed from raw rows for the same leads. On both databases."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

from pingtree.clock import ManualClock
from tests.console.conftest import Harness
from tests.engine.conftest import ADMIN_TOKEN, sim_buyer
from tests.factories import LEAD_FIELDS, campaign, document, tier
from tests.reporting.books import keep_books

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
ZONE = "America/Los_Angeles"


async def test_the_charts_equal_the_reports_api_for_the_same_days(
    engine_clocked: Harness,
) -> None:
    h = engine_clocked
    clock = h.rt.clock
    assert isinstance(clock, ManualClock)  # Wednesday 2026-11-25 12:00 UTC, 04:00 in LA
    h.buyers(sim_buyer("apex"), sim_buyer("shy", accept_rate=0.0))
    await h.configure(
        document(
            [
                campaign(
                    "apex",
                    h.sim,
                    price="20.00",
                    filters=[{"field": "state", "op": "equals", "value": "NY"}],
                ),
                campaign("shy", h.sim, price="5.00"),
            ],
            [tier("only", "priority", ["apex", "shy"])],
            payout={"type": "fixed", "amount": "6.00"},
        )
    )
    ca = {**LEAD_FIELDS, "state": "CA", "zip": "94103", "phone": "(415) 555-0134"}
    for _ in range(2):
        assert (await h.post_lead()).json()["status"] == "sold"  # Wed 25th in LA
    clock.advance(24 * 3600 - 5 * 3600)  # Thu 07:00 UTC: still Wednesday 23:00 in LA
    assert (await h.post_lead(ca)).json()["status"] == "unsold"
    clock.advance(2 * 3600)  # Thu 09:00 UTC: Thursday 01:00 in LA
    assert (await h.post_lead()).json()["status"] == "sold"
    clock.advance(2 * 24 * 3600)  # Saturday 28th
    assert (await h.post_lead(ca)).json()["status"] == "unsold"
    params = {"period": "7d", "tz": ZONE}
    unrolled = await h.client.get("/console/reports/timeline.csv", params=params, headers=ADMIN)
    # Read from the rollups, not the raw rows: nothing shows before the roller took them in.
    assert all(row["received"] == "0" for row in csv.DictReader(io.StringIO(unrolled.text)))
    page = await h.client.get("/console/reports", params=params, headers=ADMIN)
    assert "the first roll (none yet)" in page.text.split('id="rolled-at"')[1].split("</p>")[0]
    await keep_books(h.rt)
    page = await h.client.get("/console/reports", params=params, headers=ADMIN)
    assert "as of 2026-11-28 " in page.text.split('id="rolled-at"')[1].split("</p>")[0]

    shown = await h.client.get("/console/reports/timeline.csv", params=params, headers=ADMIN)
    assert shown.status_code == 200, shown.text
    chart = {
        row["start"][:10]: row
        for row in csv.DictReader(io.StringIO(shown.text))
        if row["received"] != "0"
    }
    api = await h.client.get(
        "/api/v1/admin/reports/publishers",
        params={"start": "2026-11-22", "end": "2026-11-28", "by": "day", "tz": ZONE},
        headers=ADMIN,
    )
    assert api.status_code == 200, api.text
    reported = {row["period"]: row for row in api.json()["rows"]}

    # What the charts showed from the raw rows for these leads, day by day in LA.
    assert {
        day: (r["received"], r["sold"], r["unsold"], r["revenue"]) for day, r in chart.items()
    } == {
        "2026-11-25": ("3", "2", "1", "40.00"),
        "2026-11-26": ("1", "1", "0", "20.00"),
        "2026-11-28": ("1", "0", "1", "0.00"),
    }
    assert set(reported) == set(chart)
    for day, row in chart.items():
        same = reported[day]
        assert int(row["received"]) == same["sent"]
        assert (int(row["sold"]), int(row["unsold"])) == (same["sold"], same["unsold"])
        assert int(row["rejected"]) == same["screened_out"]
        assert Decimal(row["revenue"]) == Decimal(same["revenue"])
        assert Decimal(row["payout"]) == Decimal(same["payout"])

    # The publishers' funnel of the week is the API's total for the week.
    funnel = await h.client.get("/console/reports/publishers.csv", params=params, headers=ADMIN)
    (pub,) = list(csv.DictReader(io.StringIO(funnel.text)))
    total = await h.client.get(
        "/api/v1/admin/reports/publishers",
        params={"start": "2026-11-22", "end": "2026-11-28", "by": "total", "tz": ZONE},
        headers=ADMIN,
    )
    (week,) = total.json()["rows"]
    assert (week["sent"], week["sold"], week["revenue"]) == (5, 3, "60.00")
    assert pub["publisher"] == week["publisher"]
    assert int(pub["received"]) == week["sent"] and int(pub["sold"]) == week["sold"]
    assert Decimal(pub["revenue"]) == Decimal(week["revenue"])
