"""How a vertical takes phone calls: where the caller's number goes, the IVR's questions."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class IvrQuestion(Strict):
    """One question the IVR asks a caller before routing; the answer becomes a field."""

    field: str = Field(description="the vertical field the answer fills")
    say: str = Field(min_length=1, max_length=1000, description="what the caller hears")
    digits: int | None = Field(
        default=None, ge=1, le=20, description="how many keys to read (e.g. 5 for a ZIP code)"
    )
    choices: dict[Annotated[str, StringConstraints(pattern=r"^[0-9*#]{1,4}$")], str] | None = Field(
        default=None,
        description="key pressed -> the field's value, e.g. {'1': 'own', '2': 'rent'}",
    )
    timeout_s: int = Field(default=6, ge=1, le=60, description="seconds to wait for the keys")

    @model_validator(mode="after")
    def _digits_or_choices(self) -> IvrQuestion:
        if (self.digits is None) == (self.choices is None):
            raise ValueError("an IVR question takes either digits (free keys) or choices")
        return self

    @property
    def keys(self) -> int:
        """How many keys to gather."""
        if self.choices is not None:
            return max(len(key) for key in self.choices)
        assert self.digits is not None
        return self.digits


class CallIntake(Strict):
    """How a vertical takes calls: where the caller's number goes, the IVR, the match."""

    caller_field: str = Field(
        default="phone", description="the vertical field the caller's number fills"
    )
    greeting: str | None = Field(default=None, max_length=1000, description="said first")
    ivr: list[IvrQuestion] = Field(default_factory=list, description="asked in this order")
    hold_message: str = Field(
        default="Please hold while we connect you.",
        max_length=1000,
        description="said while buyers are asked",
    )
    unsold_message: str = Field(
        default="Sorry, nobody is available to take your call now. Please call again later.",
        max_length=1000,
        description="said before hanging up when no buyer takes the call",
    )
    match_days: int = Field(
        default=30,
        ge=0,
        le=365,
        description="a form lead with the caller's number this recent is the call's match "
        "(0: no matching)",
    )
