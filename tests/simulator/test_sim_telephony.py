"""The telephony simulator over real HTTP: a carrier calls a stand-in webhook app on
127.0.0.1, follows its TwiML, dials scripted agents and reports the call."""

from __future__ import annotations

import asyncio
import itertools
import re
import socket
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web
from twilio.twiml.voice_response import Dial, Gather, VoiceResponse

from pingtree.clock import ManualClock
from pingtree.simulator.telephony import (
    Agent,
    AgentBehaviour,
    CallStatus,
    Carrier,
    EndedBy,
)

from .conftest import StartSide
from .pingtree_side import AUTH_TOKEN

CALLER = "+14155550100"
TRACKING = "+18005550199"
AGENT_A = "+13125550001"
AGENT_B = "sip:agent@buyer-b.example"


def twiml(response: VoiceResponse) -> str:
    return str(response)


def ivr_voice(_: dict[str, str]) -> str:
    r = VoiceResponse()
    gather = Gather(action="/calls/ivr/insurance", num_digits=1, timeout=4)
    gather.say("Press 1 for auto insurance, 2 for home.")
    r.append(gather)
    r.say("We did not get your answer. Goodbye.")
    r.hangup()
    return twiml(r)


def carrier(side_url: str, agents: dict[str, Agent] | None = None, **kwargs: Any) -> Carrier:
    return Carrier(side_url, AUTH_TOKEN, agents or {}, **kwargs)


async def test_ivr_gather_then_dial_answered(pingtree_side: StartSide) -> None:
    def insurance(form: dict[str, str]) -> str:
        r = VoiceResponse()
        # A relative action resolves against this document's URL.
        gather = Gather(action="zip", finish_on_key="#")
        gather.say("Key in your zip code, then the pound key.")
        r.append(gather)
        return twiml(r)

    def zip_entered(form: dict[str, str]) -> str:
        r = VoiceResponse()
        dial = Dial(action="/calls/dialed", timeout=20, caller_id=TRACKING)
        dial.number(AGENT_A)
        r.append(dial)
        return twiml(r)

    side = await pingtree_side(
        {
            "/calls/voice": ivr_voice,
            "/calls/ivr/insurance": insurance,
            "/calls/ivr/zip": zip_entered,
            "/calls/dialed": lambda form: twiml(VoiceResponse()),
        }
    )
    agents = {AGENT_A: Agent(AgentBehaviour.ANSWERS, ring_s=3, talk_s=95)}
    call = await carrier(side.url("/calls/voice"), agents).place_call(
        from_=CALLER, to=TRACKING, digits=["1", "94107#"]
    )

    assert side.paths() == [
        "/calls/voice",
        "/calls/ivr/insurance",
        "/calls/ivr/zip",
        "/calls/dialed",
    ]
    assert side.hit("/calls/ivr/insurance").form["Digits"] == "1"
    zip_form = side.hit("/calls/ivr/zip").form
    assert (zip_form["Digits"], zip_form["FinishedOnKey"]) == ("94107", "#")
    dialed = side.hit("/calls/dialed").form
    assert dialed["DialCallStatus"] == "completed"
    assert dialed["DialCallDuration"] == "95"
    assert re.fullmatch(r"CA[0-9a-f]{32}", dialed["DialCallSid"])
    assert dialed["CallStatus"] == "in-progress"
    assert call.digits_entered == ["1", "94107"]
    assert call.verbs == ["Gather", "Gather", "Dial"]
    (dial,) = call.dials
    assert (dial.target, dial.status, dial.ring_s, dial.talk_s) == (AGENT_A, "completed", 3, 95)
    assert dial.caller_id == TRACKING and dial.timeout_s == 20
    assert call.status is CallStatus.COMPLETED
    assert call.ended_by is EndedBy.END_OF_INSTRUCTIONS
    assert "Press 1 for auto insurance, 2 for home." in call.said
    assert "We did not get your answer. Goodbye." not in call.said
    assert agents[AGENT_A].answered_calls == 1 and agents[AGENT_A].live_calls == 0
    # Prompts, key presses, ring and talk all count; the talk alone is 95 s.
    assert 98 < call.duration_s < 110


