"""What a vertical or publisher configures for screening: checks, actions, penalties, bands."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)

FIELD_NAME_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"
BAND_NAME_PATTERN = r"^[a-z0-9][a-z0-9_\-]{0,63}$"


class Code(StrEnum):
    """Stable reason codes a screening finding carries (documented in the README)."""

    INVALID_EMAIL = "invalid_email"
    DISPOSABLE_EMAIL = "disposable_email"
    ROLE_EMAIL = "role_email"
    INVALID_PHONE = "invalid_phone"
    FAKE_PHONE = "fake_phone"
    PHONE_STATE_MISMATCH = "phone_state_mismatch"
    INVALID_ZIP = "invalid_zip"
    ZIP_STATE_MISMATCH = "zip_state_mismatch"
    INVALID_IP = "invalid_ip"
    NON_PUBLIC_IP = "non_public_ip"
    FIELD_RULE = "field_rule"
    LOW_SCORE = "low_score"


class Action(StrEnum):
    """What a finding does to the lead."""

    REJECT = "reject"
    REVIEW = "review"
    SCORE = "score"


class Verdict(StrEnum):
    """The outcome of screening one lead."""

    ACCEPT = "accept"
    REVIEW = "review"
    REJECT = "reject"


# The subject each code inspects; codes sharing a subject are computed by one check call.
Subject = Literal["email", "phone", "zip", "ip", "field_rule"]
SUBJECT: dict[Code, Subject] = {
    Code.INVALID_EMAIL: "email",
    Code.DISPOSABLE_EMAIL: "email",
    Code.ROLE_EMAIL: "email",
    Code.INVALID_PHONE: "phone",
    Code.FAKE_PHONE: "phone",
    Code.PHONE_STATE_MISMATCH: "phone",
    Code.INVALID_ZIP: "zip",
    Code.ZIP_STATE_MISMATCH: "zip",
    Code.INVALID_IP: "ip",
    Code.NON_PUBLIC_IP: "ip",
    Code.FIELD_RULE: "field_rule",
}

# Defaults chosen so that a bare `- check: <code>` entry does the usual thing: garbage and
# throwaway contact data is rejected, weak signals (role address, moved phone) only score.
DEFAULT_ACTION: dict[Code, Action] = {
    Code.INVALID_EMAIL: Action.REJECT,
    Code.DISPOSABLE_EMAIL: Action.REJECT,
    Code.ROLE_EMAIL: Action.SCORE,
    Code.INVALID_PHONE: Action.REJECT,
    Code.FAKE_PHONE: Action.REJECT,
    Code.PHONE_STATE_MISMATCH: Action.SCORE,
    Code.INVALID_ZIP: Action.REJECT,
    Code.ZIP_STATE_MISMATCH: Action.REVIEW,
    Code.INVALID_IP: Action.SCORE,
    Code.NON_PUBLIC_IP: Action.REVIEW,
    Code.FIELD_RULE: Action.REJECT,
}

DEFAULT_PENALTY: dict[Code, int] = {
    Code.INVALID_EMAIL: 50,
    Code.DISPOSABLE_EMAIL: 40,
    Code.ROLE_EMAIL: 10,
    Code.INVALID_PHONE: 50,
    Code.FAKE_PHONE: 60,
    Code.PHONE_STATE_MISMATCH: 10,
    Code.INVALID_ZIP: 30,
    Code.ZIP_STATE_MISMATCH: 20,
    Code.INVALID_IP: 20,
    Code.NON_PUBLIC_IP: 30,
    Code.FIELD_RULE: 30,
    Code.LOW_SCORE: 0,
}

# Attribute name -> the name a policy file writes.
_RULE_PARAMS = {
    "min": "min",
    "max": "max",
    "in_values": "in",
    "not_in": "not_in",
    "required": "required",
}


def _only_check_required(schema: dict[str, Any]) -> None:
    # action and penalty get per-code defaults before validation, so a file may leave them out.
    schema["required"] = ["check"]


class CheckConfig(BaseModel):
    """One configured check: the finding code it watches for and what that finding does."""

    model_config = ConfigDict(
        extra="forbid",
        validate_by_name=True,
        validate_by_alias=True,
        json_schema_extra=_only_check_required,
    )

    check: Code
    action: Action
    penalty: int = Field(ge=0, le=100)
    enabled: bool = True
    # Lead field under test; None means the policy's field for this check's subject.
    field: str | None = Field(default=None, pattern=FIELD_NAME_PATTERN)
    # Lead field holding the state, for the *_state_mismatch checks.
    state_field: str | None = Field(default=None, pattern=FIELD_NAME_PATTERN)
    # field_rule parameters: numeric bounds (inclusive), allowed and forbidden values.
    min: Decimal | None = None
    max: Decimal | None = None
    in_values: list[str] | None = Field(default=None, alias="in", min_length=1)
    not_in: list[str] | None = Field(default=None, min_length=1)
    required: bool = False

    @model_validator(mode="before")
    @classmethod
    def _fill_defaults(cls, data: Any) -> Any:
        # Defaults depend on the code, so they are filled before field validation; an
        # unknown code is left for the enum validator to report.
        if isinstance(data, dict) and "check" in data:
            try:
                code = Code(data["check"])
            except ValueError:
                return data
            data = dict(data)
            if code in DEFAULT_ACTION:
                data.setdefault("action", DEFAULT_ACTION[code])
            data.setdefault("penalty", DEFAULT_PENALTY[code])
        return data

    @field_validator("check")
    @classmethod
    def _checkable(cls, value: Code) -> Code:
        if value is Code.LOW_SCORE:
            raise ValueError("low_score comes from reject_below/review_below, not a check")
        return value

    @model_validator(mode="after")
    def _rule_consistent(self) -> CheckConfig:
        if self.check is Code.FIELD_RULE:
            if self.field is None:
                raise ValueError("field_rule needs a field")
            # A disabled entry only switches a base rule off in an overlay: no rule needed.
            has_rule = self.min is not None or self.max is not None
            if self.enabled and not (has_rule or self.in_values or self.not_in):
                raise ValueError("field_rule needs at least one of min, max, in, not_in")
            if self.min is not None and self.max is not None and self.min > self.max:
                raise ValueError("min must be <= max")
        else:
            # Judged by value, not presence: a stored policy (model_dump) carries every
            # default (required: false), and must load again.
            used = [
                _RULE_PARAMS[name]
                for name in _RULE_PARAMS
                if getattr(self, name) is not None and getattr(self, name) is not False
            ]
            if used:
                raise ValueError(f"parameters {', '.join(used)} are only for field_rule")
        if self.state_field is not None and self.check not in (
            Code.PHONE_STATE_MISMATCH,
            Code.ZIP_STATE_MISMATCH,
        ):
            raise ValueError("state_field only applies to the *_state_mismatch checks")
        return self

    @property
    def key(self) -> tuple[Code, str | None]:
        """Identity of the check within a policy: the same code may watch several fields."""
        return (self.check, self.field)


class LeadFields(BaseModel):
    """Which lead field holds each value the built-in checks read."""

    model_config = ConfigDict(extra="forbid")

    email: str = Field(default="email", pattern=FIELD_NAME_PATTERN)
    phone: str = Field(default="phone", pattern=FIELD_NAME_PATTERN)
    zip: str = Field(default="zip", pattern=FIELD_NAME_PATTERN)
    state: str = Field(default="state", pattern=FIELD_NAME_PATTERN)
    ip: str = Field(default="ip", pattern=FIELD_NAME_PATTERN)


_IDENTITY_FIELDS: tuple[Literal["email", "phone"], ...] = ("email", "phone")


class DedupConfig(BaseModel):
    """The same person within a window: identified by normalised email and/or phone."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    window_hours: int = Field(default=720, ge=1, le=24 * 3650)
    fields: list[Literal["email", "phone"]] = Field(
        default_factory=lambda: list(_IDENTITY_FIELDS), min_length=1
    )

    @field_validator("fields")
    @classmethod
    def _unique(cls, value: list[Literal["email", "phone"]]) -> list[Literal["email", "phone"]]:
        if len(set(value)) != len(value):
            raise ValueError("dedup fields must be unique")
        return value


