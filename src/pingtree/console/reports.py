"""The business at a glance: money and leads over time, buyers, publishers, cap fill.

Every figure links to the leads behind it, and every table downloads as CSV. All numbers
come from `reporting.series` (one query function per table).
"""

from __future__ import annotations

import bisect
import csv
import io
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from pingtree.calls import repository as call_repository
from pingtree.calls.repository import CallFigures
from pingtree.console import charts, periods
from pingtree.console.auth import ReaderDep
from pingtree.console.editors import time_zones
from pingtree.console.render import ConsoleRoute, console_root, page
from pingtree.money import ZERO
from pingtree.reporting import series
from pingtree.reporting.reports import rolled_at
from pingtree.runtime import Runtime

router = APIRouter(prefix="/console", include_in_schema=False, route_class=ConsoleRoute)

COLORS = {
    "revenue": "#2457c5",
    "payout": "#b26b00",
    "profit": "#177245",
    "sold": "#2f9e5f",
    "unsold": "#e0a030",
    "rejected": "#c8453a",
    "review": "#7a5cc7",
    "other": "#8a93a6",
}
TABLES = (
    "timeline",
    "buyers",
    "campaigns",
    "publishers",
    "caps",
    "call-campaigns",
    "call-publishers",
)


@dataclass
class Bucket:
    """One hour or day of the chosen period, its figures, and the address of its leads."""

    start: datetime
    end: datetime
    label: str
    leads: dict[str, int]
    revenue: Decimal = ZERO
    payout: Decimal = ZERO

    @property
    def profit(self) -> Decimal:
        """Revenue less payout."""
        return self.revenue - self.payout

    def count(self, status: str) -> int:
        """Leads of a status ('other': review, uncertain, in progress)."""
        if status == "other":
            return sum(n for s, n in self.leads.items() if s not in ("sold", "unsold", "rejected"))
        return self.leads.get(status, 0)


@dataclass(frozen=True)
class Chosen:
    """What the operator chose to look at."""

    window: periods.Window
    publisher: str | None
    vertical: str | None

    def scope(self) -> series.Scope:
        """The reporting scope (sales and exchanges of every campaign, removed ones too)."""
        return series.Scope(self.window.since, self.window.until, self.publisher, self.vertical)

    def query(self) -> str:
        """The query string of this choice (the CSV links carry it)."""
        params: dict[str, str] = {"tz": self.window.zone.key}
        if self.window.since is not None:
            params["from"] = f"{self.window.local(self.window.since):%Y-%m-%dT%H:%M}"
        if self.window.until is not None:
            params["to"] = f"{self.window.local(self.window.until):%Y-%m-%dT%H:%M}"
        for key, value in (("publisher", self.publisher), ("vertical", self.vertical)):
            if value:
                params[key] = value
        return urlencode(params)


async def chosen(request: Request, rt: Runtime) -> Chosen:
    """The period, zone and filters in the query (raises periods.BadPeriod)."""
    q = request.query_params
    window = periods.window(
        q.get("period"),
        now=rt.clock.now(),
        tz=q.get("tz"),
        since=q.get("from"),
        until=q.get("to"),
    )
    return Chosen(window, q.get("publisher") or None, q.get("vertical") or None)


def leads_link(request: Request, start: datetime, end: datetime, c: Chosen, **more: str) -> str:
    """The leads of a bucket (received between start and end), filtered by more."""
    params = {
        "tz": c.window.zone.key,
        "from": f"{c.window.local(start):%Y-%m-%dT%H:%M}",
        "to": f"{c.window.local(end):%Y-%m-%dT%H:%M}",
        "test": "no",
    }
    for key, value in (("publisher", c.publisher), ("vertical", c.vertical)):
        if value:
            params[key] = value
    params.update(more)
    return f"{console_root(request)}/leads?{urlencode(params)}"


async def call_figures(rt: Runtime, c: Chosen, by: str) -> list[CallFigures]:
    """The period's call figures (test calls left out) per campaign or publisher."""
    async with rt.engine.connect() as conn:
        return await call_repository.figures(
            conn,
            by=by,
            start=c.window.since,
            end=c.window.until,
            publisher=c.publisher,
            vertical=c.vertical,
        )


async def timeline(rt: Runtime, c: Chosen) -> list[Bucket]:
    """The period's buckets with their figures (UTC slots folded into local hours or days).

    Where the zone's hours start off the UTC hour (Asia/Kolkata, Asia/Kathmandu) the slots
    are quarter hours, so that each lands in the local hour or day it belongs to.
    """
    cuts = periods.buckets(c.window)
    whole_hours = all(start.minute == 0 and start.second == 0 for start, _ in cuts)
    async with rt.sessions() as session:
        hours = await series.slots(session, c.scope(), minutes=60 if whole_hours else 15)
    fmt = "%H:%M" if c.window.hourly else "%m-%d"
    out = [Bucket(start, end, f"{c.window.local(start):{fmt}}", {}) for start, end in cuts]
    starts = [b.start for b in out]
    for hour in hours:
        index = bisect.bisect_right(starts, hour.start) - 1
        if index < 0:
            continue
        bucket = out[index]
        for status, count in hour.leads.items():
            bucket.leads[status] = bucket.leads.get(status, 0) + count
        bucket.revenue += hour.revenue
        bucket.payout += hour.payout
    return out


