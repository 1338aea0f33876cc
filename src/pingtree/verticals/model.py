"""A vertical: the fields a lead of one kind carries, and what each may hold."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from functools import cached_property
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from pingtree.consent.model import ConsentPolicy
from pingtree.names import NAME_PATTERN as NAME_PATTERN  # re-exported
from pingtree.patterns import compile_pattern
from pingtree.screening.model import ScreeningPolicy
from pingtree.verticals.calls import CallIntake

FIELD_NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_]{0,63}$"
"""Field names: letters, digits and _ (camelCase welcome); resource names stay NAME_PATTERN."""

RECEIVED_AT = "received_at"
"""A derived field's source meaning the moment pingtree received the lead."""


class FieldType(StrEnum):
    """What a lead field holds."""

    STRING = "string"
    INTEGER = "integer"
    NUMBER = "number"
    BOOLEAN = "boolean"
    EMAIL = "email"
    PHONE = "phone"
    ZIP = "zip"
    STATE = "state"
    DATE = "date"
    TIMESTAMP = "timestamp"
    IP = "ip"


NUMERIC_TYPES = frozenset({FieldType.INTEGER, FieldType.NUMBER})
_SOURCE_TYPES = {
    "hour_of": frozenset({FieldType.TIMESTAMP}),
    "weekday_of": frozenset({FieldType.TIMESTAMP, FieldType.DATE}),
    "age_from": frozenset({FieldType.DATE, FieldType.TIMESTAMP}),
}


class Derived(BaseModel):
    """A field pingtree computes at intake from another: exactly one of hour_of, weekday_of,
    age_from."""

    model_config = ConfigDict(extra="forbid")

    hour_of: str | None = Field(
        default=None,
        description="the hour (0-23) in zone of a timestamp field, or of received_at",
    )
    weekday_of: str | None = Field(
        default=None,
        description="the weekday (mon..sun) in zone of a timestamp field, or of received_at",
    )
    age_from: str | None = Field(
        default=None,
        description="whole years from a date field (date of birth) to the day received, in zone",
    )
    zone: str = Field(default="UTC", description="the IANA time zone the hour, day or age is in")

    @field_validator("zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone {value!r}") from exc
        return value

    @model_validator(mode="after")
    def _one(self) -> Derived:
        given = [s for s in (self.hour_of, self.weekday_of, self.age_from) if s is not None]
        if len(given) != 1:
            raise ValueError("derived needs exactly one of hour_of, weekday_of, age_from")
        return self

    @property
    def source(self) -> str:
        """The field (or received_at) it is computed from."""
        return self.hour_of or self.weekday_of or self.age_from or ""

    @property
    def type_of(self) -> str:
        """Which computation: hour_of, weekday_of or age_from."""
        if self.hour_of is not None:
            return "hour_of"
        return "weekday_of" if self.weekday_of is not None else "age_from"

    @property
    def type(self) -> FieldType:
        """What it holds: hour and age are integers, the weekday a string."""
        return FieldType.STRING if self.weekday_of is not None else FieldType.INTEGER


