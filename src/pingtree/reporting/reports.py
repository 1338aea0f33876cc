"""Buyer/campaign and publisher reports, served from the rollups (never from raw rows).

A report adds up the 15-minute rollup rows of its range in the database, grouped by runs
of slots that fit its periods (reporting.periods), so the work grows with the number of
campaigns and periods, not with the number of leads or attempts behind them.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Table,
    func,
    select,
    text,
    type_coerce,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from pingtree.money import cents
from pingtree.reporting.periods import By, Period, Periods, Run, periods
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
from pingtree.storage.books import ALL, RollupCursor

cursors = cast(Table, RollupCursor.__table__)
RATE = Decimal("0.0001")


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
    columns: list[str] = field(default_factory=list)
    """The columns of its CSV, in order (also when it has no rows)."""


@dataclass(frozen=True)
class Scan:
    """Which rollup rows one run of periods reads: grain, bucket range, group length."""

    grain: int
    first: int
    end: int
    length: int
    offset: int

    @classmethod
    def of(cls, run: Run) -> Scan:
        """Hourly rows when the run's periods are whole UTC hours, else 15-minute rows."""
        if run.first % 4 == 0 and run.length % 4 == 0:
            return cls(60, run.first // 4, run.end // 4, run.length // 4, run.offset)
        return cls(15, run.first, run.end, run.length, run.offset)


def _where(
    table: Table, scan: Scan, filters: Filters, *, by_publisher: bool = False
) -> list[ColumnElement[bool]]:
    clauses = [table.c.grain == scan.grain, table.c.bucket >= scan.first, table.c.bucket < scan.end]
    for name in ("vertical", "buyer", "campaign"):
        wanted = getattr(filters, name)
        if wanted is not None and name in table.c:
            clauses.append(table.c[name] == wanted)
    if filters.publisher is not None:
        clauses.append(table.c.publisher == filters.publisher)
    elif "campaign" in table.c:  # campaign rows count each publisher, and all (`*`)
        clauses.append(table.c.publisher != ALL if by_publisher else table.c.publisher == ALL)
    return clauses


async def _summed(
    conn: AsyncConnection,
    table: Table,
    spans: Periods,
    keys: Sequence[str],
    sums: Sequence[str],
    filters: Filters,
    *,
    by_publisher: bool = False,
) -> list[tuple[int, tuple[str, ...], list[int]]]:
    """(period index, keys, sums) of the rollup rows in the report's periods."""
    columns = [table.c[k] for k in keys]
    # Counts and money (integer cents) are summed as integers, read back as plain numbers.
    added = [type_coerce(func.sum(table.c[s]), BigInteger()) for s in sums]
    parts = []
    for scan in (Scan.of(run) for run in spans.runs()):
        group = ((table.c.bucket - scan.first) // scan.length + scan.offset).label("grp")
        parts.append(
            select(group, *columns, *added)
            .where(*_where(table, scan, filters, by_publisher=by_publisher))
            .group_by(group, *columns)
        )
    query = parts[0] if len(parts) == 1 else union_all(*parts)
    rows = await conn.execute(query)
    width = len(keys)
    return [
        (int(r[0]), tuple(r[1 : 1 + width]), [int(v or 0) for v in r[1 + width :]]) for r in rows
    ]


def _money(value: int) -> Decimal:
    return Decimal(value).scaleb(-2)


def _ratio(part: int | Decimal, whole: int | Decimal) -> Decimal | None:
    return (Decimal(part) / Decimal(whole)).quantize(RATE) if whole else None


def _per(amount: Decimal, count: int) -> Decimal | None:
    return cents(amount / count) if count else None


WORK_MEM = "64MB"


async def _roomy(conn: AsyncConnection) -> None:
    """PostgreSQL: room to add a report's groups up in memory (a hash, not a sort on disk)."""
    if conn.dialect.name == "postgresql":
        await conn.execute(text(f"SET LOCAL work_mem = '{WORK_MEM}'"))


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
    configured: Collection[str] | None = None,
) -> Report:
    """Per buyer and campaign (and publisher, if asked): what it was offered and bought.

    configured: the campaigns in the configuration now; a row of any other campaign (removed
    since, its history kept) is marked `removed`.
    """
    spans = periods(start, end, zone, by)
    await _roomy(conn)
    keys = ["campaign", "buyer", "vertical"] + (["publisher"] if by_publisher else [])
    sums = list(CAMPAIGN_COUNTS + CAMPAIGN_MONEY)
    lines: dict[tuple[int, tuple[str, ...]], Row] = {}
    split = {"by_publisher": by_publisher}
    found = await _summed(conn, campaign_rollups, spans, keys, sums, filters, **split)
    for grp, key, values in found:  # each (period, key) once: a period is in one run
        figures = dict(zip(sums, values, strict=True))
        lines[(grp, key)] = Row(spans.periods[grp], dict(zip(keys, key, strict=True)), figures)
    reason_keys = [*keys, "reason"]
    found = await _summed(conn, campaign_reasons, spans, reason_keys, ["count"], filters, **split)
    for grp, key, (count,) in found:
        row = lines.get((grp, key[:-1]))
        if row is not None:
            rejected = row.reasons.setdefault("rejected_by_reason", {})
            rejected[key[-1]] = rejected.get(key[-1], 0) + count
    rows = sorted(lines.values(), key=lambda r: (r.period.first, tuple(r.keys.values())))
    for row in rows:
        row.figures = _campaign_figures(row.figures)
        if configured is not None:
            row.figures["removed"] = row.keys["campaign"] not in configured
    marked = ["removed"] if configured is not None else []
    columns = [*PERIOD_COLUMNS, *keys, *marked, *CAMPAIGN_COLUMNS, "rejected_by_reason"]
    return Report(by, zone.key, start, end, await rolled_at(conn), rows, columns)


PERIOD_COLUMNS = ("period", "period_start", "period_end")
CAMPAIGN_COLUMNS = (
    *CAMPAIGN_COUNTS,
    *CAMPAIGN_MONEY,
    "accept_rate",
    "average_bid",
    "accepted_price",
    "cost_per_lead",
    "net_revenue",
    "margin",
)


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
    await _roomy(conn)
    keys = ["publisher"]
    sums = list(PUBLISHER_COUNTS + PUBLISHER_MONEY)
    lines: dict[tuple[int, tuple[str, ...]], Row] = {}
    for grp, key, values in await _summed(conn, publisher_rollups, spans, keys, sums, filters):
        figures = dict(zip(sums, values, strict=True))
        lines[(grp, key)] = Row(spans.periods[grp], {"publisher": key[0]}, figures)
    found = await _summed(
        conn, publisher_reasons, spans, ["publisher", "kind", "code"], ["count"], filters
    )
    for grp, (publisher, kind, code), (count,) in found:
        row = lines.get((grp, (publisher,)))
        if row is not None:
            named = row.reasons.setdefault(f"{_REASONS[kind]}_by_reason", {})
            named[code] = named.get(code, 0) + count
    rows = sorted(lines.values(), key=lambda r: (r.period.first, r.keys["publisher"]))
    for row in rows:
        row.figures = _publisher_figures(row.figures)
    reasons = [f"{name}_by_reason" for name in _REASONS.values()]
    columns = [*PERIOD_COLUMNS, "publisher", *PUBLISHER_COLUMNS, *reasons]
    return Report(by, zone.key, start, end, await rolled_at(conn), rows, columns)


_REASONS = {"refused": "refused", "screened": "screened_out", "unsold": "unsold"}
PUBLISHER_COLUMNS = (
    *(n for n in PUBLISHER_COUNTS if n not in ("answered", "answer_ms")),
    *PUBLISHER_MONEY,
    "net_payout",
    "net_revenue",
    "profit",
    "average_answer_ms",
)


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
    columns = list(report.columns)
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