def _money_chart(buckets: list[Bucket], links: list[str]) -> Any:
    labels = [b.label for b in buckets]
    return charts.lines(
        "money-chart",
        "Revenue, payout and profit",
        labels,
        [
            charts.Series("revenue", COLORS["revenue"], [b.revenue for b in buckets]),
            charts.Series("payout", COLORS["payout"], [b.payout for b in buckets]),
            charts.Series("profit", COLORS["profit"], [b.profit for b in buckets]),
        ],
        links,
    )


@router.get("/reports", response_class=HTMLResponse)
async def reports(request: Request, rt: ReaderDep) -> Response:
    """Charts and tables of the chosen period, zone, publisher and vertical."""
    try:
        c = await chosen(request, rt)
    except periods.BadPeriod as exc:
        return _bad(request, exc)
    buckets = await timeline(rt, c)
    scope = c.scope()
    async with rt.sessions() as session:
        buyers = await series.buyers(session, scope)
        campaigns = await series.campaigns(session, scope)
        publishers = await series.publishers(session, scope)
        caps = await series.cap_fill(session, rt.catalog.document.campaigns, rt.clock.now())
    async with rt.engine.connect() as conn:
        rolled = await rolled_at(conn)
    call_campaigns = await call_figures(rt, c, "campaign")
    call_publishers = await call_figures(rt, c, "publisher")
    statuses = ("sold", "unsold", "rejected", "other")
    leads_chart = charts.stacked_columns(
        "leads-chart",
        "Leads received: sold, unsold, rejected, other",
        [b.label for b in buckets],
        [
            charts.Series(
                status,
                COLORS[status],
                [b.count(status) for b in buckets],
                [
                    leads_link(request, b.start, b.end, c, status=status)
                    if status != "other"
                    else leads_link(request, b.start, b.end, c)
                    for b in buckets
                ],
            )
            for status in statuses
        ],
    )
    money_links = [leads_link(request, b.start, b.end, c, status="sold") for b in buckets]
    totals: dict[str, int | Decimal] = {
        "received": sum(sum(b.leads.values()) for b in buckets),
        **{s: sum(b.count(s) for b in buckets) for s in statuses},
        "revenue": sum((b.revenue for b in buckets), ZERO),
        "payout": sum((b.payout for b in buckets), ZERO),
    }
    totals["profit"] = Decimal(totals["revenue"]) - Decimal(totals["payout"])
    whole = (c.window.since, c.window.until)
    since, until = whole
    base_link = (
        leads_link(request, since, until, c) if since is not None and until is not None else None
    )

    def buyer_link(buyer: str) -> str | None:
        if since is None or until is None:
            return None
        return leads_link(request, since, until, c, buyer=buyer)

    def campaign_link(campaign: str) -> str | None:
        if since is None or until is None:
            return None
        return leads_link(request, since, until, c, campaign=campaign)

    slowest = max((b.mean_ms or 0.0 for b in buyers), default=0.0)
    context = {
        "rolled_at": rolled,
        "nav": "reports",
        "c": c,
        "choices": periods.CHOICES,
        "zones": time_zones(),
        "buckets": buckets,
        "totals": totals,
        "base_link": base_link,
        "leads_chart": leads_chart,
        "money_chart": _money_chart(buckets, money_links),
        "colors": COLORS,
        "statuses": statuses,
        "buyers": buyers,
        "buyer_link": buyer_link,
        "accept_bars": charts.bars(
            [
                (b.buyer, b.accept_rate, _percent(b.accept_rate), buyer_link(b.buyer))
                for b in buyers
            ],
            scale=1.0,
        ),
        "latency_bars": charts.bars(
            [
                (b.buyer, b.mean_ms, f"{b.mean_ms:,.0f} ms" if b.mean_ms else "–", None)
                for b in buyers
            ],
            scale=slowest or None,
        ),
        "timeout_bars": charts.bars(
            [
                (b.buyer, b.timeout_rate, f"{b.timeouts} ({_percent(b.timeout_rate)})", None)
                for b in buyers
            ],
            scale=1.0,
        ),
        "campaigns": campaigns,
        "removed": removed(rt, campaigns),
        "campaign_link": campaign_link,
        "publishers": publishers,
        "call_campaigns": call_campaigns,
        "call_publishers": call_publishers,
        "caps": caps,
        "cap_bars": charts.bars(
            [
                (
                    f"{f.campaign} · {f.period}",
                    f.fill,
                    _cap_text(f),
                    f"{console_root(request)}/config/campaigns/{f.campaign}",
                )
                for f in caps
            ],
            scale=1.0,
            full_is_bad=True,
        ),
        "query": c.query(),
        "publisher_names": sorted(rt.catalog.publishers),
        "vertical_names": sorted(rt.catalog.verticals),
        "q": request.query_params,
    }
    return page(request, "reports.html", context)


