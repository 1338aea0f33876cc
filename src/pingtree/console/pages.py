"""The console's pages: dashboard, lead timeline, buyers report, configuration in force."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from pingtree.config.posting_spec import NoSpec, posting_spec, verticals_of
from pingtree.console import periods
from pingtree.console.auth import ReaderDep
from pingtree.console.editors import time_zones
from pingtree.console.render import ConsoleRoute, page
from pingtree.leads.evidence import evidence
from pingtree.reporting.campaigns import campaign_stats
from pingtree.reporting.today import day_start, day_totals, latest_leads

router = APIRouter(prefix="/console", include_in_schema=False, route_class=ConsoleRoute)

Period = Literal["today", "7d", "30d", "all"]
PERIODS: tuple[Period, ...] = ("today", "7d", "30d", "all")


def _bad(request: Request, exc: periods.BadPeriod) -> HTMLResponse:
    field, _, message = str(exc).partition(": ")
    problems = [{"field": field, "message": message}]
    return page(request, "bad_request.html", {"problems": problems}, status_code=400)


@router.get("", response_class=HTMLResponse)
async def dashboard(request: Request, rt: ReaderDep) -> HTMLResponse:
    """Today's totals (the day in the chosen zone, `tz`, as on the reports) and the newest
    leads."""
    try:
        zone = periods.zone(request.query_params.get("tz"))
    except periods.BadPeriod as exc:
        return _bad(request, exc)
    async with rt.sessions() as session:
        totals = await day_totals(session, rt.clock.now(), zone)
        leads = await latest_leads(session)
    context = {"nav": "dashboard", "totals": totals, "leads": leads, "zones": time_zones()}
    return page(request, "dashboard.html", context)


@router.get("/partials/leads", response_class=HTMLResponse)
async def leads_table(request: Request, rt: ReaderDep) -> HTMLResponse:
    """Only the newest-leads table, for the dashboard's HTMX poll."""
    async with rt.sessions() as session:
        leads = await latest_leads(session)
    return page(request, "_leads.html", {"leads": leads})


@router.get("/partials/today", response_class=HTMLResponse)
async def today_cards(request: Request, rt: ReaderDep) -> HTMLResponse:
    """Only today's totals (in the chosen zone), for the dashboard's HTMX poll."""
    try:
        zone = periods.zone(request.query_params.get("tz"))
    except periods.BadPeriod as exc:
        return _bad(request, exc)
    async with rt.sessions() as session:
        totals = await day_totals(session, rt.clock.now(), zone)
    return page(request, "_today.html", {"totals": totals})


@router.get("/leads/{lead_id}/evidence.json")
async def lead_evidence(request: Request, lead_id: str, rt: ReaderDep) -> Response:
    """The lead's evidence export (as the admin API's), to download."""
    async with rt.sessions() as session:
        found = await evidence(session, lead_id, now=rt.clock.now())
    if found is None:
        return page(request, "not_found.html", {"lead_id": lead_id}, status_code=404)
    return Response(
        found.model_dump_json(indent=2),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="lead-{lead_id}-evidence.json"'},
    )


@router.get("/buyers", response_class=HTMLResponse)
async def buyers(request: Request, rt: ReaderDep, period: Period = "today") -> HTMLResponse:
    """Per-campaign results over a period; today is the day in the chosen zone (`tz`)."""
    try:
        zone = periods.zone(request.query_params.get("tz"))
    except periods.BadPeriod as exc:
        return _bad(request, exc)
    now = rt.clock.now()
    since = {
        "today": day_start(now, zone),
        "7d": now - timedelta(days=7),
        "30d": now - timedelta(days=30),
        "all": None,
    }[period]
    async with rt.sessions() as session:
        stats = await campaign_stats(session, since)
    context = {
        "nav": "buyers",
        "stats": stats,
        "configured": set(rt.catalog.campaigns),
        "period": period,
        "periods": PERIODS,
        "since": since,
        "zone": zone,
    }
    return page(request, "buyers.html", context)


@router.get("/config", response_class=HTMLResponse)
async def config(request: Request, rt: ReaderDep) -> HTMLResponse:
    """The configuration in force, read-only."""
    catalog = rt.catalog
    context = {
        "nav": "config",
        "doc": catalog.document,
        "version": catalog.version,
        "campaigns": {c.name: c for c in catalog.document.campaigns},
    }
    return page(request, "config.html", context)


@router.get("/publishers/{name}/spec", response_class=HTMLResponse)
async def spec_page(
    request: Request, name: str, rt: ReaderDep, vertical: str | None = None
) -> HTMLResponse:
    """The publisher's posting spec, from the configuration in force."""
    document = rt.catalog.document
    try:
        markdown = posting_spec(
            document,
            name,
            vertical=vertical,
            base_url=str(request.base_url),
            ping_ttl_s=rt.settings.inbound_ping_ttl_s,
        )
    except NoSpec as exc:
        return page(request, "spec_missing.html", {"problem": str(exc)}, status_code=404)
    context = {
        "nav": "config",
        "publisher": name,
        "vertical": vertical,
        "verticals": verticals_of(document, name),
        "version": rt.catalog.version,
        "markdown": markdown,
    }
    return page(request, "spec.html", context)


@router.get("/publishers/{name}/spec.md")
async def spec_download(
    request: Request, name: str, rt: ReaderDep, vertical: str | None = None
) -> Response:
    """The publisher's posting spec as a Markdown file."""
    try:
        markdown = posting_spec(
            rt.catalog.document,
            name,
            vertical=vertical,
            base_url=str(request.base_url),
            ping_ttl_s=rt.settings.inbound_ping_ttl_s,
        )
    except NoSpec as exc:
        return page(request, "spec_missing.html", {"problem": str(exc)}, status_code=404)
    suffix = f"-{vertical}" if vertical else ""
    return Response(
        markdown,
        media_type="text/markdown; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}{suffix}-spec.md"'},
    )
