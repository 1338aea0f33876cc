"""The `pingtree` command: serve, migrate, configuration files, the simulator and the demo."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from pingtree.config.document import ConfigDocument
from pingtree.config.errors import ConfigError
from pingtree.config.store import Plan
from pingtree.credentials import SecretKeys
from pingtree.money_cli import ledger_app, report_app
from pingtree.operators.model import OperatorError
from pingtree.operators.roles import Role
from pingtree.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

    from pingtree.buyers.model import Campaign
    from pingtree.config.catalog import Catalog
    from pingtree.sales.ledger import SqlCapLedger
    from pingtree.verticals.model import Vertical

app = typer.Typer(
    help="pingtree: lead intake, screening and ping tree distribution.",
    no_args_is_help=True,
    # A traceback's local variables hold leads and buyer credentials: never print them.
    pretty_exceptions_show_locals=False,
)

operators_app = typer.Typer(
    help="Named operator accounts: each has a role and a token, stored only as a hash.",
    no_args_is_help=True,
)
app.add_typer(operators_app, name="operators")
buyers_app = typer.Typer(help="Buyers: try a campaign before it goes live.", no_args_is_help=True)
app.add_typer(buyers_app, name="buyers")
rules_app = typer.Typer(
    help="Response rules: how a campaign reads a buyer's answer.", no_args_is_help=True
)
app.add_typer(rules_app, name="rules")
app.add_typer(ledger_app, name="ledger")
app.add_typer(report_app, name="report")

FileArg = Annotated[Path, typer.Argument(help="a configuration YAML file")]
CampaignArg = Annotated[str, typer.Argument(help="the campaign's name")]
ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", help="read this configuration file instead of the stored one"),
]
NameArg = Annotated[str, typer.Argument(help="the operator's name")]
T = TypeVar("T")


def _fail(message: str, code: int = 1) -> None:
    typer.echo(message, err=True)
    raise typer.Exit(code)


@app.command()
def migrate() -> None:
    """Create or upgrade the database schema (SQLite file or PINGTREE_DATABASE_URL)."""
    from pingtree.storage.migrate import upgrade_blocking

    settings = Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade_blocking(settings.database)
    typer.echo(f"database ready: {settings.database}")


WORKER_HEALTHCHECK_S = 60


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="bind address")] = None,
    port: Annotated[int | None, typer.Option(help="port")] = None,
    workers: Annotated[
        int | None, typer.Option(help="processes; more than 1 needs PostgreSQL and Redis")
    ] = None,
) -> None:
    """Migrate, then serve the API and console."""
    import uvicorn

    from pingtree.storage.db import is_sqlite

    settings = Settings()
    count = workers or settings.workers
    if count > 1 and is_sqlite(settings.database):
        _fail("SQLite takes one writer: run one worker, or use PostgreSQL for several")
    if count > 1 and not settings.redis_url:
        _fail(
            "rate limits and even rotation are counted in each process's memory: set "
            "PINGTREE_REDIS_URL so that several workers share them, or run one worker"
        )
    migrate()
    _warn_if_connections_exceed(settings, count)
    # `kill -USR1` prints where each thread of this process is (each worker does the same).
    from pingtree.failures import stacks_on_sigusr1

    stacks_on_sigusr1()
    uvicorn.run(
        "pingtree.app:serve_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=count,
        # A worker answers its supervisor's health check from a thread; while it starts
        # (the ZIP table, the catalog) it can hold the GIL for seconds on a busy machine.
        # uvicorn's 5 s would kill and restart it, over and over: give it a minute.
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_S,
        log_level="warning",
        access_log=False,
    )


def _warn_if_connections_exceed(settings: Settings, workers: int) -> None:
    """Say so at start when this server's workers may open more connections than
    PostgreSQL takes (the server starts anyway: PgBouncer may be in front)."""
    from pingtree.storage.db import connection_room, connections_warning

    room = asyncio.run(connection_room(settings.database))
    warning = connections_warning(
        workers, pool_size=settings.db_pool_size, max_overflow=settings.db_max_overflow, room=room
    )
    if warning is not None:
        typer.echo(f"warning: {warning}", err=True)


@app.command()
def validate(file: FileArg) -> None:
    """Check a configuration file; every problem is named with its path."""
    from pingtree.config.files import load_file

    try:
        document = load_file(file, allow=Settings().buyer_allowlist)
    except ConfigError as exc:
        _fail(str(exc))
        return
    counts = ", ".join(f"{len(getattr(document, k))} {k}" for k in type(document).model_fields)
    typer.echo(f"{file}: valid ({counts})")


@app.command()
def apply(
    file: FileArg,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="print the plan, change nothing")
    ] = False,
    keep: Annotated[
        bool, typer.Option("--keep", help="keep resources the file leaves out")
    ] = False,
) -> None:
    """Make the stored configuration equal the file (idempotent); prints the plan."""
    from pingtree.config.files import load_file

    try:
        # With --keep the file may refer to stored resources: checked together with them.
        document = load_file(file, references=not keep, allow=Settings().buyer_allowlist)
        plan = asyncio.run(_apply(document, dry_run=dry_run, prune=not keep))
    except ConfigError as exc:
        _fail(str(exc))
        return
    for line in plan.lines():
        typer.echo(line)
    for publisher, key in plan.new_api_keys.items():
        typer.echo(f"API key for publisher {publisher} (shown once): {key}")
    if dry_run:
        typer.echo("(dry run: nothing changed)")


async def _apply(document: ConfigDocument, *, dry_run: bool, prune: bool) -> Plan:
    from pingtree.clock import SystemClock
    from pingtree.config.history import Source
    from pingtree.config.store import apply_document, with_stored
    from pingtree.storage.db import create_engine, sessions
    from pingtree.storage.migrate import upgrade

    settings = Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    await upgrade(settings.database)
    engine = create_engine(settings.database)
    try:
        async with sessions(engine)() as session, session.begin():
            allow = settings.buyer_allowlist
            if not prune:
                document = await with_stored(session, document, allow=allow)
            return await apply_document(
                session,
                document,
                now=SystemClock().now(),
                prune=prune,
                dry_run=dry_run,
                allow=allow,
                keys=settings.secret_keys,
                actor=_cli_actor(),
                source=Source.CLI,
            )
    finally:
        await engine.dispose()


def _cli_actor() -> str:
    """Who runs a CLI command, for the audit trail: the operating system's user."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no such user in the password database (containers)
        return "cli:unknown"


