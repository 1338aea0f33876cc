"""Check a lead's consent at intake against the policy in force: every problem named."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from pingtree.consent.model import ConsentIn, ConsentPolicy, UnnamedSellers
from pingtree.reasons import Reason

CLOCK_SKEW = timedelta(minutes=5)
"""How far in the future a consent time may lie (the publisher's clock may run ahead)."""
_URLS = frozenset({"page_url", "certificate_url"})
_FIELDS = ", ".join(ConsentIn.model_fields)


def check_consent(
    raw: dict[str, Any] | None, policy: ConsentPolicy | None, *, received_at: datetime
) -> tuple[ConsentIn | None, list[Reason]]:
    """The certificate a lead carries (None if it has none) and why it is refused, if it is.

    Reasons: missing_consent (required, none sent), invalid_consent (field names the bad
    part), consent_too_old (older than max_age), consent_names_no_seller (the policy
    refuses a certificate naming no sellers).
    """
    policy = policy or ConsentPolicy()
    if raw is None:
        if not policy.required:
            return None, []
        return None, [
            Reason(
                code="missing_consent",
                field="consent",
                message=f"this lead needs a consent certificate: consent {{{_FIELDS}}}",
            )
        ]
    try:
        given = ConsentIn.model_validate(raw)
    except ValidationError as exc:
        return None, [_invalid(error) for error in exc.errors()]
    problems: list[Reason] = []
    if given.consented_at > received_at + CLOCK_SKEW:
        problems.append(
            Reason(
                code="invalid_consent",
                field="consent.consented_at",
                message="consent.consented_at is in the future",
            )
        )
    elif policy.max_age is not None and received_at - given.consented_at > policy.max_age:
        problems.append(
            Reason(
                code="consent_too_old",
                field="consent.consented_at",
                message=f"consent was given {_age(received_at - given.consented_at)} ago; "
                f"at most {_age(policy.max_age)} is accepted",
            )
        )
    if not given.sellers and policy.unnamed_sellers is UnnamedSellers.REFUSE:
        problems.append(
            Reason(
                code="consent_names_no_seller",
                field="consent.sellers",
                message="the consent names no sellers; name the sellers the consumer agreed to",
            )
        )
    return given, problems


def _invalid(error: Any) -> Reason:
    where = ".".join(str(p) for p in error["loc"])
    field = f"consent.{where}" if where else "consent"
    kind, message = error["type"], str(error["msg"])
    if kind == "missing":
        message = "is required"
    elif kind == "extra_forbidden":
        message = f"is not a consent field (fields: {_FIELDS})"
    elif kind == "string_pattern_mismatch" and error["loc"] and error["loc"][0] in _URLS:
        message = "must be an http or https URL"
    elif kind == "string_pattern_mismatch":
        message = "must be 64 hexadecimal digits (a SHA-256)"
    elif kind == "value_error":
        message = message.removeprefix("Value error, ")
    return Reason(code="invalid_consent", field=field, message=f"{field} {message}")


def _age(span: timedelta) -> str:
    """'31 days, 1:00:00': whole seconds."""
    return str(timedelta(seconds=int(span.total_seconds())))