class FieldSpec(BaseModel):
    """One field of a vertical."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        pattern=FIELD_NAME_PATTERN,
        description="as publishers send it: letters, digits and _, e.g. zip, geoState",
    )
    type: FieldType = Field(
        default=FieldType.STRING,
        description="string, integer, number, boolean, email, phone, zip, state, "
        "date (YYYY-MM-DD or MM/DD/YYYY, stored YYYY-MM-DD), timestamp (ISO 8601; "
        "without an offset read as UTC; stored in UTC), ip",
    )
    aliases: list[str] = Field(
        default_factory=list,
        description="other names publishers send this field under (exact spelling); "
        "stored under name",
    )
    derived: Derived | None = Field(
        default=None, description="computed by pingtree at intake; never sent by publishers"
    )
    required: bool = False
    pii: bool = False
    enum: list[str] | None = Field(
        default=None, description="the values allowed, matched ignoring case, stored as listed"
    )
    regex: str | None = None
    min: Decimal | None = None
    max: Decimal | None = None
    max_length: int = Field(default=255, gt=0, le=10_000)

    @field_validator("regex")
    @classmethod
    def _regex_compiles(cls, value: str | None) -> str | None:
        if value is not None:
            compile_pattern(value, ascii=True)  # as validate.py matches it
        return value

    @field_validator("aliases")
    @classmethod
    def _aliases_named(cls, value: list[str]) -> list[str]:
        for alias in value:
            if not alias.strip() or len(alias) > 64:
                raise ValueError(f"alias {alias!r} must be 1 to 64 characters")
        return value

    @model_validator(mode="after")
    def _range_ordered(self) -> FieldSpec:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min must be <= max")
        return self

    @model_validator(mode="after")
    def _derived_type(self) -> FieldSpec:
        if self.derived is None:
            return self
        implied = self.derived.type
        if "type" in self.model_fields_set and self.type is not implied:
            raise ValueError(f"a {self.derived.source!r}-derived field is of type {implied}")
        self.type = implied
        if self.aliases:
            raise ValueError("a derived field is never sent, so it has no aliases")
        return self


class Vertical(BaseModel):
    """A kind of lead (auto insurance, solar, debt...) and its fields."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN)
    description: str = ""
    fields: list[FieldSpec] = Field(min_length=1)
    screening: ScreeningPolicy | None = Field(
        default=None, description="checks every lead of this vertical goes through before routing"
    )
    consent: ConsentPolicy | None = Field(
        default=None,
        description="the TCPA consent certificate each lead must carry: required, how old "
        "it may be, and whether one naming no sellers is taken",
    )
    calls: CallIntake | None = Field(
        default=None,
        description="takes phone calls: the field the caller's number fills, the IVR's "
        "questions, what callers hear",
    )

    @field_validator("fields")
    @classmethod
    def _unique_names(cls, value: list[FieldSpec]) -> list[FieldSpec]:
        seen: set[str] = set()
        for spec in value:
            for name in (spec.name, *spec.aliases):
                if name in seen:
                    raise ValueError(f"field name or alias {name!r} is used twice")
                seen.add(name)
        types = {spec.name: spec.type for spec in value}
        for spec in value:
            if spec.derived is None:
                continue
            source, wanted = spec.derived.source, _SOURCE_TYPES[spec.derived.type_of]
            if source == RECEIVED_AT and spec.derived.age_from is None:
                continue
            if types.get(source) not in wanted:
                kinds = " or ".join(sorted(wanted))
                also = "" if spec.derived.age_from is not None else " (or received_at)"
                raise ValueError(
                    f"derived field {spec.name!r}: {spec.derived.type_of} needs a {kinds} "
                    f"field{also}, not {source!r}"
                )
        return value

    def field(self, name: str) -> FieldSpec | None:
        """The field called name, if the vertical has one."""
        return self._by_name.get(name)

    @cached_property
    def _by_name(self) -> dict[str, FieldSpec]:
        return {spec.name: spec for spec in self.fields}

    @cached_property
    def canonical_names(self) -> dict[str, str]:
        """Every name a publisher may send a field under (name or alias) -> the field's name."""
        names = {spec.name: spec.name for spec in self.fields if spec.derived is None}
        for spec in self.fields:
            names.update((alias, spec.name) for alias in spec.aliases)
        return names

    @cached_property
    def numeric_fields(self) -> frozenset[str]:
        """Names of the integer and number fields (derived ones included)."""
        return frozenset(spec.name for spec in self.fields if spec.type in NUMERIC_TYPES)

    @cached_property
    def derived_fields(self) -> tuple[FieldSpec, ...]:
        """The fields pingtree computes at intake."""
        return tuple(spec for spec in self.fields if spec.derived is not None)

    @cached_property
    def pii_fields(self) -> frozenset[str]:
        """Names of the fields that identify the person."""
        return frozenset(spec.name for spec in self.fields if spec.pii)

    @cached_property
    def pingable_fields(self) -> frozenset[str]:
        """Names of the fields a ping may carry: every field that is not PII."""
        return frozenset(spec.name for spec in self.fields if not spec.pii)