@app.command()
def export() -> None:
    """Print the stored configuration as YAML (API keys only as hashes)."""
    from pingtree.config.files import dump_document

    typer.echo(dump_document(asyncio.run(_load())), nl=False)


async def _load() -> ConfigDocument:
    from pingtree.config.store import load_document
    from pingtree.storage.db import create_engine, sessions
    from pingtree.storage.migrate import upgrade

    settings = Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    await upgrade(settings.database)  # a fresh data dir exports an empty configuration
    engine = create_engine(settings.database)
    try:
        async with sessions(engine)() as session:
            document, _ = await load_document(session)
            return document
    finally:
        await engine.dispose()


async def _in_transaction(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    from pingtree.storage.db import create_engine, sessions
    from pingtree.storage.migrate import upgrade

    settings = Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    await upgrade(settings.database)
    engine = create_engine(settings.database)
    try:
        async with sessions(engine)() as session, session.begin():
            return await work(session)
    finally:
        await engine.dispose()


def _operators(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    try:
        return asyncio.run(_in_transaction(work))
    except OperatorError as exc:
        _fail(str(exc))
        raise AssertionError("unreachable") from exc


def _now() -> datetime:
    from pingtree.clock import SystemClock

    return SystemClock().now()


@operators_app.command("create")
def operators_create(
    name: NameArg,
    role: Annotated[
        Role,
        typer.Option(
            help="admin: all; operator: configuration, review, suppression; analyst: read only"
        ),
    ],
) -> None:
    """Add an operator; its token is printed once."""
    from pingtree.operators import repository

    token = _operators(lambda s: repository.create(s, name, role, now=_now(), actor=_cli_actor()))
    typer.echo(f"operator {name} ({role.value}) created")
    typer.echo(f"token for operator {name} (shown once): {token}")


@operators_app.command("list")
def operators_list() -> None:
    """Every operator: role, status and when its token was made, rotated or revoked."""
    from pingtree.operators import repository

    found = _operators(repository.all_operators)
    if not found:
        typer.echo("no operators (create one with `pingtree operators create NAME --role R`)")
    for op in found:
        status = "active" if op.active else f"revoked {op.revoked_at:%Y-%m-%d %H:%M}"
        rotated = f", rotated {op.rotated_at:%Y-%m-%d %H:%M}" if op.rotated_at else ""
        typer.echo(
            f"{op.name}\t{op.role.value}\t{status}\tcreated {op.created_at:%Y-%m-%d %H:%M}{rotated}"
        )


@operators_app.command("rotate")
def operators_rotate(name: NameArg) -> None:
    """Give an operator a new token; the old one and its console sessions stop at once."""
    from pingtree.operators import repository

    token = _operators(lambda s: repository.rotate(s, name, now=_now(), actor=_cli_actor()))
    typer.echo(f"token for operator {name} (shown once): {token}")


@operators_app.command("revoke")
def operators_revoke(name: NameArg) -> None:
    """Stop an operator's token and console sessions for good."""
    from pingtree.operators import repository

    _operators(lambda s: repository.revoke(s, name, now=_now(), actor=_cli_actor()))
    typer.echo(f"operator {name} revoked")


secrets_app = typer.Typer(
    help="Buyer secrets: keys, encryption, rotation.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.add_typer(secrets_app, name="secrets")


@secrets_app.command("generate-key")
def generate_key() -> None:
    """Print a new key for PINGTREE_SECRET_KEY."""
    from pingtree.credentials import SecretKeys

    typer.echo(SecretKeys.generate())


@secrets_app.command("encrypt")
def encrypt() -> None:
    """Read a value on stdin (kept out of shell history); print it as enc:... for a config."""
    import sys

    keys = Settings().secret_keys
    if keys is None:
        _fail("PINGTREE_SECRET_KEY is not set (`pingtree secrets generate-key` makes one)")
        return
    if sys.stdin.isatty():
        value = typer.prompt("value", hide_input=True)
    else:
        value = sys.stdin.read().removesuffix("\n")
    if not value:
        _fail("no value given on stdin")
    typer.echo(keys.seal(value))


@secrets_app.command("rotate-key")
def rotate_key() -> None:
    """Encrypt every stored secret again with the first key of PINGTREE_SECRET_KEY.

    Put the new key first and keep the old one after it (new,old), run this, then drop the
    old key.
    """
    from pingtree.credentials.keys import SecretKeyError

    keys = Settings().secret_keys
    if keys is None:
        _fail("PINGTREE_SECRET_KEY is not set")
        return
    try:
        changed = asyncio.run(_in_transaction(lambda s: _rotate(s, keys)))
    except SecretKeyError as exc:
        _fail(str(exc))
        return
    typer.echo(f"secrets of {changed} campaign(s) encrypted with the newest key")


async def _rotate(session: AsyncSession, keys: SecretKeys) -> int:
    from pingtree.config.history import Source
    from pingtree.config.store import rotate_secrets

    return await rotate_secrets(session, keys, now=_now(), actor=_cli_actor(), source=Source.CLI)


def _campaign(name: str, config: Path | None) -> tuple[Campaign, Vertical]:
    """A campaign and its vertical from a configuration file, or the stored configuration."""
    from pingtree.config.files import load_file

    try:
        document = (
            load_file(config, allow=Settings().buyer_allowlist)
            if config is not None
            else asyncio.run(_load())
        )
    except ConfigError as exc:
        _fail(str(exc))
        raise AssertionError("unreachable") from exc
    where = str(config) if config is not None else "the stored configuration"
    campaign = next((c for c in document.campaigns if c.name == name), None)
    if campaign is None:
        known = ", ".join(c.name for c in document.campaigns) or "none"
        _fail(f"no campaign {name!r} in {where} (campaigns: {known})")
        raise AssertionError("unreachable")
    vertical = next((v for v in document.verticals if v.name == campaign.vertical), None)
    if vertical is None:
        _fail(f"campaign {name!r} refers to vertical {campaign.vertical!r}, not in {where}")
        raise AssertionError("unreachable")
    return campaign, vertical


@buyers_app.command("try")
def buyers_try(
    campaign: CampaignArg,
    lead: Annotated[
        Path | None,
        typer.Option(help="a JSON file of lead fields; default: the vertical's example lead"),
    ] = None,
    config: ConfigOption = None,
    timeout: Annotated[
        float | None, typer.Option(help="seconds to wait per request; default the campaign's")
    ] = None,
) -> None:
    """Send a test lead to a campaign (test URL, or its URL with the test header) and show
    the request, the raw answer and how each response rule read it."""
    from pingtree.delivery.trial import example_lead, format_step, send_test_lead

    found, vertical = _campaign(campaign, config)
    fields: dict[str, Any]
    if lead is None:
        fields = example_lead(vertical)
        typer.echo(f"test lead: the example lead of vertical {vertical.name}")
    else:
        try:
            fields = json.loads(lead.read_text())
        except (OSError, ValueError) as exc:
            _fail(f"{lead}: cannot read a JSON object of lead fields: {exc}")
            return
        if not isinstance(fields, dict):
            _fail(f"{lead}: must hold a JSON object of lead fields")
            return
        typer.echo(f"test lead: {lead}")
    seconds = timeout if timeout is not None else found.delivery.timeout_ms / 1000
    from pingtree.credentials import SecretResolver

    settings = Settings()
    steps = asyncio.run(
        send_test_lead(
            found,
            vertical,
            fields,
            timeout=seconds,
            allow=settings.buyer_allowlist,
            secrets=SecretResolver(settings.secret_keys),
        )
    )
    for step in steps:
        for line in format_step(step, found):
            typer.echo(line)


@rules_app.command("check")
def rules_check(
    campaign: CampaignArg,
    answer: Annotated[Path, typer.Option(help="a file holding the saved answer's body")],
    status: Annotated[int, typer.Option(min=100, max=999, help="the answer's HTTP status")] = 200,
    header: Annotated[
        list[str] | None, typer.Option(help="an answer header, 'Name: value'; repeatable")
    ] = None,
    kind: Annotated[
        str, typer.Option(help="read it as the answer to the campaign's post or ping")
    ] = "post",
    config: ConfigOption = None,
) -> None:
    """Show how a campaign's response rules read a saved answer (nothing is sent)."""
    from pingtree.delivery.trial import format_step, read_saved

    if kind not in ("post", "ping"):
        _fail(f"--kind must be post or ping, not {kind!r}")
    headers: list[tuple[str, str]] = []
    for raw in header or []:
        name, sep, value = raw.partition(":")
        if not sep or not name.strip():
            _fail(f"--header {raw!r}: write it as 'Name: value'")
        headers.append((name.strip(), value.strip()))
    try:
        body = answer.read_bytes().decode("utf-8", "replace")
    except OSError as exc:
        _fail(f"{answer}: cannot read: {exc.strerror}")
        return
    found, _ = _campaign(campaign, config)
    from pingtree.buyers.model import Exchange

    try:
        step = read_saved(found, Exchange(kind), status=status, headers=headers, body=body)
    except ValueError as exc:
        _fail(str(exc))
        return
    for line in format_step(step, found):
        typer.echo(line)


@app.command()
def spec(
    publisher: Annotated[str, typer.Argument(help="the publisher's name")],
    vertical: Annotated[str | None, typer.Option("--vertical", help="only this vertical")] = None,
    base_url: Annotated[
        str, typer.Option("--base-url", help="where publishers reach pingtree")
    ] = "https://pingtree.example",
    config: ConfigOption = None,
) -> None:
    """Print a publisher's posting spec (Markdown), generated from the configuration."""
    from pingtree.config.files import load_file
    from pingtree.config.posting_spec import NoSpec, posting_spec

    try:
        # Nothing is sent: the buyer destinations need no check here.
        document = load_file(config, allow=None) if config is not None else asyncio.run(_load())
    except ConfigError as exc:
        _fail(str(exc))
        return
    try:
        text = posting_spec(
            document,
            publisher,
            vertical=vertical,
            base_url=base_url,
            ping_ttl_s=Settings().inbound_ping_ttl_s,
        )
    except NoSpec as exc:
        _fail(str(exc))
        return
    typer.echo(text, nl=False)


@app.command()
def schema() -> None:
    """Print the JSON Schema of a configuration file."""
    from pingtree.config.files import json_schema

    typer.echo(json.dumps(json_schema(), indent=2))


@app.command("buyers-sim")
def buyers_sim(
    config: Annotated[Path, typer.Option(help="simulator YAML")] = Path("examples/simulator.yaml"),
    port: Annotated[int | None, typer.Option(help="override the file's port")] = None,
) -> None:
    """Serve simulated buyer endpoints on 127.0.0.1."""
    from pingtree.simulator import SimulatorConfigError, load_config, serve

    try:
        sim = load_config(config)
    except SimulatorConfigError as exc:
        _fail(str(exc))
        return
    if port is not None:
        sim = sim.model_copy(update={"port": port})
    serve(sim)


@app.command()
def demo(
    config: Annotated[Path, typer.Option(help="demo setup")] = Path("examples/demo.yaml"),
    simulator: Annotated[Path, typer.Option(help="simulated buyers")] = Path(
        "examples/simulator.yaml"
    ),
) -> None:
    """Migrate, load the demo setup, start the buyer simulator beside the app, and serve."""
    from pingtree.demo import run_demo

    try:
        run_demo(config, simulator, Settings())
    except ConfigError as exc:
        _fail(str(exc))


@app.command()
def call(
    url: Annotated[str, typer.Option(help="the running pingtree")] = "http://127.0.0.1:8000",
    to: Annotated[str, typer.Option(help="the tracking number called")] = "+18005550100",
    caller: Annotated[str, typer.Option("--from", help="the caller's number")] = "+14153927261",
    digits: Annotated[
        list[str] | None, typer.Option(help="keys for each IVR question, in order")
    ] = None,
    agents: Annotated[Path, typer.Option(help="the buyers' simulated agents")] = Path(
        "examples/agents.yaml"
    ),
) -> None:
    """Place a simulated phone call (the telephony simulator plays the provider) and print
    its transcript. Signs with PINGTREE_TELEPHONY_AUTH_TOKEN (the demo's by default)."""
    from pingtree.demo import DEFAULT_TELEPHONY_TOKEN
    from pingtree.simulator.phone_call import AgentsFileError, load_agents, place_call

    try:
        dialed = load_agents(agents)
    except AgentsFileError as exc:
        _fail(str(exc))
        return
    token = Settings().telephony_auth_token or DEFAULT_TELEPHONY_TOKEN
    keys = digits if digits is not None else ["94107", "1"]
    transcript = asyncio.run(place_call(url, token, dialed, caller=caller, number=to, digits=keys))
    typer.echo(transcript.render())
    typer.echo(f"\nthe call's story: {url}/console/calls/{transcript.call_sid}")


uncertain_app = typer.Typer(
    help="Posts a crash left uncertain (sent, answer never recorded): list and resolve them.",
    no_args_is_help=True,
)
app.add_typer(uncertain_app, name="uncertain")


@uncertain_app.command("list")
def uncertain_list() -> None:
    """Every uncertain post, oldest first: ask each buyer whether it took the lead."""
    from pingtree.recovery import service as recovery

    async def run() -> None:
        async with _recovery_parts() as (engine, catalog, _ledger):
            posts = await recovery.uncertain_posts(engine=engine, catalog=catalog)
        for p in posts:
            typer.echo(
                f"{p.reservation_id}  lead {p.lead_id}  {p.campaign} ({p.buyer or '?'})"
                f"  {p.price}  posted {p.posted_at.isoformat()}"
            )
        typer.echo(f"{len(posts)} uncertain post(s)")

    asyncio.run(run())


@uncertain_app.command("resolve")
def uncertain_resolve(
    reservation_id: Annotated[str, typer.Argument(help="the id `pingtree uncertain list` shows")],
    sold: Annotated[
        bool, typer.Option("--sold/--not-sold", help="whether the buyer took the lead")
    ],
) -> None:
    """Book an uncertain post as a sale (--sold) or give its cap room back (--not-sold)."""
    from pingtree.intake.errors import IntakeRefused
    from pingtree.recovery import service as recovery

    async def run() -> str:
        async with _recovery_parts() as (engine, catalog, ledger):
            done = await recovery.resolve(
                engine=engine,
                ledger=ledger,
                catalog=catalog,
                reservation_id=reservation_id,
                sold=sold,
                actor=_cli_actor(),
                now=_now(),
            )
        return f"lead {done.lead_id} is now {done.lead_status}"

    try:
        typer.echo(asyncio.run(run()))
    except IntakeRefused as exc:
        _fail(exc.reasons[0].message)


@contextlib.asynccontextmanager
async def _recovery_parts() -> AsyncIterator[tuple[AsyncEngine, Catalog, SqlCapLedger]]:
    from pingtree.clock import SystemClock
    from pingtree.config.catalog import Catalog
    from pingtree.config.store import load_document
    from pingtree.sales.ledger import SqlCapLedger
    from pingtree.storage.db import create_engine, sessions

    settings = Settings()
    engine = create_engine(settings.database)
    try:
        async with sessions(engine)() as session:
            document, version = await load_document(session)
        yield engine, Catalog.build(document, version), SqlCapLedger(engine, SystemClock())
    finally:
        await engine.dispose()


audit_app = typer.Typer(
    help="The audit trail: seal events into the hash chain, verify it, anchor its head, "
    "export a lead's evidence.",
    no_args_is_help=True,
)
app.add_typer(audit_app, name="audit")
AnchorsOption = Annotated[
    Path | None,
    typer.Option("--anchors", help="an anchors file (`pingtree audit anchor --file`) to check"),
]


@contextlib.asynccontextmanager
async def _database() -> AsyncIterator[AsyncEngine]:
    from pingtree.storage.db import create_engine

    engine = create_engine(Settings().database)
    try:
        yield engine
    finally:
        await engine.dispose()


@audit_app.command("verify")
def audit_verify(anchors: AnchorsOption = None) -> None:
    """Recompute the chain from its first link; name the first broken one (exit 1)."""
    from pingtree.audit.anchors import AnchorError, read
    from pingtree.audit.verify import verify

    try:
        taken = read(anchors) if anchors is not None else []
    except AnchorError as exc:
        _fail(str(exc))
        return

    async def run() -> list[str]:
        async with _database() as engine:
            verdict = await verify(engine, anchors=taken)
        if not verdict.intact:
            _fail("\n".join(verdict.lines()))
        return verdict.lines()

    for line in asyncio.run(run()):
        typer.echo(line)


@audit_app.command("seal")
def audit_seal() -> None:
    """Seal the events not yet in the chain now (the server does it every audit_seal_s)."""
    from pingtree import audit

    async def run() -> tuple[int, audit.Head]:
        async with _database() as engine:
            sealed = await audit.seal(engine, now=_now())
            async with engine.connect() as conn:
                return sealed, await audit.head(conn)

    sealed, top = asyncio.run(run())
    typer.echo(f"{sealed} event(s) sealed; head {top.seq} {top.hash}")


@audit_app.command("anchor")
def audit_anchor(
    file: Annotated[
        Path | None, typer.Option("--file", help="also append the anchor to this file")
    ] = None,
) -> None:
    """Print the chain's head as an anchor (seal first); keep it away from the database."""
    from pingtree import audit
    from pingtree.audit import anchors

    async def run() -> audit.Head:
        async with _database() as engine:
            await audit.seal(engine, now=_now())
            async with engine.connect() as conn:
                return await audit.head(conn)

    top = asyncio.run(run())
    taken = anchors.anchor(top.seq, top.hash, _now())
    if file is not None:
        anchors.write(file, taken)
    typer.echo(taken.line())


@audit_app.command("evidence")
def audit_evidence(
    lead_id: Annotated[str, typer.Argument(help="the lead's id")],
    out: Annotated[
        Path | None, typer.Option("--out", help="write the JSON here instead of stdout")
    ] = None,
) -> None:
    """One lead's evidence as JSON: timeline, consent certificate, audit events and links."""
    from pingtree.leads.evidence import evidence
    from pingtree.storage.db import sessions

    async def run() -> str | None:
        async with _database() as engine, sessions(engine)() as session:
            found = await evidence(session, lead_id, now=_now())
        return found.model_dump_json(indent=2) if found is not None else None

    text = asyncio.run(run())
    if text is None:
        _fail(f"no lead {lead_id!r}")
        return
    if out is not None:
        out.write_text(text + "\n")
        typer.echo(f"evidence of lead {lead_id} written to {out}")
    else:
        typer.echo(text)


def main() -> None:
    """Entry point of the `pingtree` script."""
    from pingtree.logs import configure

    try:
        log_format = Settings().log_format
    except ValueError:  # a bad setting is reported by the command that reads it
        log_format = "text"
    configure(log_format)
    app()


if __name__ == "__main__":
    main()