async def test_refused_dial_falls_back_to_the_next_buyer(pingtree_side: StartSide) -> None:
    def voice(_: dict[str, str]) -> str:
        r = VoiceResponse()
        r.dial(AGENT_A, action="/calls/next?attempt=1", timeout=15)
        return twiml(r)

    def next_buyer(form: dict[str, str]) -> str:
        r = VoiceResponse()
        if form["DialCallStatus"] != "completed":
            dial = Dial(timeout=15)
            dial.sip(AGENT_B)
            r.append(dial)
        return twiml(r)

    side = await pingtree_side({"/calls/voice": voice, "/calls/next": next_buyer})
    agents = {
        AGENT_A: Agent(AgentBehaviour.REFUSES),
        AGENT_B: Agent(AgentBehaviour.ANSWERS, talk_s=120),
    }
    call = await carrier(side.url("/calls/voice"), agents).place_call(from_=CALLER, to=TRACKING)

    assert side.hit("/calls/next").query == {"attempt": "1"}
    assert side.hit("/calls/next").form["DialCallStatus"] == "busy"
    assert "DialCallDuration" not in side.hit("/calls/next").form
    assert [(d.target, d.status) for d in call.dials] == [(AGENT_A, "busy"), (AGENT_B, "completed")]
    # The answered Dial had no action and nothing followed: the agent's hangup ends the call.
    assert call.ended_by is EndedBy.CALLEE
    assert call.duration_s == 120
    assert call.answered_dial is not None and call.answered_dial.target == AGENT_B


@pytest.mark.parametrize(
    ("agent", "dial_status"),
    [
        (Agent(AgentBehaviour.RINGS_OUT), "no-answer"),
        (Agent(AgentBehaviour.ANSWERS, ring_s=12), "no-answer"),  # answers after the timeout
        (Agent(AgentBehaviour.FAILS), "failed"),
        (Agent(AgentBehaviour.BUSY, lines=5), "busy"),
        (None, "failed"),  # a target nobody configured
    ],
)
async def test_dial_outcomes(
    pingtree_side: StartSide, agent: Agent | None, dial_status: str
) -> None:
    def voice(_: dict[str, str]) -> str:
        r = VoiceResponse()
        r.dial(AGENT_A, action="/calls/dialed", timeout=10)
        return twiml(r)

    def dialed(_: dict[str, str]) -> str:
        r = VoiceResponse()
        r.say("No agent is free. Goodbye.")
        r.hangup()
        return twiml(r)

    side = await pingtree_side({"/calls/voice": voice, "/calls/dialed": dialed})
    agents = {AGENT_A: agent} if agent is not None else {}
    call = await carrier(side.url("/calls/voice"), agents).place_call(from_=CALLER, to=TRACKING)

    assert side.hit("/calls/dialed").form["DialCallStatus"] == dial_status
    (dial,) = call.dials
    assert dial.status == dial_status and dial.answered_by is None and dial.talk_s == 0
    # Ringing out spends the whole Dial timeout; busy and failed come back at once.
    assert dial.ring_s == (10 if dial_status == "no-answer" else 0)
    assert call.said == ["No agent is free. Goodbye."]
    assert call.ended_by is EndedBy.HANGUP
    assert call.recording_url is None


async def test_gather_timeout_goes_on_with_the_next_verb(pingtree_side: StartSide) -> None:
    side = await pingtree_side({"/calls/voice": ivr_voice})
    call = await carrier(side.url("/calls/voice")).place_call(from_=CALLER, to=TRACKING)

    assert side.paths() == ["/calls/voice"]
    assert call.said == [
        "Press 1 for auto insurance, 2 for home.",
        "We did not get your answer. Goodbye.",
    ]
    assert call.verbs == ["Gather", "Say", "Hangup"]
    assert call.digits_entered == []
    assert call.ended_by is EndedBy.HANGUP
    # 8 words, the 4 s gather timeout, 7 words: about 10 s.
    assert call.duration_s == 10


