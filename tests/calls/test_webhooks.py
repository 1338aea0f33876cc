"""The provider's side of the protocol, step by step: signatures, the IVR, hold, dial."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from pingtree.config.document import ConfigDocument
from tests.calls.conftest import CALLER, TRACKING, Calls, call_campaign
from tests.factories import tier


def verbs(twiml: str) -> list[str]:
    return [element.tag for element in ET.fromstring(twiml)]


def incoming(call_id: str, to: str = TRACKING) -> dict[str, str]:
    return {
        "CallSid": call_id,
        "AccountSid": "AC1",
        "From": CALLER,
        "To": to,
        "CallStatus": "ringing",
    }


async def test_a_webhook_without_the_providers_signature_is_refused(calls: Calls) -> None:
    await calls.configure(
        [call_campaign("acme", calls.sim, dial="+15550001111")], [tier("t", "priority", ["acme"])]
    )
    status, body = await calls.webhook("/calls/voice", incoming("CA1"), signature="forged")
    assert status == 401 and "bad_signature" in body
    status, _ = await calls.webhook(
        "/calls/voice",
        {**incoming("CA1"), "From": "+19998887777"},
        signature=calls.validator.compute_signature(
            calls.base_url + "/calls/voice", incoming("CA1")
        ),
    )
    assert status == 401  # signed for other parameters


async def test_an_unknown_tracking_number_is_not_in_service(calls: Calls) -> None:
    await calls.configure(
        [call_campaign("acme", calls.sim, dial="+15550001111")], [tier("t", "priority", ["acme"])]
    )
    status, body = await calls.webhook("/calls/voice", incoming("CA2", to="+18005559999"))
    assert status == 200
    assert verbs(body) == ["Say", "Hangup"] and "not in service" in body


async def test_ivr_then_hold_then_dial_then_a_converted_sale(calls: Calls) -> None:
    await calls.configure(
        [call_campaign("acme", calls.sim, dial="+15550001111", min_duration_s=60)],
        [tier("t", "priority", ["acme"])],
    )
    status, body = await calls.webhook("/calls/voice", incoming("CA3"))
    assert status == 200, body
    assert verbs(body) == ["Say", "Gather", "Redirect"], body
    assert 'action="/calls/CA3/ivr/0"' in body and 'numDigits="5"' in body
    status, body = await calls.webhook("/calls/CA3/ivr/0", {**incoming("CA3"), "Digits": "10001"})
    assert verbs(body) == ["Gather", "Redirect"], body
    status, body = await calls.webhook("/calls/CA3/ivr/1", {**incoming("CA3"), "Digits": "1"})
    assert verbs(body) == ["Say", "Pause", "Redirect"], body  # hold while buyers are asked
    status, body = await calls.webhook("/calls/CA3/next", incoming("CA3"))
    assert verbs(body) == ["Dial"], body
    dial = ET.fromstring(body).find("Dial")
    assert dial is not None and dial.get("action") == "/calls/CA3/dialed/acme"
    assert dial.findtext("Number") == "+15550001111" and dial.get("callerId") == CALLER
    status, body = await calls.webhook(
        "/calls/CA3/dialed/acme",
        {
            **incoming("CA3"),
            "CallStatus": "in-progress",
            "DialCallStatus": "completed",
            "DialCallDuration": "95",
        },
    )
    assert verbs(body) == ["Hangup"], body
    status, _ = await calls.webhook(
        "/calls/status",
        {
            **incoming("CA3"),
            "CallStatus": "completed",
            "CallDuration": "130",
            "RecordingUrl": "http://127.0.0.1/r/1",
        },
    )
    assert status == 204
    story = await calls.story("CA3")
    assert story["status"] == "completed" and story["converted"] is True
    assert story["price"] == "25.00" and story["connected_s"] == 95 and story["duration_s"] == 130
    assert story["answers"] == {"zip": "10001", "credit": "good"}
    assert [e["kind"] for e in story["events"]] == [
        "incoming",
        "ivr",
        "ivr",
        "dialed",
        "routed",
        "status",
    ]
    lead = await calls.h.timeline(story["lead_id"])
    assert lead["status"] == "sold"
    assert [(a["kind"], a["outcome"]) for a in lead["attempts"]] == [("post", "accepted")]


async def test_a_caller_whose_publisher_was_removed_during_the_ivr_is_turned_away(
    calls: Calls,
) -> None:
    await calls.configure(
        [call_campaign("acme", calls.sim, dial="+15550001111")], [tier("t", "priority", ["acme"])]
    )
    await calls.webhook("/calls/voice", incoming("CA9"))
    await calls.webhook("/calls/CA9/ivr/0", {**incoming("CA9"), "Digits": "10001"})
    document = calls.h.rt.catalog.document.model_dump(mode="json", exclude_none=True)
    await calls.h.configure(
        ConfigDocument.model_validate({**document, "publishers": [], "routes": []})
    )
    status, body = await calls.webhook("/calls/CA9/ivr/1", {**incoming("CA9"), "Digits": "1"})
    assert status == 200 and verbs(body) == ["Say", "Hangup"], body
    assert "takes no calls" in body
    story = await calls.story("CA9")
    assert story["status"] == "refused" and story["lead_id"] is None
    assert story["events"][-1]["kind"] == "ended"
    assert story["events"][-1]["detail"]["reason"] == "not_routable"
