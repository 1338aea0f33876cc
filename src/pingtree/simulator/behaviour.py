"""How each simulated buyer behaves: bids, acceptance, latency and faults."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pingtree.money import Money
from pingtree.verticals.model import NAME_PATTERN


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
    echo_header: str | None = Field(
        default=None, description="repeat this request header in the answer (body and X-Echo)"
    )
    signing_secret: str | None = Field(
        default=None, description="verify pingtree's signature with this secret; 401 if wrong"
    )
    signing_header: str = "X-Pingtree-Signature"
    signing_tolerance_s: float = Field(default=300.0, gt=0)

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
