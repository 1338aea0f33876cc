"""The configuration language as a migrating operator writes it, end to end against
simulated buyers: ZIP radius, dates off, schedules without holes, cap 0, minute and lifetime
caps, equal prices taking turns, empty trees, camelCase fields with aliases and derived
fields. Wall time is the injected clock, never the machine's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pingtree.clock import ManualClock
from tests.engine.conftest import WEDNESDAY_NOON, Harness, sim_buyer
from tests.factories import API_KEY, LEAD_FIELDS, VERTICAL, campaign, document, tier


def _clock(h: Harness) -> ManualClock:
    clock = h.rt.clock
    assert isinstance(clock, ManualClock)
    return clock


async def _sold_to(h: Harness, fields: dict[str, Any] | None = None) -> list[str]:
    answer = await h.post_lead(fields)
    assert answer.status_code == 200, answer.text
    story = await h.timeline(answer.json()["lead_id"])
    return [s["campaign"] for s in story["sales"]]


async def _skips(h: Harness, fields: dict[str, Any] | None = None) -> dict[str, tuple[str, str]]:
    answer = await h.post_lead(fields)
    assert answer.status_code == 200, answer.text
    story = await h.timeline(answer.json()["lead_id"])
    return {s["campaign"]: (s["reason"], s["detail"]) for s in story["skipped"]}


# --- filters -------------------------------------------------------------------------------


async def test_a_campaign_takes_leads_within_a_zip_radius(engine_sqlite: Harness) -> None:
    h = engine_sqlite
    h.buyers(sim_buyer("la_area"), sim_buyer("anywhere"))
    await h.configure(
        document(
            [
                campaign(
                    "la_area",
                    h.sim,
                    filters=[{"field": "zip", "op": "near", "near": {"zip": "90012", "miles": 50}}],
                ),
                campaign("anywhere", h.sim, price="1.00"),
            ],
            [tier("t", "priority", ["la_area", "anywhere"])],
        )
    )
    assert await _sold_to(h, {**LEAD_FIELDS, "zip": "90210", "state": "CA"}) == ["la_area"]
    assert await _sold_to(h, {**LEAD_FIELDS, "zip": "92101", "state": "CA"}) == ["anywhere"]
    skipped = await _skips(h)  # New York
    assert skipped["la_area"] == ("filter", "zip within 50 miles of 90012")
    assert len(h.sim.received("la_area")) == 1


async def test_numbers_in_a_list_match_as_numbers(engine_sqlite: Harness) -> None:
    h = engine_sqlite
    h.buyers(sim_buyer("teens"), sim_buyer("anywhere"))
    await h.configure(
        document(
            [
                campaign(
                    "teens", h.sim, filters=[{"field": "age", "op": "in", "values": [36, "037"]}]
                ),
                campaign("anywhere", h.sim, price="1.00"),
            ],
            [tier("t", "priority", ["teens", "anywhere"])],
        )
    )
    assert await _sold_to(h, {**LEAD_FIELDS, "age": "37"}) == ["teens"]
    assert await _sold_to(h, {**LEAD_FIELDS, "age": 36}) == ["teens"]
    assert await _sold_to(h, {**LEAD_FIELDS, "age": 38}) == ["anywhere"]


# --- schedules -----------------------------------------------------------------------------


async def test_dates_off_close_a_campaign_for_the_local_day(engine_on_wednesday: Harness) -> None:
    h = engine_on_wednesday  # Wednesday 2026-11-25 12:00 UTC, 07:00 in New York
    h.buyers(sim_buyer("holiday"), sim_buyer("anywhere"))
    schedule = {"timezone": "America/New_York", "dates_off": ["2026-11-25", "2026-12-25"]}
    await h.configure(
        document(
            [
                campaign("holiday", h.sim, schedule=schedule),
                campaign("anywhere", h.sim, price="1.00"),
            ],
            [tier("t", "priority", ["holiday", "anywhere"])],
        )
    )
    skipped = await _skips(h)
    assert skipped["holiday"] == ("schedule", "date off 2026-11-25 (America/New_York)")
    _clock(h).set(datetime(2026, 11, 26, 4, 59, tzinfo=UTC))  # 23:59 on the 25th in New York
    assert await _sold_to(h) == ["anywhere"]
    _clock(h).set(datetime(2026, 11, 26, 5, 0, tzinfo=UTC))  # the 26th has begun there
    assert await _sold_to(h) == ["holiday"]


async def test_an_all_day_campaign_is_open_in_the_last_second_of_the_day(
    engine_on_wednesday: Harness,
) -> None:
    h = engine_on_wednesday
    h.buyers(sim_buyer("all_day"), sim_buyer("ends_2359"))
    await h.configure(
        document(
            [
                campaign("all_day", h.sim, schedule={"windows": [{}]}),
                campaign("ends_2359", h.sim, schedule={"windows": [{"end": "23:59:59"}]}),
            ],
            [tier("t", "priority", ["all_day"]), tier("u", "priority", ["ends_2359"])],
            tree={"lead_type": "shared", "max_buyers": 2},
        )
    )
    _clock(h).set(datetime(2026, 11, 25, 23, 59, 59, 513_000, tzinfo=UTC))
    assert await _sold_to(h) == ["all_day", "ends_2359"]


# --- caps ----------------------------------------------------------------------------------


async def test_a_cap_of_zero_closes_a_campaign(engine: Harness) -> None:
    engine.buyers(sim_buyer("paused"), sim_buyer("anywhere"))
    await engine.configure(
        document(
            [
                campaign("paused", engine.sim, price="50.00", caps={"daily": 0}),
                campaign("anywhere", engine.sim, price="1.00"),
            ],
            [tier("t", "priority", ["paused", "anywhere"])],
        )
    )
    skipped = await _skips(engine)
    assert skipped["paused"] == ("cap", "daily cap 0: closed")
    assert await _sold_to(engine) == ["anywhere"]
    assert engine.sim.received("paused") == []


async def test_a_minute_cap_opens_again_the_next_minute(engine_clocked: Harness) -> None:
    h = engine_clocked
    h.buyers(sim_buyer("per_minute"), sim_buyer("overflow"))
    await h.configure(
        document(
            [
                campaign("per_minute", h.sim, price="20.00", caps={"minute": 2, "daily": 3}),
                campaign("overflow", h.sim, price="1.00"),
            ],
            [tier("t", "priority", ["per_minute", "overflow"])],
        )
    )
    clock = _clock(h)
    clock.set(WEDNESDAY_NOON + timedelta(seconds=10))
    sold = [(await _sold_to(h))[0] for _ in range(3)]
    assert sold == ["per_minute", "per_minute", "overflow"]
    clock.set(WEDNESDAY_NOON + timedelta(seconds=59, microseconds=999_999))
    assert await _sold_to(h) == ["overflow"]
    clock.set(WEDNESDAY_NOON + timedelta(minutes=1))
    sold = [(await _sold_to(h))[0] for _ in range(2)]
    assert sold == ["per_minute", "overflow"]  # the daily cap of 3 is reached now


async def test_a_lifetime_cap_never_resets(engine_clocked: Harness) -> None:
    h = engine_clocked
    h.buyers(sim_buyer("once"), sim_buyer("overflow"))
    await h.configure(
        document(
            [
                campaign("once", h.sim, price="20.00", caps={"lifetime": 1}),
                campaign("overflow", h.sim, price="1.00"),
            ],
            [tier("t", "priority", ["once", "overflow"])],
        )
    )
    assert await _sold_to(h) == ["once"]
    _clock(h).set(WEDNESDAY_NOON + timedelta(days=400))
    assert await _sold_to(h) == ["overflow"]
    assert len(h.sim.received("once")) == 1


# --- trees ---------------------------------------------------------------------------------


async def test_equal_prices_take_turns(engine_sqlite: Harness) -> None:
    h = engine_sqlite
    h.buyers(sim_buyer("a"), sim_buyer("b"), sim_buyer("dear"))
    campaigns = [campaign(n, h.sim, price="15.00") for n in ("a", "b")]
    campaigns.append(campaign("dear", h.sim, price="16.00", caps={"daily": 1}))
    await h.configure(document(campaigns, [tier("t", "price", ["a", "b", "dear"])]))
    sales = [(await _sold_to(h))[0] for _ in range(5)]
    assert sales[0] == "dear"  # the dearest first while it has room, then the tie alternates
    assert sales[1:] in (["a", "b", "a", "b"], ["b", "a", "b", "a"])
    await h.configure(document(campaigns, [tier("t", "price", ["a", "b"], ties="first")]))
    assert [(await _sold_to(h))[0] for _ in range(3)] == ["a", "a", "a"]


async def test_equal_bids_in_an_auction_take_turns(engine_sqlite: Harness) -> None:
    h = engine_sqlite
    same = {"bid_min": "12.00", "bid_max": "12.00"}
    h.buyers(sim_buyer("x", **same), sim_buyer("y", **same))
    await h.configure(
        document(
            [campaign(n, h.sim, bid=True) for n in ("x", "y")],
            [tier("t", "parallel", ["x", "y"])],
        )
    )
    assert [(await _sold_to(h))[0] for _ in range(4)] == ["x", "y", "x", "y"]


async def test_a_route_may_point_at_a_tree_without_campaigns(engine_sqlite: Harness) -> None:
    h = engine_sqlite
    await h.configure(
        document(
            [campaign("placeholder", h.sim)],
            [],
            trees=[{"name": "empty_tier", "vertical": "auto", "tiers": [tier("t", "price", [])]}],
        )
    )
    answer = await h.post_lead()
    assert answer.status_code == 200
    assert answer.json()["status"] == "unsold"
    assert answer.json()["reasons"][0]["code"] == "no_eligible_buyer"


# --- fields --------------------------------------------------------------------------------

PUBLISHER_VERTICAL: dict[str, Any] = {
    **VERTICAL,
    "fields": [
        *(f for f in VERTICAL["fields"] if f["name"] not in ("state", "age")),
        {"name": "geoState", "type": "state", "required": True, "aliases": ["st", "State"]},
        {"name": "dateOfBirth", "type": "date", "pii": True, "aliases": ["dob"]},
        {"name": "age", "derived": {"age_from": "dateOfBirth", "zone": "America/New_York"}},
        {"name": "hourNY", "derived": {"hour_of": "received_at", "zone": "America/New_York"}},
        {"name": "dayNY", "derived": {"weekday_of": "received_at", "zone": "America/New_York"}},
    ],
}


async def test_camel_case_aliases_and_derived_fields(engine_on_wednesday: Harness) -> None:
    h = engine_on_wednesday  # Wednesday 07:00 in New York
    h.buyers(sim_buyer("mornings"), sim_buyer("evenings"))
    morning = [
        {"field": "geoState", "op": "in", "values": ["NY"]},
        {"field": "age", "op": "range", "min": 30},
        {"field": "hourNY", "op": "in", "values": [6, 7, 8]},
        {"field": "dayNY", "op": "in", "values": ["WED"]},
    ]
    evening = [{"field": "hourNY", "op": "range", "min": 18}]
    await h.configure(
        document(
            [
                campaign("evenings", h.sim, price="30.00", filters=evening),
                campaign("mornings", h.sim, price="20.00", filters=morning),
            ],
            [tier("t", "price", ["evenings", "mornings"])],
            vertical=PUBLISHER_VERTICAL,
        )
    )
    fields = {k: v for k, v in LEAD_FIELDS.items() if k not in ("state", "age")}
    answer = await h.post_lead({**fields, "st": "ny", "dob": "11/26/1990"})
    assert answer.status_code == 200, answer.text
    story = await h.timeline(answer.json()["lead_id"])
    assert [s["campaign"] for s in story["sales"]] == ["mornings"]
    stored = story["fields"]
    assert (stored["geoState"], stored["dateOfBirth"]) == ("NY", "1990-11-26")
    assert (stored["age"], stored["hourNY"], stored["dayNY"]) == (35, 7, "wed")
    assert "st" not in stored and "dob" not in stored
    skipped = {s["campaign"]: s["detail"] for s in story["skipped"]}
    assert skipped["evenings"] == "hourNY range [18, None]"
    posted = h.sim.received("mornings")[0].body
    assert posted["geoState"] == "NY"

    refused = await h.post_lead({**fields, "st": "NY", "geoState": "NY", "hourNY": 3})
    assert refused.status_code == 422
    named = refused.text
    assert "geoState" in named and "hourNY" in named


async def test_inbound_ping_post_with_aliases_and_derived_fields(engine_clocked: Harness) -> None:
    h = engine_clocked
    h.buyers(sim_buyer("bidder", bid_min="30.00", bid_max="30.00"))
    await h.configure(
        document(
            [
                campaign(
                    "bidder",
                    h.sim,
                    bid=True,
                    filters=[{"field": "hourNY", "op": "equals", "value": "06"}],
                )
            ],
            [tier("auction", "ping_post", ["bidder"])],
            vertical=PUBLISHER_VERTICAL,
        )
    )
    headers = {"X-API-Key": API_KEY}
    _clock(h).set(datetime(2026, 11, 25, 11, 59, 59, 500_000, tzinfo=UTC))  # 06:59:59 in NY
    pii = await h.client.post(
        "/api/v1/pings",
        json={"vertical": "auto", "fields": {"zip": "10001", "st": "NY", "dob": "1990-01-01"}},
        headers=headers,
    )
    assert pii.status_code == 422 and "dob" in pii.text  # PII under an alias is still PII
    ping = await h.client.post(
        "/api/v1/pings",
        json={"vertical": "auto", "fields": {"zip": "10001", "st": "NY", "credit": "good"}},
        headers=headers,
    )
    assert ping.status_code == 200 and ping.json()["status"] == "bid", ping.text
    _clock(h).set(datetime(2026, 11, 25, 12, 0, 0, 500_000, tzinfo=UTC))  # 07:00 in NY now
    fields = {k: v for k, v in LEAD_FIELDS.items() if k not in ("state", "age")}
    post = await h.client.post(
        "/api/v1/posts",
        json={"ping_id": ping.json()["ping_id"], "fields": {**fields, "geoState": "NY"}},
        headers=headers,
    )
    assert post.status_code == 200, post.text
    assert post.json()["status"] == "sold"
    story = await h.timeline(post.json()["lead_id"])
    assert story["fields"]["hourNY"] == 6  # as of the ping the bid was made on
