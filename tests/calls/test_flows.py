"""Whole calls, placed by the telephony simulator against the served engine, through the
same tree engine as form leads: the seeds' five call flows, the fallback from one buyer
to the next, pay on duration, and caps counting converted calls or dials. Both databases."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from pingtree.simulator import Agent
from pingtree.verticals.calls import CallIntake
from tests.calls.conftest import CALL_VERTICAL, CALLER, TRACKING, Calls, call_campaign
from tests.engine.conftest import sim_buyer
from tests.factories import LEAD_FIELDS, campaign, tier

ACME = "+15550001111"
UNSOLD = CallIntake().unsold_message
BETA = "sip:agents@beta.example"


async def test_a_busy_buyer_falls_back_to_the_next_which_converts(calls: Calls) -> None:
    await calls.configure(
        [call_campaign("acme", calls.sim, dial=ACME), call_campaign("beta", calls.sim, dial=BETA)],
        [tier("t", "priority", [{"campaign": "acme", "rank": 1}, {"campaign": "beta", "rank": 2}])],
    )
    call, story = await calls.place({ACME: Agent("refuses"), BETA: Agent("answers", talk_s=95)})
    assert [(d.target, d.status) for d in call.dials] == [(ACME, "busy"), (BETA, "completed")]
    assert call.dials[1].caller_id == CALLER  # the winner gets the caller's number
    assert story["status"] == "completed" and story["campaign"] == "beta"
    assert story["converted"] is True and story["price"] == "25.00"
    assert story["connected_s"] == 95 and story["duration_s"] == call.duration_s
    assert len(calls.h.rt.call_sessions) == 0  # the last step was taken: the session closed
    assert story["recording_url"] == call.recording_url
    lead = await calls.h.timeline(story["lead_id"])
    assert lead["status"] == "sold"
    posts = [(a["campaign"], a["outcome"], a["reason"]) for a in lead["attempts"]]
    assert posts == [("acme", "rejected", "busy"), ("beta", "accepted", None)]
    assert lead["fields"]["zip"] == "10001" and lead["fields"]["credit"] == "good"


async def test_a_call_shorter_than_the_minimum_is_not_converted_and_not_billed(
    calls: Calls,
) -> None:
    await calls.configure(
        [call_campaign("acme", calls.sim, dial=ACME, min_duration_s=90)],
        [tier("t", "priority", ["acme"])],
    )
    call, story = await calls.place({ACME: Agent("answers", talk_s=89)})
    assert [d.status for d in call.dials] == ["completed"]
    assert story["status"] == "completed" and story["connected_s"] == 89
    assert story["converted"] is False and story["price"] is None
    lead = await calls.h.timeline(story["lead_id"])
    assert lead["status"] == "unsold" and lead["revenue"] == "0.00"
    (dial,) = lead["attempts"]
    assert dial["reason"] == "not converted: connected 89 s of 90 s"
    # one more second is a sale
    _, story = await calls.place({ACME: Agent("answers", talk_s=90)})
    assert story["converted"] is True and story["price"] == "25.00"


async def test_caps_count_converted_calls_or_every_dial(calls: Calls) -> None:
    await calls.configure(
        [
            call_campaign("conv", calls.sim, dial=ACME, min_duration_s=60, caps={"daily": 1}),
            call_campaign(
                "dials",
                calls.sim,
                dial=BETA,
                min_duration_s=60,
                caps={"daily": 1},
                caps_count="dials",
            ),
        ],
        [
            tier(
                "t", "priority", [{"campaign": "conv", "rank": 1}, {"campaign": "dials", "rank": 2}]
            )
        ],
    )
    short = {ACME: Agent("answers", talk_s=10), BETA: Agent("answers", talk_s=10)}
    call, story = await calls.place(short)  # both dialed, neither converts
    assert [d.target for d in call.dials] == [ACME, BETA] and story["converted"] is False
    call, story = await calls.place(short)  # conv has room again; dials counted its dial
    assert [d.target for d in call.dials] == [ACME]
    lead = await calls.h.timeline(story["lead_id"])
    assert {s["campaign"]: s["reason"] for s in lead["skipped"]} == {"dials": "cap"}


async def test_ping_with_the_callers_number_and_without_it(calls: Calls) -> None:
    calls.h.buyers(
        sim_buyer("withnum", bid_min=Decimal("30"), bid_max=Decimal("30"), dial=ACME),
        sim_buyer(
            "nonum",
            bid_min=Decimal("40"),
            bid_max=Decimal("40"),
            dial=BETA,
            min_duration_s=30,
            bid_expires_s=60,
        ),
    )
    await calls.configure(
        [
            call_campaign("withnum", calls.sim, bid=True, ping_with_number=True),
            call_campaign("nonum", calls.sim, bid=True, min_duration_s=120),
        ],
        [tier("t", "ping_post", ["withnum", "nonum"])],
    )
    call, story = await calls.place({ACME: Agent("answers"), BETA: Agent("answers", talk_s=31)})
    # the best bid wins, at its price, dialed where its answer said, paid after its own minimum
    assert [d.target for d in call.dials] == [BETA]
    assert story["campaign"] == "nonum" and story["converted"] is True
    assert story["price"] == "40.00"
    (with_number,) = [r for r in calls.sim.received("withnum") if r.kind == "ping"]
    (without,) = [r for r in calls.sim.received("nonum") if r.kind == "ping"]
    assert with_number.body["phone"] == CALLER
    assert "phone" not in without.body and without.body["zip"] == "10001"


@pytest.mark.parametrize("absurd", ["1e20", "1e9999999"])
async def test_a_bid_with_absurd_terms_is_dialed_on_the_campaigns_own(
    calls: Calls, absurd: str
) -> None:
    # "1e20" seconds overflowed the bid's expiry (the call's routing failed) and "1e9999999"
    # took the process minutes to make a whole number of, every lead and call in it waiting;
    # a minimum no call lasts would have had the buyer take the caller and never pay.
    calls.h.buyers(
        sim_buyer(
            "absurd",
            bid_min=Decimal("50"),
            bid_max=Decimal("50"),
            dial=ACME,
            bid_fields={"expires_s": absurd, "min_duration_s": absurd},
        )
    )
    await calls.configure(
        [call_campaign("absurd", calls.sim, bid=True, min_duration_s=60)],
        [tier("t", "ping_post", ["absurd"])],
    )
    call, story = await asyncio.wait_for(calls.place({ACME: Agent("answers", talk_s=61)}), 30)
    assert [d.target for d in call.dials] == [ACME]
    assert story["campaign"] == "absurd" and story["converted"] is True
    assert story["price"] == "50.00"


async def test_agent_availability_and_live_call_limits_skip_busy_buyers(calls: Calls) -> None:
    calls.h.buyers(sim_buyer("avail", available=False, unavailable_reason="all agents on calls"))
    await calls.configure(
        [
            call_campaign(
                "avail", calls.sim, dial=ACME, availability_url=calls.sim.url("avail", "available")
            ),
            call_campaign("lines", calls.sim, dial=BETA, concurrency=1),
            call_campaign("last", calls.sim, dial="+15550003333"),
        ],
        [
            tier(
                "t",
                "priority",
                [{"campaign": c, "rank": i} for i, c in enumerate(["avail", "lines", "last"])],
            )
        ],
    )
    import asyncio

    hold = asyncio.Event()
    agents = {
        ACME: Agent("answers"),
        BETA: Agent("answers", talk_s=70, hold_until=hold),
        "+15550003333": Agent("answers", talk_s=70),
    }
    carrier = calls.carrier(agents)
    first = asyncio.create_task(
        carrier.place_call(from_=CALLER, to="+18005550100", digits=["10001", "1"])
    )
    for _ in range(400):  # until the first call holds beta's one line
        if await calls.h.rt.call_lines.live("lines") == 1:
            break
        await asyncio.sleep(0.05)
    second = await carrier.place_call(
        from_="+12127365001", to="+18005550100", digits=["10001", "1"]
    )
    hold.set()
    first_call = await first
    assert [d.target for d in first_call.dials] == [BETA]
    assert [d.target for d in second.dials] == ["+15550003333"]
    story = await calls.story(second.call_sid)
    lead = await calls.h.timeline(story["lead_id"])
    reasons = [(a["campaign"], a["reason"]) for a in lead["attempts"]]
    assert reasons == [
        ("avail", "busy: no agent available (all agents on calls)"),
        ("lines", "busy: 1 of 1 lines live"),
        ("last", None),
    ]
    assert await calls.h.rt.call_lines.live("lines") == 0


async def test_a_caller_who_filled_the_form_is_matched_and_the_ping_carries_the_form(
    calls: Calls,
) -> None:
    calls.h.buyers(sim_buyer("acme", dial=ACME))
    await calls.configure(
        [call_campaign("acme", calls.sim, bid=True)], [tier("t", "ping_post", ["acme"])]
    )
    form = await calls.h.post_lead(LEAD_FIELDS)  # no form campaign: it stays unsold
    assert form.status_code == 200, form.text
    form_id = form.json()["lead_id"]
    _, story = await calls.place({ACME: Agent("answers", talk_s=80)}, digits=("10001", "2"))
    assert story["matched_lead_id"] == form_id
    assert "matched" in [e["kind"] for e in story["events"]]
    (ping,) = [r for r in calls.sim.received("acme") if r.kind == "ping"]
    assert ping.body["state"] == "NY" and ping.body["age"] == 36  # from the form
    assert ping.body["credit"] == "poor"  # the IVR's answer is newer than the form's
    assert "email" not in ping.body and "phone" not in ping.body
    form_story = await calls.h.timeline(form_id)
    assert [c["id"] for c in form_story["calls"]] == [story["id"]]
    call_lead = await calls.h.timeline(story["lead_id"])
    assert call_lead["fields"]["email"] == LEAD_FIELDS["email"]  # the winner gets the form


async def test_call_figures_per_campaign(calls: Calls) -> None:
    await calls.configure(
        [call_campaign("acme", calls.sim, dial=ACME, min_duration_s=60)],
        [tier("t", "priority", ["acme"])],
    )
    await calls.place({ACME: Agent("answers", talk_s=100)})
    await calls.place({ACME: Agent("answers", talk_s=20)})
    await calls.place({ACME: Agent("rings_out")})
    got = await calls.h.client.get(
        "/api/v1/admin/calls/figures?by=campaign",
        headers={"Authorization": "Bearer admin-test-token"},
    )
    assert got.status_code == 200, got.text
    rows = {row["key"]: row for row in got.json()}
    assert rows["acme"]["calls"] == 2  # the third reached nobody: no campaign
    assert rows["acme"]["connected"] == 2 and rows["acme"]["converted"] == 1
    assert rows["acme"]["revenue"] == "25.00" and rows["acme"]["revenue_per_call"] == "12.50"
    assert rows["(none)"]["calls"] == 1 and rows["(none)"]["connected"] == 0
    metrics = (await calls.h.client.get("/metrics")).text
    assert 'pingtree_calls_total{converted="yes",status="completed"} 1.0' in metrics
    assert 'pingtree_calls_total{converted="no",status="completed"} 1.0' in metrics
    assert 'pingtree_calls_total{converted="no",status="unsold"} 1.0' in metrics


async def test_a_suppressed_caller_is_screened_out_before_any_buyer_hears_of_the_call(
    calls: Calls,
) -> None:
    screening = {"checks": [{"check": "invalid_phone"}]}
    await calls.configure(
        [call_campaign("acme", calls.sim, dial=ACME)],
        [tier("t", "priority", ["acme"])],
        vertical={**CALL_VERTICAL, "screening": screening},
    )
    await calls.admin("POST", "/suppressions", json={"scope": "global", "phones": [CALLER]})
    call, story = await calls.place({ACME: Agent("answers")})
    assert call.dials == [] and story["status"] == "refused"
    assert call.said[-1] == UNSOLD
    ended = [e for e in story["events"] if e["kind"] == "ended"]
    assert (
        ended[0]["detail"]["reason"] == "screened" and "suppressed" in ended[0]["detail"]["detail"]
    )
    lead = await calls.h.timeline(story["lead_id"])
    assert lead["status"] == "rejected" and lead["attempts"] == []


async def test_nobody_answers_and_the_caller_hears_the_unsold_message(calls: Calls) -> None:
    await calls.configure(
        [call_campaign("acme", calls.sim, dial=ACME), call_campaign("beta", calls.sim, dial=BETA)],
        [tier("t", "priority", [{"campaign": "acme", "rank": 1}, {"campaign": "beta", "rank": 2}])],
    )
    call, story = await calls.place({ACME: Agent("rings_out"), BETA: Agent("fails")})
    assert [(d.target, d.status) for d in call.dials] == [(ACME, "no-answer"), (BETA, "failed")]
    assert call.said[-1] == UNSOLD and call.verbs[-1] == "Hangup"
    assert story["status"] == "unsold" and story["converted"] is False
    assert [(a["kind"], a["outcome"]) for a in story["attempts"]] == [
        ("post", "timeout"),
        ("post", "error"),
    ]


async def test_a_caller_who_hangs_up_on_hold_is_offered_to_nobody_more(calls: Calls) -> None:
    calls.h.buyers(sim_buyer("slow", dial=ACME, latency_ms_min=800, latency_ms_max=800))
    await calls.configure(
        [call_campaign("slow", calls.sim, bid=True), call_campaign("beta", calls.sim, dial=BETA)],
        [tier("bids", "ping_post", ["slow"]), tier("direct", "priority", ["beta"])],
    )
    incoming = {"CallSid": "CAgone", "From": CALLER, "To": TRACKING, "CallStatus": "ringing"}
    status, body = await calls.webhook("/calls/voice", incoming)
    status, body = await calls.webhook("/calls/CAgone/ivr/0", {**incoming, "Digits": "10001"})
    status, body = await calls.webhook("/calls/CAgone/ivr/1", {**incoming, "Digits": "1"})
    assert "Please hold" in body
    # the caller hangs up while the slow buyer is still being pinged
    status, _ = await calls.webhook("/calls/status", {**incoming, "CallStatus": "completed"})
    assert status == 204
    story = await calls.story("CAgone")
    assert story["status"] == "unsold"
    assert [(a["kind"], a["campaign"]) for a in story["attempts"]] == [("ping", "slow")]
    assert len(calls.h.rt.call_sessions) == 0  # nothing kept for a caller who is gone


async def test_a_mistyped_answer_is_left_out_and_the_call_goes_on(calls: Calls) -> None:
    await calls.configure(
        [call_campaign("acme", calls.sim, dial=ACME)], [tier("t", "priority", ["acme"])]
    )
    _, story = await calls.place({ACME: Agent("answers", talk_s=80)}, digits=("1234", "1"))
    assert story["converted"] is True
    (invalid,) = [e for e in story["events"] if e["kind"] == "invalid"]
    assert invalid["detail"] == {"fields": ["zip"]}
    lead = await calls.h.timeline(story["lead_id"])
    assert "zip" not in lead["fields"] and lead["fields"]["credit"] == "good"


async def test_calls_have_their_own_same_person_window(calls: Calls) -> None:
    # The caller's form is the call's match, not its duplicate; a second call is one.
    screening = {"checks": [], "dedup": {"enabled": True, "window_hours": 24}}
    calls.h.buyers(sim_buyer("form"))
    form_campaign = campaign("form", calls.sim)
    await calls.configure(
        [call_campaign("acme", calls.sim, dial=ACME), form_campaign],
        [tier("t", "priority", ["acme", "form"])],
        vertical={**CALL_VERTICAL, "screening": screening},
    )
    form = (await calls.h.post_lead(LEAD_FIELDS)).json()
    assert form["status"] == "sold"
    again = (await calls.h.post_lead(LEAD_FIELDS)).json()
    assert [r["code"] for r in again["reasons"]] == ["duplicate"]  # the form's window holds
    _, first = await calls.place({ACME: Agent("answers", talk_s=80)})
    assert first["converted"] is True and first["matched_lead_id"] == form["lead_id"]
    _, second = await calls.place({ACME: Agent("answers", talk_s=80)})
    assert second["status"] == "refused"
    (ended,) = [e for e in second["events"] if e["kind"] == "ended"]
    assert ended["detail"]["detail"] == "duplicate"


async def test_a_call_flagged_for_review_is_refused_not_held(calls: Calls) -> None:
    # An operator's review comes too late for a caller on the line.
    screening = {
        "checks": [
            {"check": "field_rule", "field": "credit", "not_in": ["good"], "action": "review"}
        ]
    }
    await calls.configure(
        [call_campaign("acme", calls.sim, dial=ACME)],
        [tier("t", "priority", ["acme"])],
        vertical={**CALL_VERTICAL, "screening": screening},
    )
    call, story = await calls.place({ACME: Agent("answers")})  # pressed 1: credit good
    assert call.dials == [] and story["status"] == "refused"
    lead = await calls.h.timeline(story["lead_id"])
    assert lead["status"] == "rejected"
