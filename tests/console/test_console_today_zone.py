"""The dashboard's "today" is the day in the operator's chosen zone (the reports' `tz`), not
the UTC day: Los Angeles (UTC-8) and Kiritimati (UTC+14) on the injected clock; both
databases."""

from __future__ import annotations

import re

from pingtree.clock import ManualClock
from tests.console.conftest import Harness
from tests.console.test_console_buyers import row
from tests.engine.conftest import ADMIN_TOKEN, sim_buyer
from tests.factories import LEAD_FIELDS, campaign, document, tier

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def _cards(html: str) -> dict[str, str]:
    return dict(re.findall(r'id="(received|sold|unsold|revenue)"[^>]*>([^<]+)<', html))


async def _today(h: Harness, tz: str | None = None) -> tuple[str, dict[str, str]]:
    params = {"tz": tz} if tz else {}
    page = await h.client.get("/console", params=params, headers=ADMIN)
    assert page.status_code == 200, page.text
    day = re.search(r'id="today-day">\((\S+) (\S+),', page.text)
    assert day is not None
    partial = await h.client.get("/console/partials/today", params=params, headers=ADMIN)
    assert _cards(partial.text) == _cards(page.text)  # the 5 s poll keeps the zone
    return f"{day[1]} {day[2]}", _cards(page.text)


async def test_today_is_the_day_in_the_chosen_zone(engine_clocked: Harness) -> None:
    h = engine_clocked
    clock = h.rt.clock
    assert isinstance(clock, ManualClock)  # Wednesday 2026-11-25 12:00 UTC
    h.buyers(sim_buyer("apex"))
    await h.configure(
        document(
            [
                campaign(
                    "apex",
                    h.sim,
                    price="20.00",
                    filters=[{"field": "state", "op": "equals", "value": "NY"}],
                )
            ],
            [tier("only", "priority", ["apex"])],
        )
    )
    assert (await h.post_lead()).json()["status"] == "sold"  # Wed 04:00 LA, Thu 02:00 Kiritimati
    clock.advance(13 * 3600)  # Thu 01:00 UTC: Wed 17:00 in LA, Thu 15:00 in Kiritimati
    assert (await h.post_lead()).json()["status"] == "sold"

    assert await _today(h) == (
        "2026-11-26 UTC",
        {"received": "1", "sold": "1", "unsold": "0", "revenue": "20.00"},
    )
    la = await _today(h, "America/Los_Angeles")
    assert la == (
        "2026-11-25 America/Los_Angeles",
        {"received": "2", "sold": "2", "unsold": "0", "revenue": "40.00"},
    )

    clock.advance(10 * 3600)  # Thu 11:00 UTC: Thu 03:00 in LA, Fri 01:00 in Kiritimati
    ca = {**LEAD_FIELDS, "state": "CA", "zip": "94103", "phone": "(415) 555-0134"}
    assert (await h.post_lead(ca)).json()["status"] == "unsold"
    assert (await _today(h))[1] == {"received": "2", "sold": "1", "unsold": "1", "revenue": "20.00"}
    far = await _today(h, "Pacific/Kiritimati")
    assert far == (
        "2026-11-27 Pacific/Kiritimati",
        {"received": "1", "sold": "0", "unsold": "1", "revenue": "0.00"},
    )

    # Each figure leads to the leads of that same local day.
    page = await h.client.get("/console", params={"tz": "Pacific/Kiritimati"}, headers=ADMIN)
    link = re.search(r'href="([^"]+)" id="received"', page.text)
    assert link is not None and "tz=Pacific/Kiritimati" in link[1]
    leads = await h.client.get(link[1].replace("&amp;", "&"), headers=ADMIN)
    assert len(re.findall(r'class="badge unsold"', leads.text)) == 1
    assert 'class="badge sold"' not in leads.text.split('id="lead-results"')[1]

    bad = await h.client.get("/console", params={"tz": "Mars/Olympus"}, headers=ADMIN)
    assert bad.status_code == 400 and "unknown time zone" in bad.text


async def test_the_buyers_page_today_is_the_day_in_the_chosen_zone(
    engine_clocked: Harness,
) -> None:
    h = engine_clocked
    clock = h.rt.clock
    assert isinstance(clock, ManualClock)  # Wednesday 2026-11-25 12:00 UTC
    h.buyers(sim_buyer("apex"))
    await h.configure(
        document([campaign("apex", h.sim, price="20.00")], [tier("only", "priority", ["apex"])])
    )
    assert (await h.post_lead()).json()["status"] == "sold"  # Wed 04:00 LA, Thu 02:00 Kiritimati
    clock.advance(13 * 3600)  # Thu 01:00 UTC: Wed 17:00 in LA, Thu 15:00 in Kiritimati

    async def sold_today(tz: str | None) -> tuple[str, str]:
        params = {"period": "today"} | ({"tz": tz} if tz else {})
        page = await h.client.get("/console/buyers", params=params, headers=ADMIN)
        assert page.status_code == 200, page.text
        since = re.search(r"since (\S+ \S+ [^,\s]+)", page.text)
        assert since is not None
        listed = 'data-campaign="apex"' in page.text  # listed when it has activity
        return since[1], row(page.text, "apex")["sold"] if listed else "0"

    assert await sold_today(None) == ("2026-11-26 00:00 UTC", "0")
    assert await sold_today("America/Los_Angeles") == (
        "2026-11-25 00:00 America/Los_Angeles",
        "1",
    )
    assert await sold_today("Pacific/Kiritimati") == ("2026-11-26 00:00 Pacific/Kiritimati", "1")
    page = await h.client.get("/console/buyers", params={"tz": "Pacific/Kiritimati"}, headers=ADMIN)
    assert "period=7d&amp;tz=Pacific/Kiritimati" in page.text  # the period links keep the zone
    bad = await h.client.get("/console/buyers", params={"tz": "Mars/Olympus"}, headers=ADMIN)
    assert bad.status_code == 400 and "unknown time zone" in bad.text
