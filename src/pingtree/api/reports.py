"""Reports: per buyer and campaign, per publisher (JSON and CSV), and a publisher's own."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import PlainTextResponse

from pingtree.api.deps import PublisherDep, ReadDep, RuntimeDep
from pingtree.api.storable import StorableTextRoute
from pingtree.intake.errors import refuse
from pingtree.leads.schemas import admin_error_responses, error_responses
from pingtree.reporting.periods import By, PeriodError, default_range, zone_named
from pingtree.reporting.reports import (
    Filters,
    Report,
    as_csv,
    as_json,
    campaign_report,
    publisher_report,
)
from pingtree.reporting.schemas import (
    CampaignReport,
    OwnPublisherReport,
    OwnPublisherRow,
    PublisherReport,
)
from pingtree.runtime import Runtime

router = APIRouter(
    prefix="/api/v1/admin/reports",
    tags=["reports"],
    route_class=StorableTextRoute,
    responses=admin_error_responses(),
)
own = APIRouter(prefix="/api/v1", tags=["leads"], route_class=StorableTextRoute)

Name = Annotated[str | None, Query(max_length=64)]


@dataclass(frozen=True)
class Asked:
    """A report's range, split, zone and filters, as asked."""

    start: date | None
    end: date | None
    by: By
    tz: str
    filters: Filters


Day = Annotated[date | None, Query(description="a local day (YYYY-MM-DD)")]


def asked(
    start: Day = None,
    end: Day = None,
    by: Annotated[By, Query(description="split rows by hour, day, week, or total")] = By.DAY,
    tz: Annotated[str, Query(max_length=64, description="IANA time zone of the days")] = "UTC",
    vertical: Name = None,
    publisher: Name = None,
    buyer: Name = None,
    campaign: Name = None,
) -> Asked:
    """The query of a report: from start (default: 6 days before end) to end (default:
    today), both local days in tz, included."""
    return Asked(start, end, by, tz, Filters(vertical, publisher, buyer, campaign))


AskedDep = Annotated[Asked, Depends(asked)]


async def _report(rt: Runtime, query: Asked, *, publishers: bool, **extra: Any) -> Report:
    try:
        zone = zone_named(query.tz)
    except PeriodError as exc:
        raise refuse(422, "invalid_request", str(exc), "tz") from None
    start, end = default_range(rt.clock.now().astimezone(zone).date(), query.start, query.end)
    if publishers and (query.filters.buyer or query.filters.campaign):
        raise refuse(
            422,
            "invalid_request",
            "the publisher report counts leads, not purchases: filter the campaign report "
            "by buyer or campaign (by_publisher=true splits it per publisher)",
            "buyer" if query.filters.buyer else "campaign",
        )
    making = publisher_report if publishers else campaign_report
    async with rt.engine.connect() as conn:
        try:
            return await making(
                conn, start=start, end=end, zone=zone, by=query.by, filters=query.filters, **extra
            )
        except PeriodError as exc:
            raise refuse(422, "invalid_request", str(exc), "start") from None


class CsvResponse(PlainTextResponse):
    """A CSV download."""

    media_type = "text/csv"


def _csv(report: Report, name: str) -> CsvResponse:
    filename = f"{name}-{report.start.isoformat()}-{report.end.isoformat()}.csv"
    return CsvResponse(
        as_csv(report), headers={"Content-Disposition": f'attachment; filename="{filename}"'}
    )


def _csv_doc() -> dict[int | str, dict[str, Any]]:
    ref = {"$ref": "#/components/schemas/ErrorAnswer"}
    refusals: dict[int | str, dict[str, Any]] = {
        code: {
            "description": answer["description"],
            "content": {"application/json": {"schema": ref}},
        }
        for code, answer in admin_error_responses().items()
    }
    example = "period,period_start,period_end,campaign,...\n"
    return {200: {"content": {"text/csv": {"example": example}}}, **refusals}


ByPublisher = Annotated[
    bool, Query(description="one row per campaign and publisher (default: per campaign)")
]


@router.get("/campaigns", response_model=CampaignReport, dependencies=[ReadDep])
async def campaigns_report(
    rt: RuntimeDep, query: AskedDep, by_publisher: ByPublisher = False
) -> dict[str, Any]:
    """Per buyer and campaign: offered, pinged, bids, sold, rejections by reason, errors,
    timeouts, redirects, accept rate, prices, cost per lead, revenue, returns, mismatches."""
    configured = set(rt.catalog.campaigns)
    report = await _report(
        rt, query, publishers=False, by_publisher=by_publisher, configured=configured
    )
    return as_json(report)


@router.get(
    "/campaigns.csv",
    dependencies=[ReadDep],
    response_class=CsvResponse,
    responses=_csv_doc(),
)
async def campaigns_report_csv(
    rt: RuntimeDep, query: AskedDep, by_publisher: ByPublisher = False
) -> CsvResponse:
    """The campaign report as a CSV download."""
    configured = set(rt.catalog.campaigns)
    report = await _report(
        rt, query, publishers=False, by_publisher=by_publisher, configured=configured
    )
    return _csv(report, "campaigns")


@router.get("/publishers", response_model=PublisherReport, dependencies=[ReadDep])
async def publishers_report(rt: RuntimeDep, query: AskedDep) -> dict[str, Any]:
    """Per publisher: sent, refused and screened out by reason, sold, unsold, returned,
    payout, profit, average time to answer."""
    return as_json(await _report(rt, query, publishers=True))


@router.get(
    "/publishers.csv",
    dependencies=[ReadDep],
    response_class=CsvResponse,
    responses=_csv_doc(),
)
async def publishers_report_csv(rt: RuntimeDep, query: AskedDep) -> CsvResponse:
    """The publisher report as a CSV download."""
    return _csv(await _report(rt, query, publishers=True), "publishers")


OWN_FIELDS = frozenset(OwnPublisherRow.model_fields)


@own.get(
    "/reports",
    response_model=OwnPublisherReport,
    responses=error_responses(401, 403, 422, 503),
)
async def own_report(
    rt: RuntimeDep,
    publisher: PublisherDep,
    start: Annotated[date | None, Query()] = None,
    end: Annotated[date | None, Query()] = None,
    by: Annotated[By, Query()] = By.DAY,
    tz: Annotated[str, Query(max_length=64)] = "UTC",
    vertical: Name = None,
) -> dict[str, Any]:
    """Your leads and payouts: sent, refused and screened out by reason, sold, unsold,
    returned, payout and what returns took back, per hour, day or week."""
    query = Asked(start, end, by, tz, Filters(vertical=vertical, publisher=publisher.name))
    data = as_json(await _report(rt, query, publishers=True))
    data["rows"] = [{k: v for k, v in row.items() if k in OWN_FIELDS} for row in data["rows"]]
    return data
