"""Check a lead's fields against its vertical: every bad field is named, all at once."""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import phonenumbers

from pingtree.identity import checked_email
from pingtree.patterns import TooSlow, compile_pattern
from pingtree.screening.regions import CA_PROVINCES, US_STATES
from pingtree.verticals.derive import derive
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
            return value, f"must be {a_or_an(kind.value)}"
        try:
            number = Decimal(text)
        except InvalidOperation:
            return value, f"must be {a_or_an(kind.value)}, got {text[:40]!r}"
        if not number.is_finite():
            return value, f"must be a finite {kind.value}"
        if kind is FieldType.INTEGER:
            if number != number.to_integral_value():
                return value, "must be a whole number"
            return int(number), None
        return (value if isinstance(value, int | float) else text), None
    if kind is FieldType.EMAIL:
        checked = checked_email(text)
        if isinstance(checked, str):
            return value, f"must be an email address ({checked})"
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
        day = parse_date(text)
        if day is None:
            return value, "must be a date as YYYY-MM-DD or MM/DD/YYYY"
        return day.isoformat(), None
    if kind is FieldType.TIMESTAMP:
        moment = parse_timestamp(text)
        if moment is None:
            return value, "must be an ISO 8601 timestamp, e.g. 2026-11-25T14:30:00-05:00"
        return moment.isoformat(), None
    if kind is FieldType.IP:
        try:
            ipaddress.ip_address(text)
        except ValueError:
            return value, "must be an IPv4 or IPv6 address"
        return text, None
    return text, None


def a_or_an(word: str) -> str:
    """The word with its indefinite article: "an integer", "a number"."""
    return f"{'an' if word[:1].lower() in 'aeiou' else 'a'} {word}"


_US_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")


def parse_date(text: str) -> date | None:
    """A date written YYYY-MM-DD or MM/DD/YYYY; None if it is neither."""
    try:
        if match := _US_DATE.match(text):
            month, day, year = (int(g) for g in match.groups())
            return date(year, month, day)
        return date.fromisoformat(text) if len(text) == 10 else None
    except ValueError:
        return None


def parse_timestamp(text: str) -> datetime | None:
    """An ISO 8601 moment, in UTC; one without an offset is read as UTC."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _in_enum(spec: FieldSpec, value: Any) -> tuple[Any, str | None]:
    """The value as the enum spells it (matched ignoring case), or why it is not allowed."""
    if spec.enum is None:
        return value, None
    folded = str(value).strip().casefold()
    for allowed in spec.enum:
        if allowed.casefold() == folded:
            # Text takes the enum's spelling; a number or boolean keeps its type.
            return (allowed if isinstance(value, str) else value), None
    return value, f"must be one of: {', '.join(spec.enum[:10])}"


def _check_constraints(spec: FieldSpec, value: Any) -> str | None:
    # ASCII: an operator's \d means 0-9, as in the other languages regexes are written for.
    if spec.regex is not None:
        try:
            matched = compile_pattern(spec.regex, ascii=True).fullmatch(str(value))
        except TooSlow:
            return f"could not be checked against {spec.regex} in time (too complex a value)"
        if matched is None:
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


def canonical_fields(
    vertical: Vertical, fields: dict[str, Any]
) -> tuple[dict[str, Any], list[FieldError]]:
    """The fields under their canonical names (aliases resolved), and the names refused."""
    errors: list[FieldError] = []
    named: dict[str, Any] = {}
    sent_as: dict[str, str] = {}
    names = vertical.canonical_names
    for name, value in fields.items():
        canonical = names.get(name)
        if canonical is None:
            spec = vertical.field(name)
            if spec is not None and spec.derived is not None:
                errors.append(FieldError(name, "is computed by pingtree; do not send it"))
            else:
                errors.append(FieldError(name, f"is not a field of vertical {vertical.name!r}"))
            continue
        if canonical in sent_as:
            errors.append(
                FieldError(name, f"is {canonical!r} again (also sent as {sent_as[canonical]!r})")
            )
            continue
        sent_as[canonical] = name
        named[canonical] = value
    return named, errors


def validate_fields(
    vertical: Vertical,
    fields: dict[str, Any],
    *,
    only: frozenset[str] | None = None,
    received_at: datetime | None = None,
) -> tuple[dict[str, Any], list[FieldError]]:
    """The cleaned fields (derived ones added) and every error.

    `only` limits required checks (a ping's non-PII); `received_at` is the moment derived
    fields of received_at are computed from (the lead's arrival).
    """
    named, errors = canonical_fields(vertical, fields)
    clean: dict[str, Any] = {}
    for spec in vertical.fields:
        if spec.derived is not None:
            continue
        raw = named.get(spec.name)
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            if spec.required and (only is None or spec.name in only):
                errors.append(FieldError(spec.name, "is required"))
            continue
        value, problem = _check_type(spec, raw)
        if problem is None:
            value, problem = _in_enum(spec, value)
        if problem is None:
            problem = _check_constraints(spec, value)
        if problem is not None:
            errors.append(FieldError(spec.name, problem))
        else:
            clean[spec.name] = value
    if not errors:
        clean.update(derive(vertical, clean, received_at))
    return clean, errors