class SuppressionConfig(BaseModel):
    """Do-not-contact lists matched on hashed normalised email and phone."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True


class ScoreBand(BaseModel):
    """A named score range, starting at min_score, that a tree can be chosen by."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=BAND_NAME_PATTERN)
    min_score: int = Field(ge=0, le=100)


class ScreeningPolicy(BaseModel):
    """Everything screening does for one vertical or publisher."""

    model_config = ConfigDict(extra="forbid")

    checks: list[CheckConfig] = Field(default_factory=list)
    fields: LeadFields = Field(default_factory=LeadFields)
    dedup: DedupConfig = Field(default_factory=DedupConfig)
    suppression: SuppressionConfig = Field(default_factory=SuppressionConfig)
    bands: list[ScoreBand] = Field(default_factory=list)
    # A score below reject_below rejects the lead, below review_below flags it.
    reject_below: int | None = Field(default=None, ge=0, le=100)
    review_below: int | None = Field(default=None, ge=0, le=100)

    @field_validator("checks")
    @classmethod
    def _unique_checks(cls, value: list[CheckConfig]) -> list[CheckConfig]:
        seen: set[tuple[Code, str | None]] = set()
        for check in value:
            if check.key in seen:
                field = f" on {check.field!r}" if check.field else ""
                raise ValueError(f"check {check.check.value!r}{field} is configured twice")
            seen.add(check.key)
        return value

    @field_validator("bands")
    @classmethod
    def _sorted_bands(cls, value: list[ScoreBand]) -> list[ScoreBand]:
        if len({band.name for band in value}) != len(value):
            raise ValueError("band names must be unique")
        if len({band.min_score for band in value}) != len(value):
            raise ValueError("band min_score values must be unique")
        # Highest first, so band_for can stop at the first band the score reaches.
        return sorted(value, key=lambda band: band.min_score, reverse=True)

    @model_validator(mode="after")
    def _thresholds_ordered(self) -> ScreeningPolicy:
        if (
            self.reject_below is not None
            and self.review_below is not None
            and self.reject_below > self.review_below
        ):
            raise ValueError("reject_below must be <= review_below")
        return self

    @model_serializer(mode="wrap")
    def _explicit_only(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # Only what was written is dumped: overlay() lays a publisher's policy over the
        # vertical's by the fields it set, and the stored configuration must keep that.
        data: dict[str, Any] = handler(self)
        return {name: value for name, value in data.items() if name in self.model_fields_set}

    def band_for(self, score: int) -> str | None:
        """Name of the highest band the score reaches, or None."""
        for band in self.bands:
            if score >= band.min_score:
                return band.name
        return None

    def overlay(self, override: ScreeningPolicy) -> ScreeningPolicy:
        """This policy with a more specific one (publisher over vertical) laid on top."""
        # Only what the override set explicitly wins; checks merge by (code, field), and an
        # override entry with enabled: false switches the base check off.
        data: dict[str, Any] = {name: getattr(self, name) for name in type(self).model_fields}
        data.update({name: getattr(override, name) for name in override.model_fields_set})
        merged = {check.key: check for check in self.checks}
        for check in override.checks:
            merged[check.key] = check
        data["checks"] = list(merged.values())
        return type(self).model_validate(data)

    @classmethod
    def standard(cls) -> ScreeningPolicy:
        """Every built-in check with its default action and penalty."""
        return cls(
            checks=[
                CheckConfig.model_validate({"check": code})
                for code in DEFAULT_ACTION
                if code is not Code.FIELD_RULE
            ]
        )
