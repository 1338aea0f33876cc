"""What happened on one simulated call: every webhook exchange, verb, dial and the ending.

Times are simulated seconds since the call came in (`at_s`); nothing here waits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from pingtree.simulator.telephony_agents import CallStatus


class EndedBy(StrEnum):
    """Why the call ended."""

    HANGUP = "hangup"
    """A <Hangup> verb."""
    REJECT = "reject"
    """A <Reject> verb."""
    END_OF_INSTRUCTIONS = "end_of_instructions"
    """The last verb ran and nothing followed."""
    CALLEE = "callee"
    """An answered <Dial> ended (the agent hung up) and nothing followed."""
    APPLICATION_ERROR = "application_error"
    """The webhook failed or answered call control the carrier could not follow."""


class Purpose(StrEnum):
    """Why the carrier sent a request."""

    VOICE = "voice"
    GATHER = "gather"
    REDIRECT = "redirect"
    DIAL_ACTION = "dial_action"
    STATUS = "status"
    DIAL_STATUS = "dial_status"
    """A dialed leg's status callback (<Number statusCallback=...>)."""


@dataclass(slots=True)
class Exchange:
    """One request the carrier sent and what came back."""

    purpose: Purpose
    method: str
    url: str
    params: dict[str, str]
    signature: str
    at_s: float
    status: int | None = None
    """HTTP status; None when no answer came (refused connection, timeout)."""
    content_type: str | None = None
    body: str = ""
    error: str | None = None
    """Why the exchange failed, when it did."""


@dataclass(frozen=True, slots=True)
class DialRecord:
    """One <Dial>: what was dialed, who (if anyone) answered and for how long."""

    targets: tuple[str, ...]
    status: CallStatus
    """completed, busy, no-answer or failed: the DialCallStatus sent to the action URL."""
    answered_by: str | None
    ring_s: float
    talk_s: float
    dial_call_sid: str
    caller_id: str | None
    timeout_s: float
    at_s: float

    @property
    def target(self) -> str:
        """The target that answered, or the first one dialed."""
        return self.answered_by or self.targets[0]


@dataclass(frozen=True, slots=True)
class CallEvent:
    """One line of the call's story, for reading."""

    at_s: float
    kind: str
    """voice, gather, redirect, dial_action, status (requests); Say, Play, Pause, Gather,
    Dial, Hangup, Reject (verbs); error; end."""
    text: str


@dataclass
class CallTranscript:
    """Everything one simulated call did, in order."""

    call_sid: str
    account_sid: str
    from_: str
    to: str
    started_at: datetime
    requests: list[Exchange] = field(default_factory=list)
    events: list[CallEvent] = field(default_factory=list)
    dials: list[DialRecord] = field(default_factory=list)
    verbs: list[str] = field(default_factory=list)
    """Names of the verbs followed, in order."""
    said: list[str] = field(default_factory=list)
    """Texts spoken to the caller (<Say>, and the carrier's error message)."""
    played: list[str] = field(default_factory=list)
    """URLs of <Play> verbs."""
    digits_entered: list[str] = field(default_factory=list)
    """Digits sent to each <Gather> that got any."""
    status: CallStatus = CallStatus.RINGING
    ended_by: EndedBy | None = None
    duration_s: int = 0
    """CallDuration: whole simulated seconds from pickup to hangup."""
    recording_url: str | None = None
    error_code: int | None = None
    error: str | None = None
    """Why the carrier gave up on the call control, for an application error."""

    @property
    def webhook_requests(self) -> list[Exchange]:
        """The requests that fetched call control (everything but status callbacks)."""
        callbacks = (Purpose.STATUS, Purpose.DIAL_STATUS)
        return [r for r in self.requests if r.purpose not in callbacks]

    @property
    def status_callbacks(self) -> list[Exchange]:
        """The call's status callbacks sent."""
        return [r for r in self.requests if r.purpose is Purpose.STATUS]

    @property
    def dial_status_callbacks(self) -> list[Exchange]:
        """The dialed legs' status callbacks sent."""
        return [r for r in self.requests if r.purpose is Purpose.DIAL_STATUS]

    @property
    def answered_dial(self) -> DialRecord | None:
        """The last dial an agent answered, if any."""
        return next((d for d in reversed(self.dials) if d.answered_by is not None), None)

    def render(self) -> str:
        """The call as readable text, one event a line."""
        head = (
            f"call {self.call_sid} from {self.from_} to {self.to} "
            f"at {self.started_at.isoformat(timespec='seconds')}"
        )
        lines = [head]
        lines += [f"  {e.at_s:7.1f}s  {e.kind:<11} {e.text}" for e in self.events]
        tail = f"{self.status} after {self.duration_s} s, ended by {self.ended_by}"
        if self.recording_url:
            tail += f"; recording {self.recording_url}"
        lines.append(tail)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.render()