async def test_empty_digits_time_out_and_action_on_empty_result_posts(
    pingtree_side: StartSide,
) -> None:
    def voice(_: dict[str, str]) -> str:
        r = VoiceResponse()
        r.append(Gather(action="/calls/ivr", action_on_empty_result=True, timeout=2))
        return twiml(r)

    side = await pingtree_side({"/calls/voice": voice, "/calls/ivr": lambda f: "<Response/>"})
    call = await carrier(side.url("/calls/voice")).place_call(
        from_=CALLER, to=TRACKING, digits=[""]
    )
    assert side.hit("/calls/ivr").form["Digits"] == ""
    assert call.ended_by is EndedBy.END_OF_INSTRUCTIONS and call.duration_s == 2


async def test_gather_keys_loops_and_a_late_reject(pingtree_side: StartSide) -> None:
    def voice(_: dict[str, str]) -> str:
        r = VoiceResponse()
        r.say("Welcome.", loop=2)
        r.append(Gather(action="/calls/one", num_digits=2))
        return twiml(r)

    def one(_: dict[str, str]) -> str:
        r = VoiceResponse()
        r.append(Gather(action="/calls/two", finish_on_key="*"))
        return twiml(r)

    def two(_: dict[str, str]) -> str:
        r = VoiceResponse()
        r.append(Gather(action="/calls/three", finish_on_key=""))
        return twiml(r)

    def three(_: dict[str, str]) -> str:
        r = VoiceResponse()
        r.reject()
        r.say("never heard")
        return twiml(r)

    side = await pingtree_side(
        {"/calls/voice": voice, "/calls/one": one, "/calls/two": two, "/calls/three": three}
    )
    call = await carrier(side.url("/calls/voice")).place_call(
        from_=CALLER, to=TRACKING, digits=["123", "45*", "6#"]
    )
    got = [
        (side.hit(p).form["Digits"], side.hit(p).form["FinishedOnKey"])
        for p in ("/calls/one", "/calls/two", "/calls/three")
    ]
    # numDigits keeps the first two keys; "*" finishes; with no finishOnKey "#" is a digit.
    assert got == [("12", ""), ("45", "*"), ("6#", "")]
    assert call.said == ["Welcome.", "Welcome."]
    # A <Reject> after pickup hangs up an answered call.
    assert call.ended_by is EndedBy.REJECT and call.status is CallStatus.COMPLETED


@pytest.mark.parametrize(
    ("answer", "code", "reason"),
    [
        ("this is not xml <", 12100, "not XML"),
        ("<Response><Say>hi</Say><Transfer/></Response>", 12200, "<Transfer> is not allowed"),
        ("<Response><Record/></Response>", 12200, "does not follow"),
        ("<Response><Dial><Client>bob</Client></Dial></Response>", 12200, "<Client>"),
        ("<Response><Dial timeout='soon'>+1</Dial></Response>", 12200, "not a number"),
        ("<Response><Dial/></Response>", 12200, "without a number"),
        ("<Html/>", 12100, "not <Response>"),
        ("", 12100, "empty document"),
        (web.Response(status=500, text="boom"), 11200, "HTTP 500"),
        (web.Response(status=404), 11200, "HTTP 404"),
        (web.Response(text="<Response/>", content_type="text/plain"), 12300, "text/plain"),
        (web.json_response({"ok": True}), 12300, "application/json"),
    ],
)
async def test_bad_twiml_is_an_application_error(
    pingtree_side: StartSide, answer: str | web.Response, code: int, reason: str
) -> None:
    side = await pingtree_side({"/calls/voice": lambda form: answer})
    call = await carrier(side.url("/calls/voice")).place_call(from_=CALLER, to=TRACKING)

    assert call.ended_by is EndedBy.APPLICATION_ERROR
    assert call.error_code == code
    assert call.error is not None and reason in call.error
    assert call.said[-1] == "We are sorry, an application error has occurred. Goodbye."
    assert call.status is CallStatus.COMPLETED
    assert call.requests[0].error is not None
    assert "application error" in call.render()