def removed(rt: Runtime, campaigns: list[series.CampaignFigures]) -> set[str]:
    """The campaigns of a report no longer in the configuration (shown marked as removed)."""
    return {f.campaign for f in campaigns if f.campaign not in rt.catalog.campaigns}


def _percent(value: Decimal | None) -> str:
    return "–" if value is None else f"{value * 100:.1f}%"


def _cap_text(fill: series.CapFill) -> str:
    parts = []
    if fill.cap is not None:
        parts.append(f"{fill.leads} of {fill.cap} leads")
    if fill.budget is not None:
        parts.append(f"{fill.spent:,.2f} of {fill.budget:,.2f}")
    return " · ".join(parts) + f" ({fill.window})"


def _bad(request: Request, exc: periods.BadPeriod) -> HTMLResponse:
    field, _, message = str(exc).partition(": ")
    problems = [{"field": field, "message": message}]
    return page(request, "bad_request.html", {"problems": problems}, status_code=400)


@router.get("/reports/{table}.csv")
async def report_csv(request: Request, table: str, rt: ReaderDep) -> Response:
    """One of the report's tables as CSV (same period, zone and filters)."""
    if table not in TABLES:
        return page(request, "not_found.html", status_code=404)
    try:
        c = await chosen(request, rt)
    except periods.BadPeriod as exc:
        return _bad(request, exc)
    out = io.StringIO()
    writer = csv.writer(out)
    header, rows = await _table(rt, c, table)
    writer.writerow(header)
    writer.writerows(rows)
    stamp = f"{c.window.local(rt.clock.now()):%Y%m%d}"
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="pingtree-{table}-{stamp}.csv"',
            "Cache-Control": "no-store",
        },
    )


async def _table(rt: Runtime, c: Chosen, table: str) -> tuple[list[str], list[list[Any]]]:
    """A report table's header and rows, as the CSV download writes them."""
    scope = c.scope()
    if table == "timeline":
        header = ["start", "end", "received", "sold", "unsold", "rejected", "other"]
        header += ["revenue", "payout", "profit"]
        return header, [
            [
                c.window.local(b.start).isoformat(),
                c.window.local(b.end).isoformat(),
                sum(b.leads.values()),
                *(b.count(s) for s in ("sold", "unsold", "rejected", "other")),
                b.revenue,
                b.payout,
                b.profit,
            ]
            for b in await timeline(rt, c)
        ]
    if table.startswith("call-"):
        by = table.removeprefix("call-").removesuffix("s")
        header = [by, "calls", "connected", "converted", "average_duration_s", "revenue"]
        header += ["revenue_per_call"]
        return header, [
            [
                f.key,
                f.calls,
                f.connected,
                f.converted,
                f.average_duration_s,
                f.revenue,
                f.revenue_per_call,
            ]
            for f in await call_figures(rt, c, by)
        ]
    async with rt.sessions() as session:
        if table == "buyers":
            found = await series.buyers(session, scope)
            header = ["buyer", "pings", "posts", "offered", "sold", "accept_rate", "timeouts"]
            header += ["errors", "rejections", "mean_ms", "revenue"]
            return header, [
                [
                    f.buyer,
                    f.pings,
                    f.posts,
                    f.offered,
                    f.sold,
                    f"{f.accept_rate:.4f}" if f.accept_rate is not None else "",
                    f.timeouts,
                    f.errors,
                    f.rejections,
                    f"{f.mean_ms:.1f}" if f.mean_ms is not None else "",
                    f.revenue,
                ]
                for f in found
            ]
        if table == "campaigns":
            figures = await series.campaigns(session, scope)
            gone = removed(rt, figures)
            header = ["campaign", "buyer", "removed", "pings", "offered", "sold", "accept_rate"]
            header += ["timeouts", "errors", "rejections", "revenue"]
            return header, [
                [
                    f.campaign,
                    f.buyer,
                    "yes" if f.campaign in gone else "no",
                    f.pings,
                    f.offered,
                    f.sold,
                    f"{f.accept_rate:.4f}" if f.accept_rate is not None else "",
                    f.timeouts,
                    f.errors,
                    f.rejections,
                    f.revenue,
                ]
                for f in figures
            ]
        if table == "publishers":
            funnels = await series.publishers(session, scope)
            header = ["publisher", "received", "sold", "unsold", "rejected", "review"]
            header += ["revenue", "payout", "profit"]
            return header, [
                [
                    p.publisher,
                    p.received,
                    *(p.leads.get(s, 0) for s in ("sold", "unsold", "rejected", "review")),
                    p.revenue,
                    p.payout,
                    p.profit,
                ]
                for p in funnels
            ]
        fills = await series.cap_fill(session, rt.catalog.document.campaigns, rt.clock.now())
    header = ["campaign", "period", "window", "leads", "cap", "spent", "budget"]
    return header, [
        [
            f.campaign,
            f.period,
            f.window,
            f.leads,
            "" if f.cap is None else f.cap,
            f.spent,
            "" if f.budget is None else f.budget,
        ]
        for f in fills
    ]
