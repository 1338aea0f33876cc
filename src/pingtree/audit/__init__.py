"""The audit trail: every event of a lead and every configuration change, appended in the
transaction that makes it, then sealed into a hash chain that `verify` recomputes.

Appending costs a lead one multi-row INSERT inside a transaction it makes anyway; nothing
on its path waits for the chain. One sealer at a time (the chain head's row lock) links
what was appended since, in id order.
"""

from pingtree.audit.events import SYSTEM, Event, EventKind, buyer, named, operator, publisher
from pingtree.audit.repository import Head, StoredEvent, append, head, lead_events, seal

__all__ = [
    "SYSTEM",
    "Event",
    "EventKind",
    "Head",
    "StoredEvent",
    "append",
    "buyer",
    "head",
    "lead_events",
    "named",
    "operator",
    "publisher",
    "seal",
]
