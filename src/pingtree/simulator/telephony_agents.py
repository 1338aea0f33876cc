"""The buyers' agents a simulated carrier dials: who answers, who is busy, who never picks up.

An agent is what sits behind a dialed number or SIP URI: one person or a call centre with a
number of lines. Its behaviour is fixed per agent, so a test reads as a script ("this buyer
refuses, the next one answers after 3 s and talks 95 s"). Lines are counted live while a
dial is in progress, so calls placed concurrently compete for them as they would for a
real call centre.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from enum import StrEnum


class AgentBehaviour(StrEnum):
    """What an agent does when dialed (and has a free line)."""

    ANSWERS = "answers"
    """Rings ring_s seconds, then talks talk_s seconds."""
    REFUSES = "refuses"
    """Declines the call: the carrier reports busy."""
    RINGS_OUT = "rings_out"
    """Rings until the Dial's timeout: no-answer."""
    FAILS = "fails"
    """The call cannot be set up (bad number, SIP error): failed."""
    BUSY = "busy"
    """Every line is taken, whatever `lines` says: busy."""


class CallStatus(StrEnum):
    """Twilio's call statuses, for the call itself and for a Dial's child call."""

    INITIATED = "initiated"
    RINGING = "ringing"
    IN_PROGRESS = "in-progress"
    COMPLETED = "completed"
    BUSY = "busy"
    NO_ANSWER = "no-answer"
    FAILED = "failed"


@dataclass(eq=False)
class Agent:
    """One dial target's behaviour and its live lines.

    A line is held from the first ring until the talk ends. With the carrier's speed at 0
    no simulated second takes real time, so a line is held only for an instant; to make
    two concurrent calls overlap, give the agent `hold_until`: an answered call then keeps
    its line (and its Dial) until the event is set. A speed above 0 overlaps calls too, by
    spending real time on the ring and the talk.
    """

    behaviour: AgentBehaviour | str = AgentBehaviour.ANSWERS
    talk_s: float = 60.0
    """How long an answered call lasts (Dial's timeLimit may cut it)."""
    ring_s: float = 0.0
    """How long it rings before answering; beyond the Dial's timeout it is a no-answer."""
    lines: int = 1
    """Calls the agent holds at once; a dial finding every line taken is busy."""
    hold_until: asyncio.Event | None = None
    live_calls: int = field(default=0, init=False)
    """Lines taken right now."""
    peak_calls: int = field(default=0, init=False)
    """The most lines ever taken at once: what a concurrency cap must keep under `lines`."""
    answered_calls: int = field(default=0, init=False)
    dialed: int = field(default=0, init=False)
    """Times this agent was dialed, busy or not."""

    def __post_init__(self) -> None:
        self.behaviour = AgentBehaviour(self.behaviour)
        if self.talk_s < 0 or self.ring_s < 0:
            raise ValueError("talk_s and ring_s must be >= 0")
        if self.lines < 0:
            raise ValueError(f"lines must be >= 0, got {self.lines}")

    def answer_to(self, timeout_s: float) -> CallStatus | None:
        """What a dial now gets: completed when it would answer in time, else the failure.

        None means it rings until the timeout (no-answer, but holding a line meanwhile).
        """
        if self.behaviour is AgentBehaviour.FAILS:
            return CallStatus.FAILED
        if self.behaviour in (AgentBehaviour.REFUSES, AgentBehaviour.BUSY):
            return CallStatus.BUSY
        if self.live_calls >= self.lines:
            return CallStatus.BUSY
        if self.behaviour is AgentBehaviour.RINGS_OUT or self.ring_s > timeout_s:
            return None
        return CallStatus.COMPLETED

    def take_line(self) -> None:
        """A call starts ringing on one of the lines."""
        self.live_calls += 1
        self.peak_calls = max(self.peak_calls, self.live_calls)

    def release_line(self) -> None:
        """The call on one line ended (or stopped ringing)."""
        self.live_calls -= 1
