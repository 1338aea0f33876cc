"""The call-control XML (TwiML) pingtree answers a provider's webhooks with.

Twilio, SignalWire, Telnyx (TeXML) and Plivo read the same verbs: Say, Gather, Dial (a
Number or a Sip URI), Pause, Redirect, Hangup. twilio's own builder writes them.
"""

from __future__ import annotations

from dataclasses import dataclass

from twilio.twiml.voice_response import VoiceResponse

from pingtree.verticals.calls import IvrQuestion


@dataclass(frozen=True)
class Urls:
    """The webhook paths a call's TwiML points to (relative: the provider resolves them
    against the URL it called)."""

    prefix: str = "/calls"

    def ivr(self, call_id: str, question: int) -> str:
        return f"{self.prefix}/{call_id}/ivr/{question}"

    def next(self, call_id: str) -> str:
        return f"{self.prefix}/{call_id}/next"

    def dialed(self, call_id: str, campaign: str) -> str:
        return f"{self.prefix}/{call_id}/dialed/{campaign}"


URLS = Urls()

HOLD_PAUSE_S = 2
"""A caller on hold hears this much silence between checks for the next step."""


def ask(question: IvrQuestion, *, action: str, greeting: str | None = None) -> str:
    """Ask one IVR question; the keys pressed go to action. No keys: the question's action
    gets none (the Redirect after the Gather), so the call goes on without the answer."""
    response = VoiceResponse()
    if greeting:
        response.say(greeting)
    gather = response.gather(
        input="dtmf",
        num_digits=question.keys,
        timeout=question.timeout_s,
        action=action,
        method="POST",
        finish_on_key="#",
    )
    gather.say(question.say)
    response.redirect(action, method="POST")
    return str(response)


def dial(target: str, *, action: str, ring_s: int, caller_id: str | None = None) -> str:
    """Put the caller through to a buyer's number or SIP URI; how it went goes to action."""
    response = VoiceResponse()
    attributes: dict[str, object] = {"action": action, "method": "POST", "timeout": ring_s}
    if caller_id:
        attributes["caller_id"] = caller_id
    verb = response.dial(**attributes)
    if target.startswith(("sip:", "sips:")):
        verb.sip(target)
    else:
        verb.number(target)
    return str(response)


def hold(message: str | None, *, next_url: str) -> str:
    """Keep the caller on the line while buyers are asked, then ask again at next_url."""
    response = VoiceResponse()
    if message:
        response.say(message)
    response.pause(length=HOLD_PAUSE_S)
    response.redirect(next_url, method="POST")
    return str(response)


def goodbye(message: str | None) -> str:
    """Say a last word (if any) and hang up."""
    response = VoiceResponse()
    if message:
        response.say(message)
    response.hangup()
    return str(response)


def refuse(message: str) -> str:
    """A call pingtree cannot take (an unknown number, calls turned off): said, hung up."""
    return goodbye(message)
