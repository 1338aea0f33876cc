"""Calls in the console: the list, a call told in order, the leads linking their calls, and
the call figures in the reports (on both databases, calls driven through the webhooks)."""

from __future__ import annotations

import html as markup
import re
from datetime import UTC, datetime

from pingtree.calls.repository import CallEvent
from pingtree.console import present, readable
from tests.calls.conftest import CALLER, TRACKING, Calls, call_campaign, calls
from tests.console.conftest import Operator
from tests.factories import tier

__all__ = ["calls"]  # the fixture, shared with tests/calls


def incoming(call_id: str) -> dict[str, str]:
    return {"CallSid": call_id, "AccountSid": "AC1", "From": CALLER, "To": TRACKING}


async def sold_call(calls: Calls, call_id: str) -> None:
    """A call through the IVR, put through to acme for 95 s, 130 s in all: converted."""
    await calls.webhook("/calls/voice", {**incoming(call_id), "CallStatus": "ringing"})
    await calls.webhook(f"/calls/{call_id}/ivr/0", {**incoming(call_id), "Digits": "10001"})
    await calls.webhook(f"/calls/{call_id}/ivr/1", {**incoming(call_id), "Digits": "1"})
    await calls.webhook(f"/calls/{call_id}/next", incoming(call_id))
    await calls.webhook(
        f"/calls/{call_id}/dialed/acme",
        {
            **incoming(call_id),
            "CallStatus": "in-progress",
            "DialCallStatus": "completed",
            "DialCallDuration": "95",
        },
    )
    await calls.webhook(
        "/calls/status",
        {
            **incoming(call_id),
            "CallStatus": "completed",
            "CallDuration": "130",
            "RecordingUrl": "http://127.0.0.1/r/1",
        },
    )
    await calls.h.rt.in_flight.drain(60)


async def hung_up_in_the_ivr(calls: Calls, call_id: str) -> None:
    """A call whose caller hangs up at the first question, after 10 s: unsold."""
    await calls.webhook("/calls/voice", {**incoming(call_id), "CallStatus": "ringing"})
    await calls.webhook(
        "/calls/status", {**incoming(call_id), "CallStatus": "completed", "CallDuration": "10"}
    )


async def configured(calls: Calls) -> Operator:
    await calls.configure(
        [call_campaign("acme", calls.sim, dial="+15550001111", min_duration_s=60, ring_s=25)],
        [tier("t", "priority", ["acme"])],
    )
    return await Operator.login(calls.h.client)


def text(fragment: str) -> str:
    """What a person reads of an HTML fragment."""
    return markup.unescape(re.sub(r"<[^>]+>", "", fragment)).strip()


def cells(html: str, table: str, key: str, value: str) -> list[str]:
    """The text of a table row's cells, the row found by its data attribute."""
    body = html.split(f'id="{table}"', 1)[1].split("</table>", 1)[0]
    row = body.split(f'data-{key}="{value}"', 1)[1].split("</tr>", 1)[0]
    return [text(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row)]


