"""The hash chain: how one link's hash follows from the one before and its event.

hash(n) = SHA-256 of hash(n-1) and every column of event n, each part length-prefixed so
that no two different events read the same. The first link follows GENESIS. Changing,
removing or moving a stored event changes the hash of its link and of every link after it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from hashlib import sha256

from pingtree.digests import canonical_json as canonical_json  # re-exported

GENESIS = "0" * 64
"""The hash before the first link."""


def moment(at: datetime) -> str:
    """A time as the chain hashes it: ISO 8601 in UTC, to the microsecond."""
    if at.tzinfo is not UTC:
        at = at.astimezone(UTC)
    return at.isoformat(timespec="microseconds")


def link_hash(
    prev: str,
    *,
    seq: int,
    event_id: int,
    occurred_at: datetime,
    kind: str,
    lead_id: str | None,
    actor: str,
    subject: str | None,
    details: str,
) -> str:
    """The hash of link seq: the previous link's hash and the event's columns."""
    return hash_link(
        prev, seq, event_id, moment(occurred_at), kind, lead_id, actor, subject, details
    )


def hash_link(
    prev: str,
    seq: int,
    event_id: int,
    at: str,
    kind: str,
    lead_id: str | None,
    actor: str,
    subject: str | None,
    details: str,
) -> str:
    """link_hash of an event whose time is already its moment() text: verify's loop, which
    has the database write that text, calls this once per link, a million times."""
    # One expression, no loop, each number made text once.
    lead, about, n, i = lead_id or "", subject or "", str(seq), str(event_id)
    record = (
        f"{len(prev)}:{prev};{len(n)}:{n};{len(i)}:{i};"
        f"{len(at)}:{at};{len(kind)}:{kind};{len(lead)}:{lead};{len(actor)}:{actor};"
        f"{len(about)}:{about};{len(details)}:{details};"
    )
    return sha256(record.encode()).hexdigest()
