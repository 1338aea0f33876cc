"""The screening step between intake and routing: checks, suppression, dedup, risk score.

Pure checks come from `score.assess`; this module adds what needs storage: suppression
lists, the same-person window per vertical, and which buyers already bought this person.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pingtree.buyers.model import Buyer
from pingtree.identity import normalize_email, normalize_phone, person_hash
from pingtree.reasons import Reason
from pingtree.screening import repository
from pingtree.screening.model import Action, ScreeningPolicy, Verdict
from pingtree.screening.repository import Reader
from pingtree.screening.score import assess

GLOBAL, PUBLISHER, BUYER = "global", "publisher", "buyer"
SCOPES = (GLOBAL, PUBLISHER, BUYER)


@dataclass
class Screening:
    """What screening decided for one lead."""

    verdict: Verdict = Verdict.ACCEPT
    score: int = 100
    band: str | None = None
    reasons: list[Reason] = field(default_factory=list)
    findings: list[dict[str, Any]] = field(default_factory=list)
    blocked_buyers: dict[str, str] = field(default_factory=dict)
    person_hashes: list[str] = field(default_factory=list)
    claimed: list[str] = field(default_factory=list)  # the person's hashes this lead claimed

    def record(self) -> dict[str, Any]:
        """The screening as stored with the lead and shown in its timeline."""
        return {
            "verdict": self.verdict.value,
            "score": self.score,
            "band": self.band,
            "findings": self.findings,
            "blocked_buyers": self.blocked_buyers,
        }

    def reject(self, code: str, message: str) -> None:
        """Turn the lead away with a stable code."""
        self.verdict = Verdict.REJECT
        self.reasons.append(Reason(code=code, message=message))
        self.findings.append({"code": code, "message": message, "action": Action.REJECT.value})


def identity_hashes(policy: ScreeningPolicy | None, fields: dict[str, Any]) -> list[str]:
    """SHA-256 of the lead's normalised email and phone (the fields the policy names)."""
    names = policy.fields if policy else None
    email = normalize_email(fields.get(names.email if names else "email"))
    phone = normalize_phone(fields.get(names.phone if names else "phone"))
    return [person_hash(v) for v in (email, phone) if v is not None]


CALLS_WINDOW = "call:"
"""Salts a person's hashes for the same-person window of calls."""


class DuplicatePerson(Exception):
    """The same person came within the dedup window: roll the transaction back, reject."""

    def __init__(self, screening: Screening) -> None:
        self.screening = screening
        super().__init__("duplicate person")


async def screen(
    conn: Reader,
    *,
    policy: ScreeningPolicy | None,
    buyers: dict[str, Buyer],
    lead_id: str,
    publisher: str,
    vertical: str,
    fields: dict[str, Any],
    now: datetime,
    test: bool = False,
    call: bool = False,
) -> Screening:
    """Screen a lead in the transaction that stores it. Nothing reaches a buyer before.

    call: the lead is a phone call; its same-person window counts earlier calls only (a
    caller who filled the form an hour ago is the form's match, not its duplicate).

    Policy checks, suppression lists, buyers that bought the person lately, and the
    same-person claim. A duplicate raises DuplicatePerson: the caller rolls back (so the
    claim attempt leaves no trace) and stores the lead again as rejected. A test lead is
    checked against the dedup window but claims no one, as it buys nothing.
    """
    result = Screening()
    if policy is not None:
        assessment = assess(fields, policy)
        result.verdict, result.score, result.band = (
            assessment.verdict,
            assessment.score,
            assessment.band,
        )
        for finding in assessment.reasons:
            result.findings.append(
                {
                    "code": finding.code.value,
                    "field": finding.field,
                    "message": finding.message,
                    "penalty": finding.penalty,
                    "action": finding.action.value,
                }
            )
            if finding.action is not Action.SCORE or result.verdict is not Verdict.ACCEPT:
                result.reasons.append(
                    Reason(code=finding.code.value, field=finding.field, message=finding.message)
                )
    hashes = (
        list(assessment.normalized.hashes().values())
        if policy is not None
        else identity_hashes(None, fields)
    )
    result.person_hashes = hashes
    if not hashes:
        return result
    check_lists = policy is None or policy.suppression.enabled
    longest = max((b.dedup_days for b in buyers.values()), default=0)
    lists, bought = await repository.lookups(
        conn,
        hashes,
        lists=check_lists,
        bought_since=now - timedelta(days=longest) if longest else None,
    )
    ours = [s for s, o in lists if s == GLOBAL or (s == PUBLISHER and o == publisher)]
    if ours:
        result.reject("suppressed", f"on the {ours[0]} do-not-contact list")
    result.blocked_buyers = _blocks(lists, bought, buyers, now)
    if policy is None or not policy.dedup.enabled or result.verdict is Verdict.REJECT:
        return result
    by_kind = assessment.normalized.hashes()
    wanted = [by_kind[kind] for kind in policy.dedup.fields if kind in by_kind]
    if not wanted:
        return result
    if call:  # calls' window of their own, in the same table
        wanted = [person_hash(CALLS_WINDOW + h) for h in wanted]
    window = timedelta(hours=policy.dedup.window_hours)
    if test:
        earlier = await repository.seen_within(
            conn, vertical=vertical, hashes=wanted, since=now - window
        )
    else:
        earlier = await repository.claim_person(
            conn, vertical=vertical, hashes=wanted, lead_id=lead_id, now=now, window=window
        )
    if earlier is not None:
        result.reject(
            "duplicate", f"same person as lead {earlier} within {policy.dedup.window_hours} hours"
        )
        if not test:
            raise DuplicatePerson(result)
    elif not test:
        result.claimed = wanted
    return result


async def buyer_blocks(
    reader: Reader,
    *,
    policy: ScreeningPolicy | None,
    buyers: dict[str, Buyer],
    hashes: list[str],
    now: datetime,
) -> dict[str, str]:
    """Buyers this person may not be offered to: on their do-not-contact list, or bought lately."""
    if not hashes:
        return {}
    longest = max((b.dedup_days for b in buyers.values()), default=0)
    lists, bought = await repository.lookups(
        reader,
        hashes,
        lists=policy is None or policy.suppression.enabled,
        bought_since=now - timedelta(days=longest) if longest else None,
    )
    return _blocks(lists, bought, buyers, now)


def _blocks(
    lists: list[tuple[str, str]],
    bought: dict[str, datetime],
    buyers: dict[str, Buyer],
    now: datetime,
) -> dict[str, str]:
    blocked = {
        owner: "suppressed: on the buyer's do-not-contact list"
        for scope, owner in lists
        if scope == BUYER
    }
    for buyer, at in bought.items():
        days = buyers[buyer].dedup_days if buyer in buyers else 0
        if days and at >= now - timedelta(days=days):
            blocked.setdefault(
                buyer, f"duplicate: bought this person {at:%Y-%m-%d} (window {days} days)"
            )
    return blocked
