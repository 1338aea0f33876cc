"""What a campaign that buys phone calls says: where to dial, how long it rings, when a
call converts, how many live calls at once."""

from __future__ import annotations

import re
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator

E164 = r"^\+[1-9][0-9]{6,14}$"
SIP = r"^sips?:[^\s@]+@[^\s]+$"
DIAL_TARGET = re.compile(f"{E164}|{SIP}")
"""A number in E.164 or a SIP URI: what a buyer's calls are dialed to."""


def dial_target_problem(target: str) -> str | None:
    """Why a dial target (a number or SIP URI) cannot be dialed, if it cannot."""
    if DIAL_TARGET.match(target.strip()) is None:
        return f"{target!r} is neither an E.164 number (+15551230000) nor a sip: URI"
    return None


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CapCount(StrEnum):
    """What a call campaign's caps count."""

    CONVERTED = "converted"
    """calls that lasted the minimum duration (the ones billed)"""
    DIALS = "dials"
    """every call dialed to the buyer, answered or not"""


class CallTerms(Strict):
    """A campaign that buys calls: where to dial, for how long it rings, when a call counts."""

    dial: str | None = Field(
        default=None,
        description="the number (E.164) or SIP URI to dial; a ping's answer may name another "
        "(captured as 'dial')",
    )
    ring_s: int = Field(default=20, ge=5, le=120, description="seconds to ring before moving on")
    min_duration_s: int = Field(
        default=60,
        ge=0,
        le=7200,
        description="connected seconds after which the call converts (is billed and paid); "
        "a ping's answer may name its own (captured as 'min_duration_s')",
    )
    concurrency: int | None = Field(
        default=None, ge=1, le=10_000, description="live calls the buyer takes at once"
    )
    availability_url: str | None = Field(
        default=None,
        pattern=r"^https?://",
        description="asked before dialing; answers {'available': true|false}",
    )
    availability_timeout_ms: int = Field(default=1000, gt=0, le=10_000)
    ping_with_number: bool = Field(
        default=False,
        description="the ping carries the caller's number (the buyer checks its own "
        "dedup and do-not-call); otherwise the number reaches only the winner, by the dial",
    )
    caps_count: CapCount = CapCount.CONVERTED

    @model_validator(mode="after")
    def _dial_target(self) -> CallTerms:
        if self.dial is not None and (problem := dial_target_problem(self.dial)) is not None:
            raise ValueError(f"dial: {problem}")
        return self
