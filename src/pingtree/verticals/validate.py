"""Check a lead's fields against its vertical: every bad field is named, all at once."""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from pingtree.screening.regions import CA_PROVINCES, US_STATES
from pingtree.verticals.model import FieldSpec, FieldType, Vertical

_ZIP = re.compile(r"^[0-9]{5}(-[0-9]{4})?$")
# Types whose values are digits: these are stored and sent to buyers with ASCII digits only.
_DIGIT_TYPES = frozenset(
    {FieldType.INTEGER, FieldType.NUMBER, FieldType.PHONE, FieldType.ZIP, FieldType.DATE}
)


def ascii_digits(text: str) -> str:
    """Full-width forms folded (NFKC) and every Unicode decimal digit written as 0-9.

    '١٠٠٠١' (Arabic-Indic) -> '10001'; '（２１２）７３６－５０００' -> '(212)736-5000'.
    """
    if text.isascii():
        return text
    folded = unicodedata.normalize("NFKC", text)
    return "".join(
        ch if (digit := unicodedata.decimal(ch, None)) is None else str(digit) for ch in folded
    )


@dataclass(frozen=True)
class FieldError:
    """One bad field and what is accepted there."""

    field: str
    message: str


def _check_type(spec: FieldSpec, value: Any) -> tuple[Any, str | None]:
    """The value as stored, or why it is not acceptable for the field's type."""
    kind = spec.type
    if kind is FieldType.BOOLEAN:
        if isinstance(value, bool):
            return value, None
        if str(value).lower() in ("true", "false", "1", "0", "yes", "no"):
            return str(value).lower() in ("true", "1", "yes"), None
        return value, "must be true or false"
    if isinstance(value, dict | list) or value is None:
        return value, f"must be a single {kind.value} value"
    text = str(value).strip()
    if kind in _DIGIT_TYPES:
        text = ascii_digits(text)
    if len(text) > spec.max_length:
        return value, f"must be at most {spec.max_length} characters"
    if kind in (FieldType.INTEGER, FieldType.NUMBER):
        if isinstance(value, bool):
            return value, f"must be a {kind.value}"
        try:
            number = Decimal(text)
        except InvalidOperation:
            return value, f"must be a {kind.value}, got {text[:40]!r}"
        if not number.is_finite():
            return value, f"must be a finite {kind.value}"
        if kind is FieldType.INTEGER:
            if number != number.to_integral_value():
                return value, "must be a whole number"
            return int(number), None
        return (value if isinstance(value, int | float) else text), None
    if kind is FieldType.EMAIL:
        try:
            validate_email(text, check_deliverability=False)
        except EmailNotValidError as exc:
            return value, f"must be an email address ({exc})"
        return text, None
    if kind is FieldType.PHONE:
        try:
            number_ = phonenumbers.parse(text, "US")
        except phonenumbers.NumberParseException:
            return value, "must be a US or Canadian phone number"
        if not phonenumbers.is_valid_number(number_) or number_.country_code != 1:
            return value, "must be a valid US or Canadian phone number"
        return text, None
    if kind is FieldType.ZIP:
        if not _ZIP.match(text):
            return value, "must be a 5-digit ZIP code (or ZIP+4)"
        return text, None
    if kind is FieldType.STATE:
        code = text.upper()
        if code not in US_STATES and code not in CA_PROVINCES:
            return value, "must be a two-letter US state or Canadian province code"
        return code, None
    if kind is FieldType.DATE:
        try:
            date.fromisoformat(text)
        except ValueError:
            return value, "must be a date as YYYY-MM-DD"
        return text, None
    if kind is FieldType.IP:
        try:
            ipaddress.ip_address(text)
        except ValueError:
            return value, "must be an IPv4 or IPv6 address"
        return text, None
    return text, None


def _check_constraints(spec: FieldSpec, value: Any) -> str | None:
    if spec.enum is not None and str(value) not in spec.enum:
        shown = ", ".join(spec.enum[:10])
        return f"must be one of: {shown}"
    # ASCII: an operator's \d means 0-9, as in the other languages regexes are written for.
    if spec.regex is not None and not re.fullmatch(spec.regex, str(value), re.ASCII):
        return f"must match {spec.regex}"
    if spec.min is not None or spec.max is not None:
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            return "must be a number"
        if spec.min is not None and number < spec.min:
            return f"must be >= {spec.min}"
        if spec.max is not None and number > spec.max:
            return f"must be <= {spec.max}"
    return None


def validate_fields(
    vertical: Vertical, fields: dict[str, Any], *, only: frozenset[str] | None = None
) -> tuple[dict[str, Any], list[FieldError]]:
    """The cleaned fields and every error. `only` limits required checks (a ping's non-PII)."""
    errors: list[FieldError] = []
    clean: dict[str, Any] = {}
    known = {spec.name: spec for spec in vertical.fields}
    for name in fields:
        if name not in known:
            errors.append(FieldError(name, f"is not a field of vertical {vertical.name!r}"))
    for spec in vertical.fields:
        raw = fields.get(spec.name)
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            if spec.required and (only is None or spec.name in only):
                errors.append(FieldError(spec.name, "is required"))
            continue
        value, problem = _check_type(spec, raw)
        if problem is None:
            problem = _check_constraints(spec, value)
        if problem is not None:
            errors.append(FieldError(spec.name, problem))
        else:
            clean[spec.name] = value
    return clean, errors
