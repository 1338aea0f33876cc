"""`pingtree ledger ...` and `pingtree report ...`: balances, bookings and reports from a shell."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Annotated, TypeVar

import typer
from pydantic import TypeAdapter, ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine

from pingtree.clock import SystemClock
from pingtree.config.catalog import Catalog
from pingtree.config.store import load_document
from pingtree.ledger import accounts, entries, schemas
from pingtree.ledger.accounts import EntryKind
from pingtree.ledger.balances import balances
from pingtree.ledger.booking import ReferenceUsed, UnknownAccount, book_checked
from pingtree.reporting.periods import By, PeriodError, default_range, zone_named
from pingtree.reporting.reports import Filters, as_csv, as_json, campaign_report, publisher_report
from pingtree.settings import Settings
from pingtree.storage.db import create_engine, sessions
from pingtree.storage.migrate import upgrade

ledger_app = typer.Typer(
    help="The ledger: balances, entries, buyers' credits and publishers' payments.",
    no_args_is_help=True,
)
report_app = typer.Typer(
    help="Reports from the rollups, as CSV (or --json): per campaign, per publisher.",
    no_args_is_help=True,
)
T = TypeVar("T")
ACTOR = "cli"


@asynccontextmanager
async def _opened() -> AsyncIterator[tuple[AsyncEngine, Catalog]]:
    settings = Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    await upgrade(settings.database)
    engine = create_engine(settings.database)
    try:
        async with sessions(engine)() as session:
            document, version = await load_document(session)
        yield engine, Catalog.build(document, version)
    finally:
        await engine.dispose()


def _run(work: Callable[[AsyncEngine, Catalog], Awaitable[T]]) -> T:
    async def go() -> T:
        async with _opened() as (engine, catalog):
            return await work(engine, catalog)

    return asyncio.run(go())


def _fail(message: str) -> None:
    typer.echo(message, err=True)
    raise typer.Exit(1)


def _amount(text: str) -> Decimal:
    try:
        amount = Decimal(text)
    except InvalidOperation:
        amount = Decimal(0)
    if not amount.is_finite() or amount <= 0 or amount != amount.quantize(Decimal("0.01")):
        _fail(f"amount {text!r}: give a positive amount with at most 2 decimals, e.g. 250.00")
    return amount


@ledger_app.command("balances")
def ledger_balances() -> None:
    """Every account's balance (credits less debits): buyers' funds, what publishers are owed."""

    async def read(engine: AsyncEngine, _: Catalog) -> dict[str, Decimal]:
        async with engine.connect() as conn:
            return await balances(conn)

    for account, balance in _run(read).items():
        typer.echo(f"{account:40} {balance:>14}")


def _book(
    kind: EntryKind,
    debit: str,
    credit: str,
    amount: Decimal,
    memo: str | None,
    reference: str | None,
) -> None:
    if reference is not None:
        try:  # the API's rule for a reference
            TypeAdapter(schemas.Reference).validate_python(reference)
        except ValidationError:
            _fail("--reference: 1 to 100 characters, printable ASCII without spaces")

    async def book(engine: AsyncEngine, catalog: Catalog) -> bool:
        async with engine.begin() as conn:
            return await book_checked(
                conn,
                buyers=catalog.buyers,
                publishers=catalog.publishers,
                kind=kind,
                debit=("debit", debit),
                credit=("credit", credit),
                amount=amount,
                memo=memo,
                actor=ACTOR,
                at=SystemClock().now(),
                reference=reference,
            )

    try:
        booked = _run(book)
    except (UnknownAccount, ReferenceUsed) as exc:
        _fail(str(exc))
        return
    said = f"{kind.value}: {amount} from {debit} to {credit}"
    typer.echo(said if booked else f"booked before with reference {reference!r}: {said}")


Memo = Annotated[str | None, typer.Option("--memo", help="why (shown with the entry)")]
Reference = Annotated[
    str | None,
    typer.Option(
        "--reference",
        help="your reference (a bank transfer's id): run again, it books nothing twice",
    ),
]


@ledger_app.command("credit")
def ledger_credit(
    buyer: Annotated[str, typer.Argument(help="the buyer that paid in")],
    amount: Annotated[str, typer.Argument(help="e.g. 500.00")],
    memo: Memo = None,
    reference: Reference = None,
) -> None:
    """Book funds a buyer paid in (its balance goes up)."""
    _book(EntryKind.CREDIT, accounts.CASH, accounts.buyer(buyer), _amount(amount), memo, reference)


@ledger_app.command("pay")
def ledger_pay(
    publisher: Annotated[str, typer.Argument(help="the publisher paid")],
    amount: Annotated[str, typer.Argument(help="e.g. 120.50")],
    memo: Memo = None,
    reference: Reference = None,
) -> None:
    """Book money paid out to a publisher (what it is owed goes down)."""
    _book(
        EntryKind.PAYMENT,
        accounts.publisher(publisher),
        accounts.CASH,
        _amount(amount),
        memo,
        reference,
    )


@ledger_app.command("entries")
def ledger_entries(
    lead: Annotated[str | None, typer.Option("--lead", help="a lead's entries")] = None,
    account: Annotated[str | None, typer.Option("--account", help="e.g. buyer:apex")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
) -> None:
    """Entries, newest first."""

    async def read(engine: AsyncEngine, _: Catalog) -> list[entries.BookedEntry]:
        async with engine.connect() as conn:
            return await entries.read(conn, lead_id=lead, account=account, limit=limit)

    for e in _run(read):
        what = f"{e.kind:10} {e.amount:>10} {e.debit} -> {e.credit}"
        typer.echo(f"{e.at.isoformat()}  {what}  {e.lead_id or ''} {e.memo or ''}".rstrip())


def _report(
    publishers: bool,
    start: date | None,
    end: date | None,
    by: By,
    tz: str,
    filters: Filters,
    as_json_text: bool,
) -> None:
    async def make(engine: AsyncEngine, _: Catalog) -> str:
        zone = zone_named(tz)
        first, last = default_range(SystemClock().now().astimezone(zone).date(), start, end)
        making = publisher_report if publishers else campaign_report
        async with engine.connect() as conn:
            report = await making(conn, start=first, end=last, zone=zone, by=by, filters=filters)
        return json.dumps(as_json(report), indent=2) if as_json_text else as_csv(report)

    try:
        typer.echo(_run(make), nl=False)
    except PeriodError as exc:
        _fail(str(exc))


Start = Annotated[date | None, typer.Option(help="first local day (default: 6 days ago)")]
End = Annotated[date | None, typer.Option(help="last local day, included (default: today)")]
ByOption = Annotated[By, typer.Option(help="hour, day, week or total")]
Zone = Annotated[str, typer.Option(help="IANA time zone of the days")]
Name = Annotated[str | None, typer.Option()]
Json = Annotated[bool, typer.Option("--json", help="JSON instead of CSV")]


@report_app.command("campaigns")
def report_campaigns(
    start: Start = None,
    end: End = None,
    by: ByOption = By.DAY,
    tz: Zone = "UTC",
    vertical: Name = None,
    publisher: Name = None,
    buyer: Name = None,
    campaign: Name = None,
    as_json_text: Json = False,
) -> None:
    """Per buyer and campaign: offered, bids, sold, rejections, errors, prices, revenue, returns."""
    filters = Filters(vertical, publisher, buyer, campaign)
    _report(False, start, end, by, tz, filters, as_json_text)


@report_app.command("publishers")
def report_publishers(
    start: Start = None,
    end: End = None,
    by: ByOption = By.DAY,
    tz: Zone = "UTC",
    vertical: Name = None,
    publisher: Name = None,
    as_json_text: Json = False,
) -> None:
    """Per publisher: sent, refused, screened out, sold, unsold, returned, payout, profit."""
    _report(True, start, end, by, tz, Filters(vertical, publisher), as_json_text)