async def test_unreachable_webhook_and_request_loops_are_application_errors(
    pingtree_side: StartSide,
) -> None:
    # A port nobody listens on: bind one, note it, let it go.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    dead = carrier(f"http://127.0.0.1:{port}/calls/voice", timeout_s=2)
    call = await dead.place_call(from_=CALLER, to=TRACKING)
    assert call.error_code == 11200 and call.requests[0].status is None

    side = await pingtree_side(
        {"/calls/voice": lambda f: "<Response><Redirect>/calls/voice</Redirect></Response>"}
    )
    looping = carrier(side.url("/calls/voice"), max_requests=5)
    call = await looping.place_call(from_=CALLER, to=TRACKING)
    assert len(side.hits) == 5
    assert call.error == "more than 5 webhook requests in one call"


async def test_every_request_is_signed_with_twilio_parameters(pingtree_side: StartSide) -> None:
    def voice(_: dict[str, str]) -> str:
        r = VoiceResponse()
        r.redirect("/calls/get-step?lang=en", method="GET")
        return twiml(r)

    def get_step(_: dict[str, str]) -> str:
        r = VoiceResponse()
        r.append(Gather(action="/calls/ivr", num_digits=1))
        return twiml(r)

    side = await pingtree_side(
        {
            "/calls/voice": voice,
            "/calls/get-step": get_step,
            "/calls/ivr": lambda f: "<Response/>",
            "/calls/status": lambda f: "",
        }
    )
    call = await carrier(
        side.url("/calls/voice"), status_callback_url=side.url("/calls/status")
    ).place_call(from_=CALLER, to=TRACKING, digits=["2"], params={"FromState": "CA"})

    assert side.paths() == ["/calls/voice", "/calls/get-step", "/calls/ivr", "/calls/status"]
    assert all(hit.signature_valid for hit in side.hits), side.hits
    first = side.hit("/calls/voice").form
    assert re.fullmatch(r"CA[0-9a-f]{32}", first["CallSid"])
    assert re.fullmatch(r"AC[0-9a-f]{32}", first["AccountSid"])
    assert first == {
        "CallSid": call.call_sid,
        "AccountSid": call.account_sid,
        "From": CALLER,
        "To": TRACKING,
        "Caller": CALLER,
        "Called": TRACKING,
        "CallStatus": "ringing",
        "Direction": "inbound",
        "ApiVersion": "2010-04-01",
        "FromState": "CA",
    }
    # A GET carries everything in its query string, and the signature covers it there.
    got = side.hit("/calls/get-step")
    assert got.method == "GET" and got.form == {}
    assert got.query["lang"] == "en" and got.query["CallSid"] == call.call_sid
    assert side.hit("/calls/ivr").form["CallStatus"] == "in-progress"

    # Signed with another account's token, nothing validates.
    stranger = Carrier(side.url("/calls/voice"), "someone-elses-token")
    side.hits.clear()
    await stranger.place_call(from_=CALLER, to=TRACKING, digits=["2"])
    assert side.hits and not any(hit.signature_valid for hit in side.hits)


async def test_status_callbacks_carry_durations_and_recording(pingtree_side: StartSide) -> None:
    def voice(_: dict[str, str]) -> str:
        r = VoiceResponse()
        r.say("Connecting you now.")  # 3 words: 1.2 s
        r.pause(length=2)
        r.play("http://127.0.0.1/hold.mp3")  # 5 s
        r.dial(AGENT_A, time_limit=60)
        return twiml(r)

    side = await pingtree_side({"/calls/voice": voice, "/calls/status": lambda f: ""})
    clock = ManualClock(datetime(2026, 12, 4, 20, 0, tzinfo=UTC))
    call = await carrier(
        side.url("/calls/voice"),
        {AGENT_A: Agent(ring_s=4, talk_s=300)},
        status_callback_url=side.url("/calls/status"),
        status_events=["ringing", "answered", "completed"],
        clock=clock,
    ).place_call(from_=CALLER, to=TRACKING)

    statuses = [h.form for h in side.hits if h.path == "/calls/status"]
    assert [s["CallStatus"] for s in statuses] == ["ringing", "in-progress", "completed"]
    assert [s["SequenceNumber"] for s in statuses] == ["0", "1", "2"]
    final = statuses[-1]
    # The talk is cut to the Dial's timeLimit of 60 s.
    assert final["CallDuration"] == str(call.duration_s) == "72"
    assert final["RecordingDuration"] == "60"
    assert final["RecordingUrl"] == call.recording_url
    assert final["RecordingUrl"].startswith("http://127.0.0.1/2010-04-01/Accounts/AC")
    assert final["Timestamp"] == "Fri, 04 Dec 2026 20:01:12 +0000"
    assert statuses[0]["Timestamp"] == "Fri, 04 Dec 2026 20:00:00 +0000"
    assert "RecordingUrl" not in statuses[1]
    assert call.played == ["http://127.0.0.1/hold.mp3"]
    assert len(call.status_callbacks) == 3 and len(call.webhook_requests) == 1


