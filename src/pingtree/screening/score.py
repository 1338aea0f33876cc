"""Run a screening policy over a lead: risk score, reasons and verdict."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from phonenumbers import PhoneNumber

from pingtree.identity import (
    ParsedEmail,
    e164,
    is_us_ca_number,
    parse_email,
    parse_phone_any,
    person_hash,
    text,
)
from pingtree.screening.checks import (
    Finding,
    check_field_rule,
    check_ip,
    check_zip,
    email_findings,
    phone_findings,
)
from pingtree.screening.model import SUBJECT, Action, Code, ScreeningPolicy, Verdict


@dataclass(frozen=True, slots=True)
class Normalized:
    """The lead's identity values, ready to hash for dedup and suppression."""

    email: str | None
    phone: str | None

    def hashes(self) -> dict[str, str]:
        """SHA-256 of each identity value present, keyed "email" / "phone"."""
        found: dict[str, str] = {}
        if self.email is not None:
            found["email"] = person_hash(self.email)
        if self.phone is not None:
            found["phone"] = person_hash(self.phone)
        return found


@dataclass(frozen=True, slots=True)
class Assessment:
    """What screening concluded about one lead."""

    score: int
    verdict: Verdict
    reasons: tuple[Finding, ...]
    normalized: Normalized
    band: str | None = None

    @property
    def codes(self) -> list[str]:
        """The reasons' codes, each once, in the order they were found."""
        return list(dict.fromkeys(reason.code.value for reason in self.reasons))


class _Lead:
    """One lead's values, with each email and phone parsed at most once."""

    __slots__ = ("emails", "fields", "phones")

    def __init__(self, fields: Mapping[str, object]) -> None:
        self.fields = fields
        self.emails: dict[str, ParsedEmail | None] = {}
        self.phones: dict[str, PhoneNumber | None] = {}

    def email(self, field: str) -> ParsedEmail | None:
        if field not in self.emails:
            self.emails[field] = parse_email(self.fields.get(field))
        return self.emails[field]

    def phone(self, field: str) -> PhoneNumber | None:
        if field not in self.phones:
            self.phones[field] = parse_phone_any(self.fields.get(field))
        return self.phones[field]


def _findings(lead: _Lead, subject: str, field: str, state_field: str) -> list[Finding]:
    values = lead.fields
    if subject == "email":
        if text(values.get(field)) is None:
            return []
        return email_findings(lead.email(field), field=field)
    if subject == "phone":
        if text(values.get(field)) is None:
            return []
        return phone_findings(lead.phone(field), values.get(state_field), field=field)
    if subject == "zip":
        return check_zip(values.get(field), values.get(state_field), field=field)
    return check_ip(values.get(field), field=field)


def assess(fields: Mapping[str, object], policy: ScreeningPolicy) -> Assessment:
    """Run the policy's enabled checks over a lead's fields; pure and offline."""
    lead = _Lead(fields)
    names = policy.fields
    default_field = {"email": names.email, "phone": names.phone, "zip": names.zip, "ip": names.ip}
    # Codes sharing a subject (invalid/fake/mismatch phone) come from one check run.
    runs: dict[tuple[str, str, str], list[Finding]] = {}
    reasons: list[Finding] = []
    for config in policy.checks:
        if not config.enabled:
            continue
        subject = SUBJECT[config.check]
        if subject == "field_rule":
            found = check_field_rule(fields.get(config.field or ""), config)
        else:
            field = config.field or default_field[subject]
            state_field = config.state_field or names.state
            key = (subject, field, state_field)
            if key not in runs:
                runs[key] = _findings(lead, subject, field, state_field)
            found = runs[key]
        reasons.extend(
            replace(item, penalty=config.penalty, action=config.action)
            for item in found
            if item.code is config.check
        )

    score = max(0, min(100, 100 - sum(reason.penalty for reason in reasons)))
    actions = {reason.action for reason in reasons}
    verdict = (
        Verdict.REJECT
        if Action.REJECT in actions
        else Verdict.REVIEW
        if Action.REVIEW in actions
        else Verdict.ACCEPT
    )
    if policy.reject_below is not None and score < policy.reject_below:
        reasons.append(_low_score(score, policy.reject_below, Action.REJECT))
        verdict = Verdict.REJECT
    elif policy.review_below is not None and score < policy.review_below:
        reasons.append(_low_score(score, policy.review_below, Action.REVIEW))
        if verdict is Verdict.ACCEPT:
            verdict = Verdict.REVIEW

    email = lead.email(names.email)
    phone = lead.phone(names.phone)
    normalized = Normalized(
        email=email.identity if email is not None else None,
        phone=e164(phone) if phone is not None and is_us_ca_number(phone) else None,
    )
    return Assessment(
        score=score,
        verdict=verdict,
        reasons=tuple(reasons),
        normalized=normalized,
        band=policy.band_for(score),
    )


def _low_score(score: int, threshold: int, action: Action) -> Finding:
    message = f"risk score {score} is below {threshold}"
    return Finding(code=Code.LOW_SCORE, field="", message=message, penalty=0, action=action)
