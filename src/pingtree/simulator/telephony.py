"""A simulated telephony carrier: places calls against a Twilio-compatible voice webhook.

The carrier speaks Twilio's side of the protocol over real HTTP: a signed form POST per
request, TwiML back, each verb followed in turn (Say, Play, Pause, Gather, Redirect, Dial,
Hangup, Reject). Dials reach scripted `Agent`s instead of phones, and simulated time is
counted instead of waited, so whole calls run offline in milliseconds. Bad call control is
never raised: it ends the call with "an application error has occurred", as Twilio does,
and the transcript says why.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from email.utils import format_datetime
from urllib.parse import urlencode, urljoin, urlsplit, urlunsplit

import aiohttp
from twilio.request_validator import RequestValidator

from pingtree.clock import Clock, SystemClock
from pingtree.simulator.telephony_agents import Agent, AgentBehaviour, CallStatus
from pingtree.simulator.telephony_transcript import (
    CallEvent,
    CallTranscript,
    DialRecord,
    EndedBy,
    Exchange,
    Purpose,
)
from pingtree.simulator.telephony_twiml import (
    HTTP_RETRIEVAL_FAILURE,
    TwimlError,
    Verb,
    check_content_type,
    parse_twiml,
)

__all__ = ["Agent", "AgentBehaviour", "CallStatus", "CallTranscript", "Carrier", "EndedBy"]

SIGNATURE_HEADER = "X-Twilio-Signature"
API_VERSION = "2010-04-01"
SIMULATED_ACCOUNT_SID = "AC" + "5" * 32
APPLICATION_ERROR_MESSAGE = "We are sorry, an application error has occurred. Goodbye."
STATUS_EVENTS = frozenset({"ringing", "answered", "completed"})

# Simulated durations of what has no length of its own.
SAY_WORDS_PER_S = 2.5
PLAY_S = 5.0
KEY_PRESS_S = 0.5
DEFAULT_GATHER_TIMEOUT_S = 5.0
DEFAULT_DIAL_TIMEOUT_S = 30.0
DEFAULT_TIME_LIMIT_S = 14_400.0


def new_sid(prefix: str) -> str:
    """A Twilio-shaped SID: two letters and 32 hex digits."""
    return prefix + uuid.uuid4().hex


class Carrier:
    """Places simulated inbound calls on one voice webhook, as Twilio would."""

    def __init__(
        self,
        voice_url: str,
        auth_token: str,
        agents: Mapping[str, Agent] | None = None,
        *,
        status_callback_url: str | None = None,
        status_events: Iterable[str] = ("completed",),
        account_sid: str = SIMULATED_ACCOUNT_SID,
        clock: Clock | None = None,
        speed: float = 0.0,
        timeout_s: float = 15.0,
        max_requests: int = 100,
        pause_real_s: float = 0.0,
    ) -> None:
        """Args:
        voice_url: the number's voice webhook, as configured at the carrier.
        auth_token: the account's auth token; every request is signed with it.
        agents: dial target (E.164 number or sip: URI) -> its agent; others fail.
        status_callback_url: where the call's status events go.
        status_events: which of ringing, answered, completed to send.
        clock: wall time of the call's start (Timestamp of callbacks).
        speed: 0 counts simulated time only; above 0 also sleeps duration/speed seconds.
        timeout_s: real seconds a webhook has to answer (Twilio's is 15).
        max_requests: webhook requests one call may make before it is an error (loops).
        pause_real_s: real seconds every <Pause> also waits: the pace of a hold loop
            (Pause, then Redirect to ask again) that would otherwise poll at full speed.
        """
        events = set(status_events)
        if events - STATUS_EVENTS:
            raise ValueError(
                f"unknown status events {sorted(events - STATUS_EVENTS)}; "
                f"accepted: {sorted(STATUS_EVENTS)}"
            )
        if speed < 0 or pause_real_s < 0:
            raise ValueError(f"speed and pause_real_s must be >= 0, got {speed}, {pause_real_s}")
        self.voice_url = voice_url
        self.agents: Mapping[str, Agent] = agents if agents is not None else {}
        self.status_callback_url = status_callback_url
        self.status_events = frozenset(events)
        self.account_sid = account_sid
        self.clock: Clock = clock or SystemClock()
        self.speed = speed
        self.timeout_s = timeout_s
        self.max_requests = max_requests
        self.pause_real_s = pause_real_s
        self._validator = RequestValidator(auth_token)

    def sign(self, url: str, params: Mapping[str, str]) -> str:
        """X-Twilio-Signature of a request: HMAC-SHA1 over the full URL and sorted params."""
        signature: str = self._validator.compute_signature(url, dict(params))
        return signature

    async def place_call(
        self,
        *,
        from_: str,
        to: str,
        digits: Sequence[str] = (),
        params: Mapping[str, str] | None = None,
        call_sid: str | None = None,
    ) -> CallTranscript:
        """Call `to` from `from_` and follow the webhook's call control until the call ends.

        Args:
            digits: what the caller keys in, one entry per <Gather> in order; an empty
                entry, or none left, lets that Gather time out.
            params: more parameters sent with every request (FromState, FromZip, ...).
        """
        transcript = CallTranscript(
            call_sid=call_sid or new_sid("CA"),
            account_sid=self.account_sid,
            from_=from_,
            to=to,
            started_at=self.clock.now(),
        )
        timeout = aiohttp.ClientTimeout(total=self.timeout_s)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            call = _Call(self, session, transcript, digits, dict(params or {}))
            await call.run()
        return transcript


class _Redirect(Exception):
    """Internal: the call moves on to a freshly fetched document."""

    def __init__(self, url: str, verbs: tuple[Verb, ...]) -> None:
        super().__init__(url)
        self.url = url
        self.verbs = verbs


@dataclass(eq=False)
class _Leg:
    """One dialed target of a <Dial>: its noun's attributes and its own child CallSid."""

    target: str
    attrs: dict[str, str]
    call_sid: str = field(default_factory=lambda: new_sid("CA"))
    sequence: int = 0

    @property
    def events(self) -> frozenset[str]:
        """The leg events its statusCallback wants (Twilio's default: completed)."""
        return frozenset(self.attrs.get("statusCallbackEvent", "completed").split())


class _Ended(Exception):
    """Internal: a verb ended the call."""

    def __init__(self, ended_by: EndedBy) -> None:
        super().__init__(ended_by)
        self.ended_by = ended_by


class _Call:
    """One call in progress: its simulated time, scripted digits and transcript."""

    def __init__(
        self,
        carrier: Carrier,
        session: aiohttp.ClientSession,
        transcript: CallTranscript,
        digits: Sequence[str],
        extra: dict[str, str],
    ) -> None:
        self.carrier = carrier
        self.session = session
        self.t = transcript
        self.digits = deque(digits)
        self.extra = extra
        self.elapsed_s = 0.0
        self.call_status = CallStatus.RINGING
        self.sequence = 0
        self.talk_s = 0.0
        self.last_dial_answered = False

    # --- the call's whole way -------------------------------------------------------------

    async def run(self) -> None:
        if "ringing" in self.carrier.status_events:
            await self._status_callback("ringing", CallStatus.RINGING)
        try:
            url, verbs = await self._fetch(Purpose.VOICE, "POST", self.carrier.voice_url, {})
            if verbs and verbs[0].name == "Reject":
                # Only a first <Reject> keeps the call from being picked up at all.
                reason = verbs[0].attrs.get("reason", "rejected")
                self._event("Reject", f"reason={reason}")
                self.t.status = CallStatus.BUSY if reason == "busy" else CallStatus.NO_ANSWER
                self.t.ended_by = EndedBy.REJECT
            else:
                self.call_status = CallStatus.IN_PROGRESS
                if "answered" in self.carrier.status_events:
                    await self._status_callback("answered", CallStatus.IN_PROGRESS)
                self.t.ended_by = await self._follow(url, verbs)
                self.t.status = CallStatus.COMPLETED
        except TwimlError as exc:
            await self._application_error(exc)
        self.t.duration_s = round(self.elapsed_s)
        self._event("end", f"{self.t.status}, ended by {self.t.ended_by}")
        if "completed" in self.carrier.status_events:
            await self._final_callback()

    async def _follow(self, url: str, verbs: tuple[Verb, ...]) -> EndedBy:
        """Run documents verb by verb until one ends the call or none is left."""
        queue = deque(verbs)
        while queue:
            verb = queue.popleft()
            try:
                await self._run_verb(url, verb)
            except _Redirect as redirect:
                url, queue = redirect.url, deque(redirect.verbs)
                self.last_dial_answered = False
            except _Ended as ended:
                return ended.ended_by
        return EndedBy.CALLEE if self.last_dial_answered else EndedBy.END_OF_INSTRUCTIONS

    async def _application_error(self, exc: TwimlError) -> None:
        self.t.error_code, self.t.error = exc.code, exc.reason
        code = f"{exc.code}: " if exc.code else ""
        self._event("error", f"{code}{exc.reason}")
        # Twilio picks the call up to tell the caller, so it still counts as completed.
        self.call_status = CallStatus.IN_PROGRESS
        await self._say(APPLICATION_ERROR_MESSAGE)
        self.t.status = CallStatus.COMPLETED
        self.t.ended_by = EndedBy.APPLICATION_ERROR

    # --- verbs ----------------------------------------------------------------------------

    async def _run_verb(self, url: str, verb: Verb) -> None:
        self.t.verbs.append(verb.name)
        self.last_dial_answered = False
        if verb.name in ("Say", "Play", "Pause"):
            await self._prompt(verb)
        elif verb.name == "Gather":
            await self._gather(url, verb)
        elif verb.name == "Redirect":
            target = verb.text
            self._event("Redirect", target)
            raise _Redirect(
                *await self._fetch(Purpose.REDIRECT, verb.method(), _join(url, target), {})
            )
        elif verb.name == "Dial":
            await self._dial(url, verb)
        elif verb.name == "Hangup":
            self._event("Hangup", "")
            raise _Ended(EndedBy.HANGUP)
        elif verb.name == "Reject":
            # After pickup a <Reject> can only hang up.
            self._event("Reject", verb.attrs.get("reason", "rejected"))
            raise _Ended(EndedBy.REJECT)

    async def _prompt(self, verb: Verb) -> None:
        loops = max(1, int(verb.seconds("loop", 1)))
        if verb.name == "Say":
            for _ in range(loops):
                await self._say(verb.text)
        elif verb.name == "Play":
            for _ in range(loops):
                self.t.played.append(verb.text)
                self._event("Play", verb.text)
                await self._pass(PLAY_S)
        else:
            length = verb.seconds("length", 1)
            self._event("Pause", f"{length:g} s")
            await self._pass(length)
            if self.carrier.pause_real_s > 0:
                await asyncio.sleep(self.carrier.pause_real_s)

    async def _say(self, text: str) -> None:
        self.t.said.append(text)
        self._event("Say", repr(text))
        await self._pass(len(text.split()) / SAY_WORDS_PER_S)

    async def _gather(self, url: str, verb: Verb) -> None:
        for prompt in verb.children:
            await self._prompt(prompt)
        timeout = verb.seconds("timeout", DEFAULT_GATHER_TIMEOUT_S)
        finish_key = verb.attrs.get("finishOnKey", "#")
        num_digits = int(verb.seconds("numDigits", 0))
        entry = self.digits.popleft() if self.digits else ""
        if "dtmf" not in verb.attrs.get("input", "dtmf"):
            entry = ""  # a speech-only Gather hears nothing from a keypad script
        action = _join(url, verb.attrs.get("action") or url)
        if not entry:
            self._event("Gather", f"timed out after {timeout:g} s")
            await self._pass(timeout)
            if verb.flag("actionOnEmptyResult"):
                extra = {"Digits": "", "FinishedOnKey": ""}
                raise _Redirect(*await self._fetch(Purpose.GATHER, verb.method(), action, extra))
            return  # Twilio goes on with the verb after the Gather
        finished = ""
        if finish_key and entry.endswith(finish_key):
            entry, finished = entry[: -len(finish_key)], finish_key
        if num_digits:
            entry = entry[:num_digits]
        self.t.digits_entered.append(entry)
        self._event("Gather", f"pressed {entry}{finished}")
        await self._pass(KEY_PRESS_S * max(1, len(entry)))
        extra = {"Digits": entry, "FinishedOnKey": finished}
        raise _Redirect(*await self._fetch(Purpose.GATHER, verb.method(), action, extra))

    async def _dial(self, url: str, verb: Verb) -> None:
        legs = tuple(_Leg(child.text, child.attrs) for child in verb.children if child.text)
        if not legs:
            legs = (_Leg(verb.text, {}),)
        timeout = verb.seconds("timeout", DEFAULT_DIAL_TIMEOUT_S)
        time_limit = verb.seconds("timeLimit", DEFAULT_TIME_LIMIT_S)
        record = await self._connect(
            url, legs, timeout, time_limit, verb.attrs.get("callerId") or None
        )
        self.t.dials.append(record)
        self.t.events.append(CallEvent(record.at_s, "Dial", _dial_story(record)))
        action = verb.attrs.get("action")
        if action:
            extra = {"DialCallStatus": str(record.status), "DialCallSid": record.dial_call_sid}
            if record.answered_by is not None:
                extra["DialCallDuration"] = str(round(record.talk_s))
            raise _Redirect(
                *await self._fetch(Purpose.DIAL_ACTION, verb.method(), _join(url, action), extra)
            )
        self.last_dial_answered = record.answered_by is not None

    async def _connect(
        self,
        url: str,
        legs: tuple[_Leg, ...],
        timeout: float,
        time_limit: float,
        caller_id: str | None,
    ) -> DialRecord:
        """Ring every target at once; the first to answer talks, the others stop ringing."""
        at_s = self.elapsed_s
        agents = self.carrier.agents
        answers: dict[str, CallStatus | None] = {}
        for leg in legs:
            agent = agents.get(leg.target)
            if agent is not None:
                agent.dialed += 1
            answers[leg.target] = CallStatus.FAILED if agent is None else agent.answer_to(timeout)
        ringing = [t for t, a in answers.items() if a in (None, CallStatus.COMPLETED)]
        answering = [t for t in ringing if answers[t] is CallStatus.COMPLETED]
        winner = min(answering, key=lambda t: agents[t].ring_s) if answering else None
        # Every ringing agent holds a line from here: taken before any await, so concurrent
        # calls see each other's lines.
        for target in ringing:
            agents[target].take_line()
        talk_s = 0.0
        ring_s = agents[winner].ring_s if winner is not None else (timeout if ringing else 0.0)
        held = list(ringing)
        try:
            for leg in legs:
                await self._leg_event(url, leg, "initiated", CallStatus.INITIATED, caller_id)
                if leg.target in ringing:
                    await self._leg_event(url, leg, "ringing", CallStatus.RINGING, caller_id)
            await self._pass(ring_s)
            for target in ringing:
                if target != winner:
                    agents[target].release_line()
            held = [winner] if winner is not None else []
            if winner is not None:
                agent = agents[winner]
                agent.answered_calls += 1
                talk_s = min(agent.talk_s, time_limit)
                self.talk_s += talk_s
                answered = next(leg for leg in legs if leg.target == winner)
                await self._leg_event(url, answered, "answered", CallStatus.IN_PROGRESS, caller_id)
                await self._pass(talk_s)
                if agent.hold_until is not None:
                    await agent.hold_until.wait()
        finally:
            for target in held:
                agents[target].release_line()
        for leg in legs:
            if leg.target == winner:
                ended, duration = CallStatus.COMPLETED, talk_s
            else:
                ended, duration = answers[leg.target] or CallStatus.NO_ANSWER, 0.0
                if ended is CallStatus.COMPLETED:  # it would have answered, but later
                    ended = CallStatus.NO_ANSWER
            await self._leg_event(url, leg, "completed", ended, caller_id, duration)
        winning_leg = next((leg for leg in legs if leg.target == winner), legs[0])
        return DialRecord(
            targets=tuple(leg.target for leg in legs),
            status=_dial_status(answers, winner),
            answered_by=winner,
            ring_s=ring_s,
            talk_s=talk_s,
            dial_call_sid=winning_leg.call_sid,
            caller_id=caller_id,
            timeout_s=timeout,
            at_s=at_s,
        )

    async def _leg_event(
        self,
        url: str,
        leg: _Leg,
        event: str,
        status: CallStatus,
        caller_id: str | None,
        duration_s: float | None = None,
    ) -> None:
        """A dialed leg's status callback, when its <Number>/<Sip> asked for this event."""
        callback = leg.attrs.get("statusCallback")
        if not callback or event not in leg.events:
            return
        leg.sequence += 1
        at = self.t.started_at + timedelta(seconds=self.elapsed_s)
        params = {
            **self._params(status),
            "CallSid": leg.call_sid,
            "ParentCallSid": self.t.call_sid,
            "From": caller_id or self.t.from_,
            "To": leg.target,
            "Caller": caller_id or self.t.from_,
            "Called": leg.target,
            "Direction": "outbound-dial",
            "CallbackSource": "call-progress-events",
            "SequenceNumber": str(leg.sequence - 1),
            "Timestamp": format_datetime(at),
        }
        if duration_s is not None:
            params["CallDuration"] = str(round(duration_s))
        method = leg.attrs.get("statusCallbackMethod", "POST").strip().upper() or "POST"
        await self._send(Purpose.DIAL_STATUS, method, _join(url, callback), params)

    # --- the wire -------------------------------------------------------------------------

    def _params(self, status: CallStatus) -> dict[str, str]:
        t = self.t
        return {
            "CallSid": t.call_sid,
            "AccountSid": t.account_sid,
            "From": t.from_,
            "To": t.to,
            "Caller": t.from_,
            "Called": t.to,
            "CallStatus": str(status),
            "Direction": "inbound",
            "ApiVersion": API_VERSION,
            **self.extra,
        }

    async def _fetch(
        self, purpose: Purpose, method: str, url: str, extra: dict[str, str]
    ) -> tuple[str, tuple[Verb, ...]]:
        """Ask the webhook for call control; the URL it came from and its verbs."""
        if len(self.t.webhook_requests) >= self.carrier.max_requests:
            raise TwimlError(
                None, f"more than {self.carrier.max_requests} webhook requests in one call"
            )
        exchange = await self._send(
            purpose, method, url, {**self._params(self.call_status), **extra}
        )
        if exchange.status is None:
            raise TwimlError(HTTP_RETRIEVAL_FAILURE, f"{method} {url}: {exchange.error}")
        if exchange.status >= 300:
            exchange.error = f"HTTP {exchange.status}"
            raise TwimlError(HTTP_RETRIEVAL_FAILURE, f"{method} {url}: HTTP {exchange.status}")
        try:
            check_content_type(exchange.content_type)
            verbs = parse_twiml(exchange.body)
        except TwimlError as exc:
            exchange.error = exc.reason
            raise
        return url, verbs

    async def _send(
        self, purpose: Purpose, method: str, url: str, params: dict[str, str]
    ) -> Exchange:
        """Sign and send one request; the exchange is recorded whatever happens."""
        if method == "GET":
            # Twilio puts a GET's parameters in the query string and signs the whole URL.
            url = _with_query(url, params)
            signed, body = self.carrier.sign(url, {}), None
        else:
            signed, body = self.carrier.sign(url, params), params
        exchange = Exchange(purpose, method, url, params, signed, self.elapsed_s)
        self.t.requests.append(exchange)
        headers = {SIGNATURE_HEADER: signed, "User-Agent": "TwilioProxy/1.1 (pingtree simulator)"}
        try:
            async with self.session.request(
                method, url, data=body, headers=headers, allow_redirects=False
            ) as answer:
                exchange.status = answer.status
                exchange.content_type = answer.headers.get("Content-Type")
                exchange.body = await answer.text(errors="replace")
        except (aiohttp.ClientError, TimeoutError) as exc:
            exchange.error = f"{type(exc).__name__}: {exc}".rstrip(": ")
        shown = exchange.status if exchange.status is not None else exchange.error
        self._event(str(purpose), f"{method} {url} -> {shown}")
        return exchange

    async def _status_callback(self, event: str, status: CallStatus, **extra: str) -> None:
        url = self.carrier.status_callback_url
        if url is None:
            return
        self.sequence += 1
        at = self.t.started_at + timedelta(seconds=self.elapsed_s)
        params = {
            **self._params(status),
            "CallbackSource": "call-progress-events",
            "SequenceNumber": str(self.sequence - 1),
            "Timestamp": format_datetime(at),
            **extra,
        }
        # A failing status callback changes nothing for the call; the exchange records it.
        await self._send(Purpose.STATUS, "POST", url, params)

    async def _final_callback(self) -> None:
        extra = {"CallDuration": str(self.t.duration_s)}
        answered = self.t.answered_dial
        if answered is not None:
            recording_sid = new_sid("RE")
            self.t.recording_url = (
                f"http://127.0.0.1/{API_VERSION}/Accounts/{self.t.account_sid}"
                f"/Recordings/{recording_sid}"
            )
            extra |= {
                "RecordingUrl": self.t.recording_url,
                "RecordingSid": recording_sid,
                "RecordingDuration": str(round(self.talk_s)),
            }
        await self._status_callback("completed", self.t.status, **extra)

    # --- time and the story ---------------------------------------------------------------

    async def _pass(self, seconds: float) -> None:
        """Simulated time goes by; real time too when the carrier has a speed."""
        self.elapsed_s += seconds
        if self.carrier.speed > 0 and seconds > 0:
            await asyncio.sleep(seconds / self.carrier.speed)
        else:
            # Still a scheduling point, so that concurrent calls interleave as they would.
            await asyncio.sleep(0)

    def _event(self, kind: str, text: str) -> None:
        self.t.events.append(CallEvent(self.elapsed_s, kind, text))


def _dial_story(record: DialRecord) -> str:
    story = f"{' '.join(record.targets)} (timeout {record.timeout_s:g} s): {record.status}"
    if record.ring_s:
        story += f" after {record.ring_s:g} s ringing"
    if record.answered_by is not None:
        story += f", {record.answered_by} talked {record.talk_s:g} s"
    return story


def _dial_status(answers: Mapping[str, CallStatus | None], winner: str | None) -> CallStatus:
    if winner is not None:
        return CallStatus.COMPLETED
    outcomes = set(answers.values())
    if None in outcomes or CallStatus.COMPLETED in outcomes:
        return CallStatus.NO_ANSWER
    if CallStatus.BUSY in outcomes:
        return CallStatus.BUSY
    return CallStatus.FAILED


def _join(base: str, url: str) -> str:
    return urljoin(base, url.strip())


def _with_query(url: str, params: Mapping[str, str]) -> str:
    parts = urlsplit(url)
    query = "&".join(q for q in (parts.query, urlencode(params)) if q)
    return urlunsplit(parts._replace(query=query))