async def test_a_hold_loop_is_paced_by_pause_real_s(pingtree_side: StartSide) -> None:
    polls: list[float] = []

    def hold(_: dict[str, str]) -> str:
        polls.append(asyncio.get_running_loop().time())
        r = VoiceResponse()
        if len(polls) < 4:  # the buyers are still being asked
            r.pause(length=2)
            r.redirect("/calls/next")
        return twiml(r)

    side = await pingtree_side({"/calls/voice": hold, "/calls/next": hold})
    call = await carrier(side.url("/calls/voice"), pause_real_s=0.05).place_call(
        from_=CALLER, to=TRACKING
    )
    assert side.paths() == ["/calls/voice"] + ["/calls/next"] * 3
    assert min(b - a for a, b in itertools.pairwise(polls)) >= 0.045
    assert call.duration_s == 6  # simulated: three 2 s pauses


async def test_a_first_reject_never_answers_the_call(pingtree_side: StartSide) -> None:
    side = await pingtree_side(
        {
            "/calls/voice": lambda f: '<Response><Reject reason="busy"/></Response>',
            "/calls/status": lambda f: "",
        }
    )
    call = await carrier(
        side.url("/calls/voice"),
        status_callback_url=side.url("/calls/status"),
        status_events=["answered", "completed"],
    ).place_call(from_=CALLER, to=TRACKING)
    assert call.status is CallStatus.BUSY and call.ended_by is EndedBy.REJECT
    (status,) = [h.form for h in side.hits if h.path == "/calls/status"]
    assert (status["CallStatus"], status["CallDuration"]) == ("busy", "0")


def dial_then_say(_: dict[str, str]) -> str:
    r = VoiceResponse()
    r.dial(AGENT_A, action="/calls/dialed")
    return twiml(r)


async def test_one_line_held_by_one_call_makes_the_overlapping_call_busy(
    pingtree_side: StartSide,
) -> None:
    side = await pingtree_side(
        {"/calls/voice": dial_then_say, "/calls/dialed": lambda f: "<Response/>"}
    )
    release = asyncio.Event()
    agent = Agent(talk_s=200, lines=1, hold_until=release)
    sim = carrier(side.url("/calls/voice"), {AGENT_A: agent})
    calls = [asyncio.create_task(sim.place_call(from_=CALLER, to=TRACKING)) for _ in range(2)]
    # The call that finds the line taken ends while the other still holds it.
    done, pending = await asyncio.wait(calls, return_when=asyncio.FIRST_COMPLETED, timeout=3)
    (busy,) = [task.result() for task in done]
    assert [d.status for d in busy.dials] == ["busy"]
    assert agent.live_calls == 1
    release.set()
    (talked,) = await asyncio.gather(*pending)
    assert [d.status for d in talked.dials] == ["completed"]
    assert (agent.live_calls, agent.peak_calls, agent.dialed, agent.answered_calls) == (0, 1, 2, 1)


