"""The six flows, cascade, floors and shared leads, against real simulated buyers."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from pingtree.storage.tables import Sale
from tests.engine.conftest import Harness, sim_buyer
from tests.factories import campaign, document, tier


def _posts(story: dict[str, Any]) -> list[tuple[str, str]]:
    return [(a["campaign"], a["outcome"]) for a in story["attempts"] if a["kind"] == "post"]


async def _sold(h: Harness) -> dict[str, Any]:
    answer = (await h.post_lead()).json()
    return await h.timeline(answer["lead_id"])


async def test_priority_offers_by_rank_and_cascades_on_rejection(engine_sqlite: Harness) -> None:
    h = engine_sqlite
    h.buyers(sim_buyer("a", accept_rate=0.0), sim_buyer("b"), sim_buyer("c"))
    await h.configure(
        document(
            [campaign(n, h.sim) for n in ("a", "b", "c")],
            [
                tier(
                    "t",
                    "priority",
                    [
                        {"campaign": "c", "rank": 3},
                        {"campaign": "a", "rank": 1},
                        {"campaign": "b", "rank": 2},
                    ],
                )
            ],
        )
    )
    story = await _sold(h)
    assert _posts(story) == [("a", "rejected"), ("b", "accepted")]
    assert story["status"] == "sold" and [s["campaign"] for s in story["sales"]] == ["b"]


async def test_price_offers_highest_price_first(engine_sqlite: Harness) -> None:
    h = engine_sqlite
    h.buyers(sim_buyer("cheap"), sim_buyer("dear", accept_rate=0.0), sim_buyer("mid"))
    await h.configure(
        document(
            [
                campaign("cheap", h.sim, price="5.00"),
                campaign("dear", h.sim, price="25.00"),
                campaign("mid", h.sim, price="15.00"),
            ],
            [tier("t", "price", ["cheap", "dear", "mid"])],
        )
    )
    story = await _sold(h)
    assert _posts(story) == [("dear", "rejected"), ("mid", "accepted")]
    assert story["revenue"] == "15.00"


async def test_weight_80_20_sends_about_80_percent_of_first_offers(engine_sqlite: Harness) -> None:
    h = engine_sqlite
    h.buyers(sim_buyer("heavy"), sim_buyer("light"))
    await h.configure(
        document(
            [campaign("heavy", h.sim), campaign("light", h.sim)],
            [
                tier(
                    "t",
                    "weight",
                    [{"campaign": "heavy", "weight": 80}, {"campaign": "light", "weight": 20}],
                )
            ],
        )
    )
    for _ in range(200):
        assert (await h.post_lead()).json()["status"] == "sold"
    first = Counter({"heavy": len(h.sim.received("heavy")), "light": len(h.sim.received("light"))})
    # Binomial(200, 0.8): mean 160, sd 5.7; the seed makes it reproducible, the band honest.
    assert 140 <= first["heavy"] <= 180, first
    assert first["heavy"] + first["light"] == 200


async def test_even_rotates_first_offers_equally(engine_sqlite: Harness) -> None:
    h = engine_sqlite
    names = ("e1", "e2", "e3")
    h.buyers(*(sim_buyer(n) for n in names))
    await h.configure(
        document([campaign(n, h.sim) for n in names], [tier("t", "even", list(names))])
    )
    for _ in range(9):
        await h.post_lead()
    assert [len(h.sim.received(n)) for n in names] == [3, 3, 3]


async def test_parallel_pings_all_and_highest_price_wins(engine_sqlite: Harness) -> None:
    h = engine_sqlite
    h.buyers(
        sim_buyer("p1", bid_min=Decimal("11.00"), bid_max=Decimal("11.00")),
        sim_buyer("p2", bid_min=Decimal("19.00"), bid_max=Decimal("19.00"), accept_rate=0.0),
        sim_buyer("p3", bid_min=Decimal("15.00"), bid_max=Decimal("15.00")),
    )
    await h.configure(
        document(
            [campaign(n, h.sim, bid=True) for n in ("p1", "p2", "p3")],
            [tier("t", "parallel", ["p1", "p2", "p3"])],
        )
    )
    story = await _sold(h)
    pings = sorted(a["campaign"] for a in story["attempts"] if a["kind"] == "ping")
    assert pings == ["p1", "p2", "p3"]
    assert _posts(story) == [("p2", "rejected"), ("p3", "accepted")]
    assert story["revenue"] == "15.00"


async def test_ping_post_sells_at_the_winning_bid_not_another_number(engine: Harness) -> None:
    engine.buyers(
        sim_buyer("big", bid_min=Decimal("30.00"), bid_max=Decimal("30.00")),
        sim_buyer("small", bid_min=Decimal("5.00"), bid_max=Decimal("5.00")),
    )
    await engine.configure(
        document(
            [campaign("big", engine.sim, bid=True), campaign("small", engine.sim, bid=True)],
            [tier("auction", "ping_post", ["small", "big"])],
            payout={"type": "revenue_share", "percent": 50},
        )
    )
    answer = (await engine.post_lead()).json()
    assert answer["status"] == "sold" and answer["payout"] == "15.00"
    story = await engine.timeline(answer["lead_id"])
    assert story["revenue"] == "30.00"
    assert [(s["campaign"], s["price"]) for s in story["sales"]] == [("big", "30.00")]
    async with engine.rt.sessions() as session:
        sale = (await session.scalars(select(Sale))).one()
    assert sale.price == Decimal("30.00") and sale.payout == Decimal("15.00")
    # The post references the bid it answers.
    ping_answer = [a for a in story["attempts"] if a["kind"] == "ping" and a["campaign"] == "big"]
    post = engine.sim.received("big")[-1]
    assert post.kind == "post" and post.body["bid_id"] == ping_answer[0]["reference"]


async def test_ping_post_drops_bids_under_the_floor(engine_sqlite: Harness) -> None:
    h = engine_sqlite
    h.buyers(
        sim_buyer("low", bid_min=Decimal("4.99"), bid_max=Decimal("4.99")),
        sim_buyer("fair", bid_min=Decimal("5.00"), bid_max=Decimal("5.00")),
    )
    await h.configure(
        document(
            [campaign("low", h.sim, bid=True), campaign("fair", h.sim, bid=True)],
            [tier("auction", "ping_post", ["low", "fair"], floor="5.00")],
        )
    )
    story = await _sold(h)
    assert _posts(story) == [("fair", "accepted")]
    assert {"campaign": "low", "reason": "below_floor"}.items() <= story["skipped"][0].items()
    assert [r.kind for r in h.sim.received("low")] == ["ping"]


async def test_cascade_past_reject_error_garbage_and_duplicate(engine_sqlite: Harness) -> None:
    h = engine_sqlite
    h.buyers(
        sim_buyer("no", accept_rate=0.0),
        sim_buyer("boom", error_rate=1.0),
        sim_buyer("html", garbage_rate=1.0),
        sim_buyer("dup", duplicate_rate=1.0),
        sim_buyer("yes"),
    )
    names = ["no", "boom", "html", "dup", "yes"]
    await h.configure(document([campaign(n, h.sim) for n in names], [tier("t", "priority", names)]))
    story = await _sold(h)
    assert _posts(story) == [
        ("no", "rejected"),
        ("boom", "error"),
        ("html", "error"),  # a 200 HTML error page is never bought as an accept
        ("dup", "duplicate"),
        ("yes", "accepted"),
    ]
    html = next(a for a in story["attempts"] if a["campaign"] == "html")
    assert html["response"]["status"] == 200 and "not JSON" in html["reason"]


async def test_shared_lead_sells_to_n_distinct_buyers(engine_sqlite: Harness) -> None:
    h = engine_sqlite
    h.buyers(sim_buyer("x1"), sim_buyer("x2"), sim_buyer("y"), sim_buyer("z"))
    await h.configure(
        document(
            [
                campaign("x1", h.sim, buyer="xcorp", price="9.00"),
                campaign("x2", h.sim, buyer="xcorp", price="8.00"),
                campaign("y", h.sim, price="7.00"),
                campaign("z", h.sim, price="6.00"),
            ],
            [tier("t", "price", ["x1", "x2", "y", "z"])],
            tree={"lead_type": "shared", "max_buyers": 2},
        )
    )
    story = await _sold(h)
    assert [s["buyer"] for s in story["sales"]] == ["xcorp", "y"]
    assert story["revenue"] == "16.00"
    assert len(h.sim.received("x2")) == 0 and len(h.sim.received("z")) == 0


async def test_exclusive_lead_is_sold_once_and_tiers_stop(engine_sqlite: Harness) -> None:
    h = engine_sqlite
    h.buyers(sim_buyer("first"), sim_buyer("second"))
    await h.configure(
        document(
            [campaign("first", h.sim), campaign("second", h.sim)],
            [tier("t1", "priority", ["first"]), tier("t2", "priority", ["second"])],
        )
    )
    story = await _sold(h)
    assert len(story["sales"]) == 1 and h.sim.received("second") == []


async def test_a_bid_under_the_campaign_floor_is_not_posted_in_a_priority_tier(
    engine_sqlite: Harness,
) -> None:
    h = engine_sqlite
    h.buyers(
        sim_buyer("cheapskate", bid_min=Decimal("2.00"), bid_max=Decimal("2.00")),
        sim_buyer("regular"),
    )
    low = campaign("cheapskate", h.sim, bid=True)
    low["price"]["floor"] = "3.00"
    await h.configure(
        document(
            [low, campaign("regular", h.sim)], [tier("t", "priority", ["cheapskate", "regular"])]
        )
    )
    story = await _sold(h)
    assert _posts(story) == [("regular", "accepted")]
    assert [r.kind for r in h.sim.received("cheapskate")] == ["ping"]
    assert any(s["reason"] == "below_floor" for s in story["skipped"])
