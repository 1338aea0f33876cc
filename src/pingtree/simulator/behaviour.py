"""How each simulated buyer behaves: bids, acceptance, latency, faults, and how it answers.

The answer-shaping fields (`answer_status` to `scripted`) play hostile or clumsy buyers:
each is off by default, so older configuration files mean what they always meant.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pingtree.money import Money
from pingtree.names import NAME_PATTERN

RedirectStatus = Literal[301, 302, 303, 307, 308]


class ScriptedAnswer(BaseModel):
    """An answer written byte for byte: a status line, these headers, this body, then close."""

    model_config = ConfigDict(extra="forbid")

    status: int = Field(default=200, ge=100, le=999)
    reason: str = "OK"
    headers: list[tuple[str, str]] = Field(default_factory=list)
    body: bytes = b""
    content_length: bool = Field(
        default=True, description="add Content-Length of the body unless headers carry one"
    )


class SimBuyer(BaseModel):
    """One simulated buyer endpoint and the odds of each answer it gives."""

    # validate_assignment: tests change behaviour at runtime and a typo should fail there.
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    name: str = Field(pattern=NAME_PATTERN)
    accept_rate: float = Field(default=1.0, ge=0, le=1)
    bid_min: Money
    bid_max: Money
    no_bid_rate: float = Field(default=0.0, ge=0, le=1)
    latency_ms_min: float = Field(default=0.0, ge=0)
    latency_ms_max: float = Field(default=0.0, ge=0)
    error_rate: float = Field(default=0.0, ge=0, le=1)
    hang_rate: float = Field(default=0.0, ge=0, le=1)
    garbage_rate: float = Field(default=0.0, ge=0, le=1)
    duplicate_rate: float = Field(default=0.0, ge=0, le=1)
    respond_as: Literal["json", "xml"] = "json"
    redirect_url: str | None = None
    seed: int | None = None
    # --- how the answer goes on the wire --------------------------------------------------
    answer_status: int = Field(
        default=200, ge=200, le=599, description="HTTP status of bids and post answers"
    )
    answer_pieces: int = Field(
        default=1, ge=1, le=1000, description="write the answer body in this many pieces"
    )
    piece_delay_ms: float = Field(default=0.0, ge=0, description="pause between pieces")
    chunked: bool = Field(default=False, description="Transfer-Encoding: chunked, a chunk a piece")
    answer_padding_bytes: int = Field(
        default=0, ge=0, le=64 * 1024 * 1024, description="a padding field making the answer long"
    )
    short_by_bytes: int = Field(
        default=0, ge=0, description="close the connection this many bytes before Content-Length"
    )
    redirect_status: RedirectStatus | None = Field(
        default=None, description="answer every request with this 3xx to redirect_location"
    )
    redirect_location: str | None = None
    bid_id_length: int = Field(
        default=36,
        ge=36,
        le=4000,
        description="characters in each bid id: 36 is a UUID; more plays a buyer whose bid id "
        "is a signed token (a JWT is often 300 to 1000)",
    )
    ping_price: str | None = Field(
        default=None, description="the price text of every bid, as sent ('1e30', 'NaN')"
    )
    post_price: str | None = Field(
        default=None, description="the price text of every accepted post's answer, as sent"
    )
    scripted: ScriptedAnswer | None = Field(
        default=None, description="answer every request with these raw bytes instead"
    )
    smuggled: ScriptedAnswer | None = Field(
        default=None,
        description="after each answer, write these raw bytes too on the same keep-alive "
        "connection: an answer nobody asked for, read by whichever request rides it next",
    )
    smuggle_delay_ms: float = Field(
        default=0.0, ge=0, description="how long after the answer the smuggled bytes follow"
    )
    echo_header: str | None = Field(
        default=None, description="repeat this request header in the answer (body and X-Echo)"
    )
    signing_secret: str | None = Field(
        default=None, description="verify pingtree's signature with this secret; 401 if wrong"
    )
    signing_header: str = "X-Pingtree-Signature"
    signing_tolerance_s: float = Field(default=300.0, gt=0)
    # --- call buyers (real-time bidding for phone calls) ------------------------------------
    dial: str | None = Field(
        default=None,
        min_length=1,
        description="the number or sip: URI a bid and an accepted post tell pingtree to dial",
    )
    min_duration_s: int | None = Field(
        default=None, ge=0, description="seconds a call must last to convert, sent with bids"
    )
    bid_expires_s: int | None = Field(
        default=None, ge=1, description="seconds a bid stays good, sent with bids as expires_s"
    )
    bid_fields: dict[str, str] = Field(
        default_factory=dict,
        description="more fields in every bid, as sent, over those above (an expires_s of "
        "'1e9999999')",
    )
    available: bool = Field(
        default=True, description="what /available answers: whether an agent can take a call"
    )
    available_rate: float = Field(
        default=1.0, ge=0, le=1, description="when available, the odds /available says so"
    )
    unavailable_reason: str = "all agents are busy"

    @model_validator(mode="after")
    def _consistent(self) -> SimBuyer:
        if self.bid_min > self.bid_max:
            raise ValueError(f"bid_min ({self.bid_min}) must be <= bid_max ({self.bid_max})")
        if self.latency_ms_min > self.latency_ms_max:
            raise ValueError(
                f"latency_ms_min ({self.latency_ms_min}) must be <= "
                f"latency_ms_max ({self.latency_ms_max})"
            )
        # Faults are drawn from one roll, so together they cannot exceed every request.
        faults = self.error_rate + self.hang_rate + self.garbage_rate
        if faults > 1:
            raise ValueError(f"error_rate + hang_rate + garbage_rate must be <= 1, got {faults:g}")
        if (self.redirect_status is None) != (self.redirect_location is None):
            raise ValueError("redirect_status and redirect_location go together")
        if self.short_by_bytes and self.chunked:
            raise ValueError("short_by_bytes cuts a Content-Length answer; it needs chunked off")
        return self


class SimulatorConfig(BaseModel):
    """Where the simulator listens and which buyers it serves."""

    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(default=9100, ge=0, le=65535)
    buyers: list[SimBuyer] = Field(default_factory=list)
    # Benchmarks send far more requests than anyone reads back; bound the memory.
    max_received: int = Field(default=100_000, ge=1)

    @model_validator(mode="after")
    def _unique_names(self) -> SimulatorConfig:
        seen: set[str] = set()
        for buyer in self.buyers:
            if buyer.name in seen:
                raise ValueError(f"buyer name {buyer.name!r} appears more than once")
            seen.add(buyer.name)
        return self
