"""Buyer/campaign and publisher reports, served from the rollups (never from raw rows).

A report adds up the 15-minute rollup rows of its range in the database, grouped by runs
of slots that fit its periods (reporting.periods), so the work grows with the number of
campaigns and periods, not with the number of leads or attempts behind them.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import BigInteger, ColumnElement, Table, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from pingtree.money import cents
from pingtree.reporting.periods import By, Period, Periods, periods
from pingtree.reporting.rollups import (
    CAMPAIGN_COUNTS,
    CAMPAIGN_MONEY,
    PUBLISHER_COUNTS,
    PUBLISHER_MONEY,
    SOURCE,
    campaign_reasons,
    campaign_rollups,
    publisher_reasons,
    publisher_rollups,
)
from pingtree.storage.books import RollupCursor

cursors = cast(Table, RollupCursor.__table__)
RATE = Decimal("0.0001")
_BIG = BigInteger()


@dataclass(frozen=True)
class Filters:
    """What a report is limited to (None: everything)."""

    vertical: str | None = None
    publisher: str | None = None
    buyer: str | None = None
    campaign: str | None = None


@dataclass
class Row:
    """One report line: a period and its keys, the figures added up, reasons counted."""

    period: Period
    keys: dict[str, str]
    figures: dict[str, Any]
    reasons: dict[str, dict[str, int]] = field(default_factory=dict)


@dataclass
class Report:
    """A report's lines and how fresh its rollups are."""

    by: By
    timezone: str
    start: date
    end: date
    rolled_at: datetime | None
    rows: list[Row]


def _where(table: Table, lo: int, hi: int, filters: Filters) -> list[ColumnElement[bool]]:
    clauses = [table.c.bucket >= lo, table.c.bucket < hi]
    for name in ("vertical", "publisher", "buyer", "campaign"):
        wanted = getattr(filters, name)
        if wanted is not None and name in table.c:
            clauses.append(table.c[name] == wanted)
    return clauses