async def test_the_calls_list_and_a_call_told_in_order(calls: Calls) -> None:
    operator = await configured(calls)
    form = await calls.h.post_lead()  # the caller's form, earlier: the call is matched to it
    assert form.status_code in (200, 201), form.text
    form_lead = form.json()["lead_id"]
    await sold_call(calls, "CA-sold")
    await hung_up_in_the_ivr(calls, "CA-gone")

    listed = await operator.get("/console/calls")
    assert listed.status_code == 200, listed.text
    assert CALLER not in listed.text and "2127365000" not in listed.text  # masked
    assert cells(listed.text, "call-list", "call", "CA-sold") == [
        "CA-sold",
        "2026-11-25 12:00:00 UTC",
        "pub (auto)",
        TRACKING,
        "•••5000",
        "completed",
        "acme (acme)",
        "1 min 35 s",
        "yes",
        "25.00",
    ]
    gone = cells(listed.text, "call-list", "call", "CA-gone")
    assert gone[5:] == ["unsold", "–", "–", "no", "–"]
    assert 'href="/console/calls/CA-sold"' in listed.text

    shown = await operator.get("/console/calls/CA-sold")
    assert shown.status_code == 200, shown.text
    html = shown.text
    assert CALLER not in html
    lead_id = re.search(r'id="call-lead"><a href="/console/leads/([^"]+)"', html)
    assert lead_id is not None and lead_id[1] != form_lead
    assert f'id="call-matched"><a href="/console/leads/{form_lead}"' in html
    assert 'id="call-duration">2 min 10 s<' in html and 'id="call-connected">1 min 35 s<' in html
    assert 'id="call-converted">yes: billed at 25.00<' in html
    assert 'href="http://127.0.0.1/r/1"' in html
    assert "<code>zip</code>" in html and "10001" in html and "good" in html
    moments = html.split('id="call-moments"', 1)[1].split("</ol>", 1)[0]
    steps = [text(m).split("· ", 1)[1] for m in moments.split("<li>")[1:]]
    assert steps[0] == f"incoming: from •••5000 to {TRACKING}"
    assert steps[1:3] == ["IVR: zip: 10001 (pressed 10001)", "IVR: credit: good (pressed 1)"]
    assert steps[3] == f"matched: the caller's earlier form lead (auto) {form_lead[:8]}"
    assert f'href="/console/leads/{form_lead}"' in moments
    assert steps[4:] == [
        "dialed: acme: answered, connected 1 min 35 s",
        "routed: put through to acme for 25.00",
        "status: completed, 2 min 10 s in all · recorded",
    ]

    dials = html.split('id="call-attempts"', 1)[1].split("</table>", 1)[0]
    assert [text(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", dials)][:5] == [
        "dial",
        "acme (acme)",
        "accepted",
        "25.00",
        "completed, connected 1 min 35 s",
    ]

    missing = await operator.get("/console/calls/CA-none")
    assert missing.status_code == 404 and "No such call" in missing.text


async def test_a_lead_page_links_its_calls(calls: Calls) -> None:
    operator = await configured(calls)
    form = await calls.h.post_lead()
    form_lead = form.json()["lead_id"]
    await sold_call(calls, "CA-sold")
    became = (await calls.story("CA-sold"))["lead_id"]

    pages = {}
    for lead_id, role in ((became, "the call"), (form_lead, "the caller's earlier form")):
        page = await operator.get(f"/console/leads/{lead_id}")
        assert page.status_code == 200, page.text
        row = cells(page.text, "lead-calls", "call", "CA-sold")
        assert row[0] == "CA-sold" and row[1] == role
        assert 'href="/console/calls/CA-sold"' in page.text
        pages[lead_id] = page.text
    dials = pages[became].split("<h2>Pings and posts</h2>", 1)[1].split("<h2>Sales</h2>", 1)[0]
    dial = text(dials.split('<div class="dial">', 1)[1].split("</div>", 1)[0])
    assert dial == (
        "Dialed +15550001111, ringing up to 25 s: completed, connected 1 min 35 s"
        " (converts at 1 min 0 s) · the call"
    )
    assert 'href="/console/calls/CA-sold">the call</a>' in dials


async def test_the_reports_call_figures_per_campaign_and_publisher(calls: Calls) -> None:
    operator = await configured(calls)
    await sold_call(calls, "CA-sold")
    await hung_up_in_the_ivr(calls, "CA-gone")

    report = await operator.get("/console/reports", period="today")
    assert report.status_code == 200, report.text
    # calls, connected, converted, average duration (130 s and 10 s), revenue, per call
    assert cells(report.text, "call-publisher-figures", "publisher", "pub") == [
        "pub",
        "2",
        "1",
        "1",
        "70.0 s",
        "25.00",
        "12.50",
    ]
    assert cells(report.text, "call-campaign-figures", "campaign", "acme")[1:] == [
        "1",
        "1",
        "1",
        "130.0 s",
        "25.00",
        "25.00",
    ]
    assert cells(report.text, "call-campaign-figures", "campaign", "(none)") == [
        "not put through",
        "1",
        "0",
        "0",
        "10.0 s",
        "0.00",
        "0.00",
    ]
    csv = await operator.get("/console/reports/call-publishers.csv", period="today")
    assert csv.status_code == 200
    assert csv.text.splitlines()[1:] == ["pub,2,1,1,70.0,25.00,12.50"]

    yesterday = await operator.get("/console/reports", period="yesterday")
    figures = yesterday.text.split('id="call-publisher-figures"', 1)[1].split("</table>")[0]
    assert "No calls in this period." in figures
    other = await operator.get("/console/reports", period="today", publisher="nobody")
    assert 'data-publisher="pub"' not in other.text.split('id="call-publisher-figures"', 1)[1]


def test_the_steps_a_call_may_take_read_as_words() -> None:
    at = datetime(2026, 11, 25, 12, tzinfo=UTC)
    events = [
        CallEvent(at, "ivr", {"field": "credit", "keys": "9", "value": None}),
        CallEvent(at, "dialed", {"campaign": "acme", "dial_status": "no-answer", "connected_s": 0}),
        CallEvent(
            at,
            "dialed",
            {
                "campaign": "beta",
                "dial_status": "completed",
                "connected_s": 12,
                "caller_left": True,
            },
        ),
        CallEvent(at, "invalid", {"fields": ["zip"]}),
        CallEvent(at, "routed", {"reasons": ["no_buyer", "cap_reached"]}),
        CallEvent(at, "ended", {"status": "refused", "reason": "screened", "detail": "blocked"}),
    ]
    assert [(m.what, m.detail, m.tone) for m in readable.call_moments(events)] == [
        ("IVR", "credit: no answer (pressed 9)", "rejected"),
        ("dialed", "acme: did not answer", "rejected"),
        ("dialed", "beta: answered, connected 12 s · the caller hung up", "accepted"),
        ("answer left out", "left out as mistyped: zip", "rejected"),
        ("routed", "no buyer took it (no buyer, cap reached)", ""),
        ("ended", "refused: screened · blocked", "refused"),
    ]
    assert [present.masked_phone(n) for n in ("+1 (212) 736-5000", "911", "", None)] == [
        "•••5000",
        "•••",
        "–",
        "–",
    ]


async def test_the_configuration_pages_show_what_calls_are_taken_and_bought(calls: Calls) -> None:
    operator = await configured(calls)
    for path, wanted in (
        ("/console/config", "dials"),
        ("/console/config/campaigns/acme", "min_duration_s"),  # kept through a form edit
        ("/console/config/publishers/pub", TRACKING.lstrip("+")),
        ("/console/config/verticals/auto", "auto"),
        ("/console/config/trees/main", "acme"),
        ("/console/config/campaigns/acme/yaml", "ring_s"),
    ):
        got = await operator.get(path)
        assert got.status_code == 200, (path, got.status_code)
        assert wanted in got.text, path
