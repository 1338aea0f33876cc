"""The roller: lead events added up into 15-minute rollups, and the postbacks they call for.

One roller at a time (the cursor row is locked, others skip), reading events in commit
order from a cursor (storage.cursors), each exactly once: the rollups, the postbacks to
send and the cursor move in one transaction. Leads never touch a rollup row, so busy
campaigns do not make leads wait on each other; reports are as fresh as the last roll
(every PINGTREE_BOOKS_POLL_S).
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncConnection

from pingtree.ledger.entries import Entry, SaleBooking, book, sale_entries
from pingtree.money import CENT, ZERO
from pingtree.postbacks import queue
from pingtree.postbacks.queue import Call, Hooks
from pingtree.reporting.events import EventKind
from pingtree.storage import cursors, direct
from pingtree.storage.books import (
    ALL,
    CampaignReason,
    CampaignRollup,
    LeadEvent,
    PublisherReason,
    PublisherRollup,
)
from pingtree.storage.db import dialect_insert_for
from pingtree.webhooks import WebhookEvent

SOURCE = "lead_events"
BATCH = 250
"""Events rolled per transaction: on SQLite a roll holds the event loop for its length (about
a tenth of a millisecond an event), so a pass catching up on thousands goes in slices with
loop turns between (bookkeeping)."""
events = cast(Table, LeadEvent.__table__)
campaign_rollups = cast(Table, CampaignRollup.__table__)
campaign_reasons = cast(Table, CampaignReason.__table__)
publisher_rollups = cast(Table, PublisherRollup.__table__)
publisher_reasons = cast(Table, PublisherReason.__table__)

CAMPAIGN_COUNTS = (
    "offered",
    "pinged",
    "bids",
    "posted",
    "sold",
    "rejected",
    "duplicates",
    "errors",
    "timeouts",
    "redirects",
    "price_mismatches",
    "returns",
    "leads_posted",
    "buyer_leads_posted",
    "exchange_ms",
)
CAMPAIGN_MONEY = ("bid_total", "revenue", "payout", "returned", "clawed_back")
PUBLISHER_COUNTS = (
    "sent",
    "refused",
    "screened_out",
    "review",
    "sold",
    "unsold",
    "uncertain",
    "returned",
    "answered",
    "answer_ms",
)
PUBLISHER_MONEY = ("revenue", "payout", "returned_revenue", "clawed_back")
STATUS_FIGURE = {
    "sold": "sold",
    "unsold": "unsold",
    "rejected": "screened_out",
    "review": "review",
    "uncertain": "uncertain",
}
REASON_KIND = {"rejected": "screened", "review": "screened", "unsold": "unsold"}


def _cents(value: Any) -> int:
    return int(Decimal(value or 0) / CENT)


_Figures = tuple[str, str, list[tuple[str, int]], list[tuple[str, int]]]
"""An answered event's campaign: name, buyer, (figure, amount) to add (money in cents), and
(reason, count)."""


_NOTHING = frozenset({"0", "0.00", 0})


def _campaign_figures(row: Any) -> list[_Figures]:
    out: list[_Figures] = []
    for campaign, figures in row.campaigns.items():
        added = [(name, n) for name in CAMPAIGN_COUNTS if (n := figures.get(name, 0))]
        added += [
            (name, _cents(amount))
            for name in CAMPAIGN_MONEY
            if (amount := figures.get(name)) and amount not in _NOTHING
        ]
        reasons = list((figures.get("reasons") or {}).items())
        out.append((campaign, figures["buyer"], added, reasons))
    return out


GRAINS = (15, 60)
"""Slot lengths in minutes: lead events come in 15-minute slots; 60 adds four of them up."""


def grain_buckets(slot: int) -> tuple[tuple[int, int], ...]:
    """(grain, bucket) of a 15-minute slot at each grain."""
    return ((15, slot), (60, slot // 4))


@dataclass
class Tally:
    """Figures added up in memory, written as one upsert per rollup row.

    Each event counts at both grains, and each campaign figure both for its publisher and
    for all publishers (`*`). Campaign figures are added up once, for the event's publisher
    and 15-minute slot (`slots`), and spread to the other three rows when written: an event
    names every campaign of its tree, so this is most of a roll's work.
    """

    slots: dict[tuple[str, int, str], dict[str, Any]] = field(default_factory=dict)
    slot_reasons: dict[tuple[str, int, str, str], dict[str, Any]] = field(default_factory=dict)
    publishers: dict[tuple[int, int, str, str], dict[str, int]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(int))
    )
    publisher_reasons: dict[tuple[int, int, str, str, str, str], int] = field(
        default_factory=lambda: defaultdict(int)
    )

    def add(self, row: Any) -> None:
        """Add one lead event."""
        kind = row.kind
        for grain, bucket in grain_buckets(row.bucket):
            pub_key = (grain, bucket, row.publisher, row.vertical)
            if kind == EventKind.ANSWERED:
                self._answered(row, grain, bucket, self.publishers[pub_key])
            elif kind == EventKind.RETURNED:
                pub = self.publishers[pub_key]
                pub["returned"] += 1
                pub["returned_revenue"] += _cents(row.revenue)
                pub["clawed_back"] += _cents(row.payout)
            elif kind == EventKind.REFUSED:
                self.publishers[pub_key]["refused"] += row.count
                for code, n in row.codes.items():
                    self.publisher_reasons[(*pub_key, "refused", code)] += n
        if kind == EventKind.ANSWERED:
            for campaign, buyer, added, reasons in _campaign_figures(row):
                c = self._campaign(row, campaign, buyer)
                for name, n in added:
                    c[name] += n
                for reason, n in reasons:
                    found = self.slot_reasons.setdefault(
                        (row.publisher, row.bucket, campaign, reason),
                        {"buyer": buyer, "vertical": row.vertical, "n": 0},
                    )
                    found["n"] += n
        elif kind == EventKind.RETURNED:
            returned, clawed_back = _cents(row.revenue), _cents(row.payout)
            for campaign, figures in row.campaigns.items():
                c = self._campaign(row, campaign, figures["buyer"])
                c["returns"] += 1
                c["returned"] += returned
                c["clawed_back"] += clawed_back

    def _campaign(self, row: Any, campaign: str, buyer: str) -> dict[str, Any]:
        """The campaign's figures for the event's publisher and 15-minute slot."""
        key = (row.publisher, row.bucket, campaign)
        found = self.slots.get(key)
        if found is None:
            found = self.slots[key] = defaultdict(int, buyer=buyer, vertical=row.vertical)
        return found

    def _answered(self, row: Any, grain: int, bucket: int, pub: dict[str, int]) -> None:
        if row.previous is None:
            pub["sent"] += row.count
            if row.answer_ms is not None:
                pub["answered"] += 1
                pub["answer_ms"] += row.answer_ms
        else:
            pub[STATUS_FIGURE[row.previous]] -= 1
        pub[STATUS_FIGURE[row.status]] += 1
        pub["revenue"] += _cents(row.revenue)
        pub["payout"] += _cents(row.payout)
        kind = REASON_KIND.get(row.status)
        if kind is not None:
            for code, n in row.codes.items():
                self.publisher_reasons[
                    (grain, bucket, row.publisher, row.vertical, kind, code)
                ] += n

    @property
    def campaigns(self) -> dict[tuple[int, str, int, str], dict[str, Any]]:
        """The campaign rollup rows, (grain, publisher, bucket, campaign): each slot's
        figures at both grains, for its publisher and for all publishers."""
        rows: dict[tuple[int, str, int, str], dict[str, Any]] = {}
        for (publisher, slot, campaign), figures in self.slots.items():
            for (grain, bucket), who in itertools.product(grain_buckets(slot), (publisher, ALL)):
                found = rows.get((grain, who, bucket, campaign))
                if found is None:
                    found = rows[(grain, who, bucket, campaign)] = defaultdict(
                        int, buyer=figures["buyer"], vertical=figures["vertical"]
                    )
                for name, n in figures.items():
                    if name not in ("buyer", "vertical"):
                        found[name] += n
        return rows

    @property
    def campaign_reasons(self) -> dict[tuple[int, str, int, str, str], dict[str, Any]]:
        """The campaign reason rows, (grain, publisher, bucket, campaign, reason)."""
        rows: dict[tuple[int, str, int, str, str], dict[str, Any]] = {}
        for (publisher, slot, campaign, reason), figures in self.slot_reasons.items():
            for (grain, bucket), who in itertools.product(grain_buckets(slot), (publisher, ALL)):
                found = rows.setdefault(
                    (grain, who, bucket, campaign, reason),
                    {"buyer": figures["buyer"], "vertical": figures["vertical"], "n": 0},
                )
                found["n"] += figures["n"]
        return rows

    async def write(self, conn: AsyncConnection) -> None:
        """Add the tallies to the rollup rows (created at their first figure)."""
        await _upsert_add(
            conn,
            campaign_rollups,
            [
                {
                    "grain": g,
                    "publisher": p,
                    "bucket": b,
                    "campaign": c,
                    "buyer": f["buyer"],
                    "vertical": f["vertical"],
                    **{n: f[n] for n in CAMPAIGN_COUNTS},
                    **{n: Decimal(f[n]) * CENT for n in CAMPAIGN_MONEY},
                }
                for (g, p, b, c), f in sorted(self.campaigns.items())
            ],
            CAMPAIGN_COUNTS + CAMPAIGN_MONEY,
        )
        await _upsert_add(
            conn,
            campaign_reasons,
            [
                {
                    "grain": g,
                    "publisher": p,
                    "bucket": b,
                    "campaign": c,
                    "reason": r,
                    "buyer": f["buyer"],
                    "vertical": f["vertical"],
                    "count": f["n"],
                }
                for (g, p, b, c, r), f in sorted(self.campaign_reasons.items())
            ],
            ("count",),
        )
        await _upsert_add(
            conn,
            publisher_rollups,
            [
                {
                    "grain": g,
                    "bucket": b,
                    "publisher": p,
                    "vertical": v,
                    **{n: f[n] for n in PUBLISHER_COUNTS},
                    **{n: Decimal(f[n]) * CENT for n in PUBLISHER_MONEY},
                }
                for (g, b, p, v), f in sorted(self.publishers.items())
            ],
            PUBLISHER_COUNTS + PUBLISHER_MONEY,
        )
        await _upsert_add(
            conn,
            publisher_reasons,
            [
                {
                    "grain": g,
                    "bucket": b,
                    "publisher": p,
                    "vertical": v,
                    "kind": k,
                    "code": c,
                    "count": n,
                }
                for (g, b, p, v, k, c), n in sorted(self.publisher_reasons.items())
            ],
            ("count",),
        )


async def _upsert_add(
    conn: AsyncConnection, table: Table, rows: list[dict[str, Any]], added: Sequence[str]
) -> None:
    if not rows:
        return
    statement = _upsert_statement(conn.dialect.name, table.name, tuple(added))
    await direct.send(conn, statement, rows)


@lru_cache(maxsize=16)
def _upsert_statement(dialect: str, table_name: str, added: tuple[str, ...]) -> Any:
    """INSERT ... ON CONFLICT adding the figures to the row's: built once per table (building
    it took longer than running it)."""
    table = _TABLES[table_name]
    stmt = dialect_insert_for(dialect)(table)
    return stmt.on_conflict_do_update(
        index_elements=list(table.primary_key.columns),
        set_={name: table.c[name] + stmt.excluded[name] for name in added},
    )


_TABLES = {
    t.name: t for t in (campaign_rollups, campaign_reasons, publisher_rollups, publisher_reasons)
}


async def roll(
    conn: AsyncConnection, *, now: datetime, hooks: Hooks | None = None, batch: int = BATCH
) -> int | None:
    """Roll the lead events committed since the last roll (in the caller's transaction);
    how many, or None when another process is rolling."""
    place = await cursors.claim(conn, SOURCE)
    if place is None:
        return None
    below = await cursors.horizon(conn)
    rows = (
        await conn.execute(
            select(events)
            .where(cursors.after(events, place, below))
            .order_by(events.c.txid, events.c.id)
            .limit(batch)
        )
    ).all()
    if not rows:
        return 0
    tally = Tally()
    calls: list[Call] = []
    booked: list[Entry] = []
    for row in rows:
        tally.add(row)
        booked += sales_booked(row)
        if hooks is not None:
            calls += postbacks_for(row, hooks)
    # The rollups' and the ledger's rows go together, without a wait for each (PostgreSQL).
    async with direct.pipeline(conn):
        await tally.write(conn)
        await book(conn, booked, at=now)
    await queue.enqueue(conn, calls, now=now)
    await cursors.advance(conn, SOURCE, cursors.place_of(rows[-1]), now)
    return len(rows)


def sales_booked(row: Any) -> list[Entry]:
    """The ledger entries of an answered lead's sales: the buyer pays, the publisher earns.

    Booked here, once, in the transaction that rolls the event, so a lead's record writes
    one row more, not one per entry.
    """
    if row.kind != EventKind.ANSWERED:
        return []
    out: list[Entry] = []
    for campaign, figures in row.campaigns.items():
        if not figures.get("sold"):
            continue
        sale = SaleBooking(
            campaign, figures["buyer"], Decimal(figures["revenue"]), Decimal(figures["payout"])
        )
        out += sale_entries(
            lead_id=row.lead_id,
            publisher=row.publisher,
            sales=[sale],
            rule=figures.get("rule"),
            actor=row.actor,
            memo=figures.get("memo"),
            at=row.at,
        )
    return out


def postbacks_for(row: Any, hooks: Hooks) -> list[Call]:
    """The calls an event asks for: the publisher's postback, the buyer's webhook."""
    out: list[Call] = []
    at = row.at.isoformat()

    def call(party: str, name: str, event: WebhookEvent, body: dict[str, Any]) -> None:
        hook = hooks(party, name)
        if hook is not None and hook.wants(event):
            payload = {"event": event.value, "lead_id": row.lead_id, "at": at, **body}
            out.append(Call(party, name, event.value, hook.url, row.lead_id, payload))

    if row.kind == EventKind.ANSWERED:
        if row.previous == "review":
            decision = "rejected" if row.status == "rejected" else "approved"
            call("publisher", row.publisher, WebhookEvent.REVIEW, _review(row, decision))
        if row.status == "sold" and row.previous != "sold":
            body = {"status": "sold", "payout": str(row.payout)}
            call("publisher", row.publisher, WebhookEvent.SALE, body)
    elif row.kind in (EventKind.RETURNED, EventKind.RETURN_REJECTED):
        approved = row.kind == EventKind.RETURNED
        reason = next(iter(row.codes), "")
        for figures in row.campaigns.values():
            decided = {
                "return_id": figures.get("return_id"),
                "decision": "approved" if approved else "rejected",
                "reason": reason,
            }
            if approved:
                clawback = {"reason": reason, "clawed_back": str(row.payout)}
                call("publisher", row.publisher, WebhookEvent.RETURN, clawback)
            call("buyer", figures["buyer"], WebhookEvent.RETURN, decided)
    return out


def _review(row: Any, decision: str) -> dict[str, Any]:
    return {"decision": decision, "status": row.status, "payout": str(row.payout or ZERO)}