async def _summed(
    conn: AsyncConnection,
    table: Table,
    spans: Periods,
    keys: Sequence[str],
    sums: Sequence[str],
    filters: Filters,
) -> list[tuple[int, tuple[str, ...], list[int]]]:
    group = ((table.c.bucket - spans.first) // spans.step).label("grp")
    columns = [table.c[k] for k in keys]
    query = (
        select(group, *columns, *(func.sum(table.c[s].cast(_BIG)) for s in sums))
        .where(*_where(table, spans.first, spans.end, filters))
        .group_by(group, *columns)
    )
    rows = await conn.execute(query)
    width = len(keys)
    return [
        (int(r[0]), tuple(r[1 : 1 + width]), [int(v or 0) for v in r[1 + width :]]) for r in rows
    ]


def _money(value: int) -> Decimal:
    return cents(Decimal(value) / 100)


def _ratio(part: int | Decimal, whole: int | Decimal) -> Decimal | None:
    return (Decimal(part) / Decimal(whole)).quantize(RATE) if whole else None


def _per(amount: Decimal, count: int) -> Decimal | None:
    return cents(amount / count) if count else None


async def rolled_at(conn: AsyncConnection) -> datetime | None:
    """When the rollups last took in lead events."""
    found = await conn.scalar(select(cursors.c.rolled_at).where(cursors.c.source == SOURCE))
    return cast(datetime | None, found)


async def campaign_report(
    conn: AsyncConnection,
    *,
    start: date,
    end: date,
    zone: ZoneInfo,
    by: By,
    filters: Filters = Filters(),
    by_publisher: bool = False,
) -> Report:
    """Per buyer and campaign (and publisher, if asked): what it was offered and bought."""
    spans = periods(start, end, zone, by)
    keys = ["campaign", "buyer", "vertical"] + (["publisher"] if by_publisher else [])
    sums = list(CAMPAIGN_COUNTS + CAMPAIGN_MONEY)
    lines: dict[tuple[int, tuple[str, ...]], Row] = {}
    for grp, key, values in await _summed(conn, campaign_rollups, spans, keys, sums, filters):
        at = spans.index(grp)
        row = lines.get((at, key))
        if row is None:
            row = lines[(at, key)] = Row(spans.periods[at], dict(zip(keys, key, strict=True)), {})
        for name, value in zip(sums, values, strict=True):
            row.figures[name] = row.figures.get(name, 0) + value
    reason_keys = [*keys, "reason"]
    found = await _summed(conn, campaign_reasons, spans, reason_keys, ["count"], filters)
    for grp, key, (count,) in found:
        row = lines.get((spans.index(grp), key[:-1]))
        if row is not None:
            rejected = row.reasons.setdefault("rejected_by_reason", {})
            rejected[key[-1]] = rejected.get(key[-1], 0) + count
    rows = sorted(lines.values(), key=lambda r: (r.period.first, tuple(r.keys.values())))
    for row in rows:
        row.figures = _campaign_figures(row.figures)
    return Report(by, zone.key, start, end, await rolled_at(conn), rows)


def _campaign_figures(raw: dict[str, int]) -> dict[str, Any]:
    out: dict[str, Any] = {name: raw[name] for name in CAMPAIGN_COUNTS}
    money = {name: _money(raw[name]) for name in CAMPAIGN_MONEY}
    out.update(money)
    sold = raw["sold"]
    out["accept_rate"] = _ratio(sold, raw["offered"])
    out["average_bid"] = _per(money["bid_total"], raw["bids"])
    out["accepted_price"] = _per(money["revenue"], sold)
    out["cost_per_lead"] = _per(money["payout"], sold)
    out["net_revenue"] = money["revenue"] - money["returned"]
    out["margin"] = out["net_revenue"] - (money["payout"] - money["clawed_back"])
    return out


async def publisher_report(
    conn: AsyncConnection,
    *,
    start: date,
    end: date,
    zone: ZoneInfo,
    by: By,
    filters: Filters = Filters(),
) -> Report:
    """Per publisher: leads sent and what became of them, payout and profit."""
    spans = periods(start, end, zone, by)
    keys = ["publisher"]
    sums = list(PUBLISHER_COUNTS + PUBLISHER_MONEY)
    lines: dict[tuple[int, tuple[str, ...]], Row] = {}
    for grp, key, values in await _summed(conn, publisher_rollups, spans, keys, sums, filters):
        at = spans.index(grp)
        row = lines.get((at, key))
        if row is None:
            row = lines[(at, key)] = Row(spans.periods[at], {"publisher": key[0]}, {})
        for name, value in zip(sums, values, strict=True):
            row.figures[name] = row.figures.get(name, 0) + value
    found = await _summed(
        conn, publisher_reasons, spans, ["publisher", "kind", "code"], ["count"], filters
    )
    for grp, (publisher, kind, code), (count,) in found:
        row = lines.get((spans.index(grp), (publisher,)))
        if row is not None:
            named = row.reasons.setdefault(f"{_REASONS[kind]}_by_reason", {})
            named[code] = named.get(code, 0) + count
    rows = sorted(lines.values(), key=lambda r: (r.period.first, r.keys["publisher"]))
    for row in rows:
        row.figures = _publisher_figures(row.figures)
    return Report(by, zone.key, start, end, await rolled_at(conn), rows)


_REASONS = {"refused": "refused", "screened": "screened_out", "unsold": "unsold"}


def _publisher_figures(raw: dict[str, int]) -> dict[str, Any]:
    shown = [n for n in PUBLISHER_COUNTS if n not in ("answered", "answer_ms")]
    out: dict[str, Any] = {n: raw[n] for n in shown}
    money = {name: _money(raw[name]) for name in PUBLISHER_MONEY}
    out.update(money)
    out["net_payout"] = money["payout"] - money["clawed_back"]
    out["net_revenue"] = money["revenue"] - money["returned_revenue"]
    out["profit"] = out["net_revenue"] - out["net_payout"]
    answered = raw["answered"]
    out["average_answer_ms"] = round(raw["answer_ms"] / answered) if answered else None
    return out


def as_json(report: Report) -> dict[str, Any]:
    """The report as the API answers it (money and rates as strings)."""
    return {
        "by": report.by.value,
        "timezone": report.timezone,
        "start": report.start.isoformat(),
        "end": report.end.isoformat(),
        "rolled_at": report.rolled_at.isoformat() if report.rolled_at else None,
        "rows": [
            {
                "period": row.period.label,
                "period_start": row.period.start_at.isoformat(),
                "period_end": row.period.end_at.isoformat(),
                **row.keys,
                **{k: _shown(v) for k, v in row.figures.items()},
                **row.reasons,
            }
            for row in report.rows
        ],
    }


def _shown(value: Any) -> Any:
    return str(value) if isinstance(value, Decimal) else value


def as_csv(report: Report) -> str:
    """The report as CSV: one line per row; reasons as `code=count` joined by `; `."""
    data = as_json(report)["rows"]
    columns: list[str] = []
    for row in data:
        columns += [c for c in row if c not in columns]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in data:
        writer.writerow([_cell(row.get(c)) for c in columns])
    return out.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict):
        return "; ".join(f"{k}={n}" for k, n in sorted(value.items()))
    return str(value)


__all__ = [
    "By",
    "Filters",
    "Report",
    "as_csv",
    "as_json",
    "campaign_report",
    "publisher_report",
]
