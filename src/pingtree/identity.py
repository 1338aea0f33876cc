"""A person's identity: canonical forms of email and phone, and their hashes (screening's
dedup and suppression lists, lead search, and the migration that indexes stored leads)."""

from __future__ import annotations

import hashlib
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import phonenumbers
from email_validator import EmailNotValidError, ValidatedEmail, validate_email

# Consumer leads are sold in the NANP markets this engine targets.
PHONE_REGIONS = ("US", "CA")
# Gmail ignores dots and +tags in the local part, and googlemail.com is the same mailbox.
GMAIL_DOMAINS = frozenset({"gmail.com", "googlemail.com"})


def text(raw: object) -> str | None:
    """A lead value as stripped text, or None when absent or empty."""
    if raw is None:
        return None
    # Anything else present (a number, a list) is judged as text: a phone sent as a float
    # must fail as invalid, not slip through as if it were missing.
    value = raw.strip() if isinstance(raw, str) else str(raw).strip()
    return value or None


@dataclass(frozen=True, slots=True)
class ParsedEmail:
    """A syntactically valid email: its identity form and the parts checks look at."""

    identity: str
    local: str
    ascii_domain: str


def checked_email(value: str) -> ValidatedEmail | str:
    """An address as email-validator reads it (no DNS), or why it is not one.

    Kept for the last 1,024 addresses seen: a lead's is checked by its vertical's
    validation and read again by screening (email-validator's domain checks are the costly
    part). A value longer than any address (320 characters) is read but never kept."""
    if len(value) > MAX_EMAIL_LENGTH:
        return _checked_email.__wrapped__(value)
    return _checked_email(value)


MAX_EMAIL_LENGTH = 320


@lru_cache(maxsize=1024)
def _checked_email(value: str) -> ValidatedEmail | str:
    try:
        return validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        return str(exc)


def parse_email(raw: object) -> ParsedEmail | None:
    """Parse and canonicalise an email (no DNS); None when it is not a valid address."""
    value = text(raw)
    if value is None:
        return None
    result = checked_email(value)
    if isinstance(result, str):
        return None
    # Mailboxes are case-insensitive in practice, so identity ignores case; NFC again
    # because lowercasing can leave a string that is no longer composed.
    local = unicodedata.normalize("NFC", result.local_part.lower())
    domain = result.domain.lower()
    ascii_domain = (result.ascii_domain or domain).lower()
    identity_local = local
    if domain in GMAIL_DOMAINS:
        identity_local = local.split("+", 1)[0].replace(".", "")
        domain = ascii_domain = "gmail.com"
        if not identity_local:
            return None
    identity = f"{identity_local}@{domain}"
    return ParsedEmail(identity=identity, local=local, ascii_domain=ascii_domain)


def normalize_email(raw: object) -> str | None:
    """The email's identity form (lowercase, Gmail dots/+tags removed), or None if invalid."""
    parsed = parse_email(raw)
    return parsed.identity if parsed is not None else None


def parse_phone_any(raw: object, region: str = "US") -> phonenumbers.PhoneNumber | None:
    """The parsed number whether valid or not; None when it does not read as a number."""
    value = text(raw)
    if value is None:
        return None
    try:
        return phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return None


def is_us_ca_number(number: phonenumbers.PhoneNumber) -> bool:
    """Whether a parsed number is a valid US or Canadian number."""
    # Asking per region is several times faster than is_valid_number, which walks the
    # metadata of all 25 NANP members to find the number's region.
    return any(phonenumbers.is_valid_number_for_region(number, code) for code in PHONE_REGIONS)


def parse_phone(raw: object, region: str = "US") -> phonenumbers.PhoneNumber | None:
    """The parsed number when it is a valid US or Canadian number, else None."""
    number = parse_phone_any(raw, region)
    return number if number is not None and is_us_ca_number(number) else None


def e164(number: phonenumbers.PhoneNumber) -> str:
    """A parsed number in E.164 (+12125550123), extension dropped."""
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_phone(raw: object, region: str = "US") -> str | None:
    """The phone in E.164 when it is a valid US or Canadian number, else None."""
    number = parse_phone(raw, region)
    return e164(number) if number is not None else None


def person_hash(value: str) -> str:
    """SHA-256 hex of an already normalised email or phone."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def suppression_hash(kind: Literal["email", "phone"], raw: object) -> str | None:
    """Hash under which a raw email or phone is stored on, and matched against, lists."""
    normalized = normalize_email(raw) if kind == "email" else normalize_phone(raw)
    return person_hash(normalized) if normalized is not None else None
