"""A vertical: the fields a lead of one kind carries, and what each may hold."""

from __future__ import annotations

import re
from decimal import Decimal
from enum import StrEnum
from functools import cached_property

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from pingtree.screening.model import ScreeningPolicy

NAME_PATTERN = r"^[a-z0-9][a-z0-9_\-]{0,63}$"


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
    IP = "ip"


class FieldSpec(BaseModel):
    """One field of a vertical."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    type: FieldType = FieldType.STRING
    required: bool = False
    pii: bool = False
    enum: list[str] | None = None
    regex: str | None = None
    min: Decimal | None = None
    max: Decimal | None = None
    max_length: int = Field(default=255, gt=0, le=10_000)

    @field_validator("regex")
    @classmethod
    def _regex_compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value, re.ASCII)  # as validate.py matches it
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from exc
        return value

    @model_validator(mode="after")
    def _range_ordered(self) -> FieldSpec:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min must be <= max")
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

    @field_validator("fields")
    @classmethod
    def _unique_names(cls, value: list[FieldSpec]) -> list[FieldSpec]:
        seen: set[str] = set()
        for spec in value:
            if spec.name in seen:
                raise ValueError(f"field {spec.name!r} is defined twice")
            seen.add(spec.name)
        return value

    def field(self, name: str) -> FieldSpec | None:
        """The field called name, if the vertical has one."""
        for spec in self.fields:
            if spec.name == name:
                return spec
        return None

    @cached_property
    def pii_fields(self) -> frozenset[str]:
        """Names of the fields that identify the person."""
        return frozenset(spec.name for spec in self.fields if spec.pii)

    @cached_property
    def pingable_fields(self) -> frozenset[str]:
        """Names of the fields a ping may carry: every field that is not PII."""
        return frozenset(spec.name for spec in self.fields if not spec.pii)