async def test_dialed_legs_report_their_progress_while_the_call_is_live(
    pingtree_side: StartSide,
) -> None:
    def voice(_: dict[str, str]) -> str:
        r = VoiceResponse()
        dial = Dial(action="/calls/dialed", caller_id=TRACKING)
        events = "initiated ringing answered completed"
        dial.number(AGENT_A, status_callback="/calls/leg", status_callback_event=events)
        # Without statusCallbackEvent a leg reports only its end.
        dial.sip(AGENT_B, status_callback="/calls/leg")
        r.append(dial)
        return twiml(r)

    side = await pingtree_side(
        {
            "/calls/voice": voice,
            "/calls/leg": lambda f: "",
            "/calls/dialed": lambda f: "<Response/>",
        }
    )
    release = asyncio.Event()
    agents = {
        AGENT_A: Agent(ring_s=2, talk_s=100, hold_until=release),
        AGENT_B: Agent(AgentBehaviour.RINGS_OUT),
    }
    placing = asyncio.create_task(
        carrier(side.url("/calls/voice"), agents).place_call(from_=CALLER, to=TRACKING)
    )
    for _ in range(300):
        if any(h.form.get("CallStatus") == "in-progress" for h in side.hits):
            break
        await asyncio.sleep(0.01)
    # pingtree hears the buyer's leg answer while the call is still live.
    assert [h.form["CallStatus"] for h in side.hits if h.path == "/calls/leg"] == [
        "initiated",
        "ringing",
        "in-progress",
    ]
    assert agents[AGENT_A].live_calls == 1
    release.set()
    call = await asyncio.wait_for(placing, 3)

    legs = [h.form for h in side.hits if h.path == "/calls/leg"]
    assert [(f["To"], f["CallStatus"]) for f in legs] == [
        (AGENT_A, "initiated"),
        (AGENT_A, "ringing"),
        (AGENT_A, "in-progress"),
        (AGENT_A, "completed"),
        (AGENT_B, "no-answer"),
    ]
    assert all(h.signature_valid for h in side.hits)
    assert {f["ParentCallSid"] for f in legs} == {call.call_sid}
    assert {f["Direction"] for f in legs} == {"outbound-dial"}
    assert legs[0]["From"] == TRACKING
    assert legs[3]["CallDuration"] == "100" and "CallDuration" not in legs[2]
    assert [f["SequenceNumber"] for f in legs[:4]] == ["0", "1", "2", "3"]
    # The answered leg's CallSid is the DialCallSid the Dial's action gets.
    assert side.hit("/calls/dialed").form["DialCallSid"] == legs[0]["CallSid"]
    assert legs[4]["CallSid"] != legs[0]["CallSid"]
    assert len(call.dial_status_callbacks) == 5 and len(call.webhook_requests) == 2


async def test_with_a_speed_calls_overlap_in_real_time(pingtree_side: StartSide) -> None:
    side = await pingtree_side(
        {"/calls/voice": dial_then_say, "/calls/dialed": lambda f: "<Response/>"}
    )
    two_lines = Agent(talk_s=30, lines=2)
    sim = carrier(side.url("/calls/voice"), {AGENT_A: two_lines}, speed=150)  # 30 s in 0.2 s
    results = await asyncio.gather(*(sim.place_call(from_=CALLER, to=TRACKING) for _ in range(3)))
    outcomes = sorted(str(r.dials[0].status) for r in results)
    assert outcomes == ["busy", "completed", "completed"]
    assert two_lines.peak_calls == 2


async def test_transcript_reads_as_the_call_went(pingtree_side: StartSide) -> None:
    side = await pingtree_side({"/calls/voice": ivr_voice})
    call = await carrier(side.url("/calls/voice")).place_call(from_=CALLER, to=TRACKING)
    text = str(call)
    assert text.splitlines()[0].startswith(f"call {call.call_sid} from {CALLER} to {TRACKING}")
    assert "voice       POST http://127.0.0.1:" in text
    assert "Gather      timed out after 4 s" in text
    assert text.splitlines()[-1] == "completed after 10 s, ended by hangup"


def test_agents_and_carrier_refuse_bad_settings() -> None:
    with pytest.raises(ValueError, match="'sometimes' is not a valid AgentBehaviour"):
        Agent("sometimes")
    with pytest.raises(ValueError, match="lines must be >= 0"):
        Agent(lines=-1)
    with pytest.raises(ValueError, match="unknown status events \\['hungup'\\]"):
        Carrier("http://127.0.0.1/", "t", {}, status_events=["hungup"])
