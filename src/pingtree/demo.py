"""`make run`: the demo setup, the buyer simulator beside the app, and a curl to try."""

from __future__ import annotations

import asyncio
from pathlib import Path

import uvicorn

from pingtree import audit
from pingtree.app import create_app
from pingtree.clock import SystemClock
from pingtree.config.files import load_file
from pingtree.config.store import apply_document
from pingtree.settings import Settings
from pingtree.simulator import SimulatorConfig, load_config, start_simulator
from pingtree.storage.db import create_engine, sessions
from pingtree.storage.migrate import upgrade

DEMO_PUBLISHER = "demo-publisher"
DEFAULT_DEMO_KEY = "demo-key-0000000000000000"
DEFAULT_ADMIN_TOKEN = "demo-admin-token"
DEFAULT_TELEPHONY_TOKEN = "demo-telephony-token"
"""Signs the simulated provider's webhooks in the demo; a real install sets its provider's."""
DEMO_AGENTS = Path("examples/agents.yaml")
DEFAULT_SECRET_KEY = "ZGVtby1zZWNyZXQta2V5LW5vdC1mb3ItcHJvZHVjdGk="
"""Encrypts the demo buyers' credentials at rest; a real install sets its own."""


def run_demo(config: Path, simulator: Path, settings: Settings) -> None:
    """Blocks serving the demo until interrupted."""
    asyncio.run(_demo(config, simulator, settings))


async def _demo(config: Path, simulator: Path, settings: Settings) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    sim_config = load_config(simulator)
    settings = Settings.model_validate(
        {
            **settings.model_dump(),
            "admin_token": settings.admin_token or DEFAULT_ADMIN_TOKEN,
            "secret_key": settings.secret_key or DEFAULT_SECRET_KEY,
            "telephony_auth_token": settings.telephony_auth_token or DEFAULT_TELEPHONY_TOKEN,
            "buyer_url_allow": _with_simulator(settings.buyer_url_allow, sim_config),
        }
    )
    await upgrade(settings.database)
    key = settings.demo_api_key or DEFAULT_DEMO_KEY
    document = load_file(config, allow=settings.buyer_allowlist)
    document = document.model_copy(
        update={
            "publishers": [
                p.model_copy(update={"api_key": key, "api_key_sha256": None})
                if p.name == DEMO_PUBLISHER
                else p
                for p in document.publishers
            ]
        }
    )
    engine = create_engine(settings.database)
    async with sessions(engine)() as session, session.begin():
        plan = await apply_document(
            session,
            document,
            now=SystemClock().now(),
            allow=settings.buyer_allowlist,
            keys=settings.secret_keys,
            actor=audit.SYSTEM,
        )
    await engine.dispose()

    sim = await start_simulator(sim_config)
    base = f"http://{settings.host}:{settings.port}"
    print("\n".join(plan.lines()))
    for publisher, new_key in plan.new_api_keys.items():
        print(f"API key for publisher {publisher} (shown once): {new_key}")
    print(
        f"""
pingtree demo is up.
  API and docs:      {base}/docs
  console:           {base}/console
  buyer simulator:   {sim.base_url}
  demo publisher key (X-API-Key): {key}
  admin token (Authorization: Bearer): {settings.admin_token}
  more operators:    pingtree operators create NAME --role admin|operator|analyst

Post a lead:
  curl -s {base}/api/v1/leads -H 'X-API-Key: {key}' -H 'Content-Type: application/json' \\
    -d @examples/lead.json

Place a simulated phone call (one is placed now, below):
  .venv/bin/pingtree call --digits 94107 --digits 1
""",
        flush=True,
    )
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings),
            host=settings.host,
            port=settings.port,
            log_level="warning",
            access_log=False,
        )
    )
    calling = asyncio.create_task(_first_call(server, base, settings))
    try:
        await server.serve()
    finally:
        calling.cancel()
        await sim.stop()


async def _first_call(server: uvicorn.Server, base: str, settings: Settings) -> None:
    """Once the server is up, one simulated call end to end, its transcript printed."""
    from pingtree.simulator.phone_call import load_agents, place_call

    while not server.started:  # uvicorn offers no event to wait on  # noqa: ASYNC110
        await asyncio.sleep(0.1)
    token = settings.telephony_auth_token or DEFAULT_TELEPHONY_TOKEN
    try:
        transcript = await place_call(
            base,
            token,
            load_agents(DEMO_AGENTS),
            caller="+14153927261",
            number="+18005550100",
            digits=["94107", "1"],
        )
    except Exception as exc:  # the demo serves on without it
        print(f"the demo call could not be placed: {exc}", flush=True)
        return
    print(f"A simulated call, end to end:\n{transcript.render()}", flush=True)
    print(f"  its story: {base}/console/calls/{transcript.call_sid}\n", flush=True)


def _with_simulator(allow: str, sim: SimulatorConfig) -> str:
    """The allowlist plus the simulator's own address: its buyers are on loopback."""
    host = sim.host if sim.host not in ("", "0.0.0.0", "::") else "127.0.0.1"  # noqa: S104
    entry = f"[{host}]:{sim.port}" if ":" in host else f"{host}:{sim.port}"
    return f"{allow},{entry}" if allow else entry
