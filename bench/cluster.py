"""Processes for the scale and soak benchmarks, all on 127.0.0.1.

The buyer simulator (`pingtree buyers-sim`), pingtree servers (`pingtree serve`, one or
several workers) on a PostgreSQL schema of their own and a Redis key prefix of their own,
a round-robin balancer in front of several servers, the load, and the database's own
count of what happened, to check nothing was lost and every rule held across processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import psycopg
import yaml

from machine import default_postgres_url

BIN = Path(sys.executable).parent
PINGTREE = str(BIN / "pingtree")
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
ADMIN_TOKEN = "bench-admin-token"
API_KEY = "bench-key-scale-00000000000"
EVEN = ("e0", "e1", "e2", "e3")
# (state, ZIP, area code) that agree, so that screening sees consistent leads.
PLACES = [
    ("CA", "90012", "213"),
    ("TX", "75201", "214"),
    ("NY", "10001", "212"),
    ("FL", "33130", "305"),
    ("IL", "60601", "312"),
]
STATES = [state for state, _, _ in PLACES]


def redis_url() -> str:
    """The Redis to use: PINGTREE_BENCH_REDIS_URL, else the test one, else local."""
    return (
        os.environ.get("PINGTREE_BENCH_REDIS_URL")
        or os.environ.get("PINGTREE_TEST_REDIS_URL")
        or DEFAULT_REDIS
    )


# --- the setup: simulated buyers and the engine's configuration ---------------------------


def simulator_config(port: int) -> dict[str, Any]:
    """Buyers that take every lead in 20-50 ms: `capped`, the even tier's e0-e3, and five
    bidders b0-b4 (bid on 90% of pings, accept 90% of posts)."""
    latency = {"latency_ms_min": 20, "latency_ms_max": 50}
    buyers = [
        {"name": n, "bid_min": "10.00", "bid_max": "10.00"} | latency for n in ("capped", *EVEN)
    ]
    buyers += [
        {"name": f"b{i}", "bid_min": "5.00", "bid_max": "40.00", "no_bid_rate": 0.1}
        | {"accept_rate": 0.9, "seed": 100 + i}
        | latency
        for i in range(5)
    ]
    return {"host": "127.0.0.1", "port": port, "buyers": buyers, "max_received": 1000}


JSON_PING = {
    "rules": [
        {"source": "json", "path": "$.status", "equals": "bid", "outcome": "accepted"},
        {"source": "json", "path": "$.status", "equals": "no_bid", "outcome": "rejected"},
    ],
    "price": {"source": "json", "path": "$.price"},
    "reference": {"source": "json", "path": "$.bid_id"},
}
JSON_POST = {
    "rules": [
        {"source": "json", "path": "$.status", "equals": "accepted", "outcome": "accepted"},
        {"source": "json", "path": "$.status", "equals": "rejected", "outcome": "rejected"},
    ],
    "price": {"source": "json", "path": "$.price"},
    "reference": {"source": "json", "path": "$.lead_id"},
}


def engine_config(sim: str, *, tree: str, cap: int) -> dict[str, Any]:
    """One vertical (dedup on, 24 h), one publisher, and one of two trees.

    rules: a priority tier with one campaign capped at `cap` a day, then an even tier over
    e0-e3 (every lead sells; caps, dedup and rotation can be checked exactly).
    auction: a ping_post tier over b0-b4, then the even tier (the soak's mix).
    """

    def campaign(name: str, *, ping: bool = False, **extra: Any) -> dict[str, Any]:
        delivery: dict[str, Any] = {
            "timeout_ms": 1000,
            "post": {"url": f"{sim}/buyers/{name}/post", "response": JSON_POST},
        }
        price: dict[str, Any] = {"type": "fixed", "amount": "10.00"}
        if ping:
            delivery["ping"] = {"url": f"{sim}/buyers/{name}/ping", "response": JSON_PING}
            price = {"type": "bid", "floor": "1.00", "max_price": "100.00"}
        return (
            {"name": name, "buyer": name, "vertical": "bench", "price": price}
            | {"delivery": delivery}
            | extra
        )

    campaigns = [campaign("capped", caps={"daily": cap})]
    campaigns += [campaign(n) for n in EVEN]
    campaigns += [campaign(f"b{i}", ping=True, caps={"daily": 10_000_000}) for i in range(5)]
    even = {"name": "even", "flow": "even", "campaigns": [{"campaign": n} for n in EVEN]}
    first = (
        {"name": "capped", "flow": "priority", "campaigns": [{"campaign": "capped"}]}
        if tree == "rules"
        else {
            "name": "auction",
            "flow": "ping_post",
            "floor": "1.00",
            "campaigns": [{"campaign": f"b{i}"} for i in range(5)],
        }
    )
    return {
        "verticals": [
            {
                "name": "bench",
                "fields": [
                    {"name": "first_name", "required": True, "pii": True},
                    {"name": "email", "type": "email", "required": True, "pii": True},
                    {"name": "phone", "type": "phone", "required": True, "pii": True},
                    {"name": "zip", "type": "zip", "required": True},
                    {"name": "state", "type": "state", "required": True},
                    {"name": "age", "type": "integer", "required": True, "min": 18, "max": 100},
                ],
                "screening": {"checks": [], "dedup": {"window_hours": 24}},
            }
        ],
        "publishers": [
            {
                "name": "bench",
                "api_key": API_KEY,
                "payout": {"type": "revenue_share", "percent": 70},
                "rate_limit": "100000/second",
            }
        ],
        "buyers": [{"name": c["name"]} for c in campaigns],
        "campaigns": campaigns,
        "trees": [
            {"name": "main", "vertical": "bench", "max_processing_ms": 5000, "tiers": [first, even]}
        ],
        "routes": [{"publisher": "bench", "vertical": "bench", "tree": "main"}],
    }


_phones = itertools.count(1)


def person(run: str, i: int) -> dict[str, Any]:
    """A valid lead of a person of its own: unique email and phone, ZIP and area code agree."""
    state, zip_code, area = PLACES[i % len(PLACES)]
    n = next(_phones)
    exchange, line = 200 + (n // 10000) % 700, n % 10000
    return {
        "first_name": "Dana",
        "email": f"dana.{run}.{i}@example.com",
        "phone": f"({area}) {exchange:03d}-{line:04d}",
        "zip": zip_code,
        "state": state,
        "age": 21 + i % 60,
    }


# --- processes --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def tail(log: Path, lines: int = 30) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def start(cmd: list[str], env: dict[str, str], cwd: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(cmd, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop a process this script started (SIGTERM, then SIGKILL after 15 s)."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


async def wait_http(
    url: str, proc: subprocess.Popen[bytes], log: Path, limit_s: float = 180
) -> None:
    """Poll url until it answers 200; fail with the process log if it died or never did."""
    deadline = time.monotonic() + limit_s
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"process exited ({proc.returncode}):\n{tail(log)}")
            with contextlib.suppress(aiohttp.ClientError, OSError):
                async with session.get(url) as resp:
                    if resp.status == 200:
                        return
            await asyncio.sleep(0.2)
    raise RuntimeError(f"{url} did not come up in {limit_s:.0f}s:\n{tail(log)}")


def tree_pids(pid: int) -> list[int]:
    """pid and its descendants (`serve --workers N` forks its workers)."""
    try:
        kids = [int(k) for k in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return [pid]
    return [pid, *(grand for kid in kids for grand in tree_pids(kid))]


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of these processes and their live children (0 off Linux)."""
    total = 0.0
    for one in (p for pid in pids for p in tree_pids(pid)):
        try:
            stat = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        total += (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")
    return total


def rss_mib(pids: list[int]) -> float:
    """Resident memory of these processes and their children, MiB (VmRSS)."""
    total_kib = 0
    for one in (p for pid in pids for p in tree_pids(pid)):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{one}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kib += int(line.split()[1])
    return total_kib / 1024


class Simulator:
    """`pingtree buyers-sim` with simulator_config(), for the whole run."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    async def __aenter__(self) -> Simulator:
        config = self.work / "simulator.yaml"
        config.write_text(yaml.safe_dump(simulator_config(self.port), sort_keys=False))
        log = self.work / "simulator.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("PINGTREE_")}
        cmd = [PINGTREE, "buyers-sim", "--config", str(config), "--port", str(self.port)]
        self.proc = start(cmd, env, self.work, log)
        await wait_http(f"{self.url}/health", self.proc, log)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.proc is not None:
            stop(self.proc)


# --- one deployment: a schema, a Redis prefix, servers, maybe a balancer ---------------------


def plain_pg(url: str) -> str:
    """A libpq URL (no SQLAlchemy driver, no query) from a SQLAlchemy one."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme.split("+")[0], parts.netloc, parts.path, "", ""))


@dataclass
class Deployment:
    """pingtree servers sharing one PostgreSQL schema and one Redis prefix.

    servers: how many `pingtree serve` processes (each on its own port); workers: the
    worker processes each runs. Several servers get a round-robin balancer in front.
    """

    name: str
    work: Path
    sim: str
    tree: str = "rules"
    cap: int = 50
    servers: int = 1
    workers: int = 1
    schema: str = field(init=False)
    prefix: str = field(init=False)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    base: str = ""
    settings: dict[str, str] = field(default_factory=dict)
    """More of the servers' PINGTREE_* settings (bench/engine.py's app_settings)."""

    def __post_init__(self) -> None:
        tag = uuid.uuid4().hex[:8]
        self.schema = f"bench_scale_{tag}"
        self.prefix = f"bench-scale-{tag}"

    @property
    def database_url(self) -> str:
        parts = urlsplit(default_postgres_url())
        query = f"options=-csearch_path%3D{self.schema}"
        return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PINGTREE_")}
        env |= {
            "PINGTREE_DATA_DIR": str(self.work / f"data-{self.name}"),
            "PINGTREE_DATABASE_URL": self.database_url,
            "PINGTREE_REDIS_URL": redis_url(),
            "PINGTREE_RATELIMIT_PREFIX": self.prefix,
            "PINGTREE_ADMIN_TOKEN": ADMIN_TOKEN,
            "PINGTREE_BUYER_URL_ALLOW": "127.0.0.1",
        }
        return env | self.settings

    @property
    def app_pids(self) -> list[int]:
        return [p.pid for p in self.procs[: self.servers]]

    async def __aenter__(self) -> Deployment:
        with psycopg.connect(
            plain_pg(default_postgres_url()), autocommit=True, connect_timeout=5
        ) as c:
            c.execute(f"CREATE SCHEMA {self.schema}")
        try:
            await self._start()
        except BaseException:
            await self.__aexit__()
            raise
        return self

    async def _start(self) -> None:
        env = self.env()
        config = self.work / f"engine-{self.name}.yaml"
        config.write_text(
            yaml.safe_dump(engine_config(self.sim, tree=self.tree, cap=self.cap), sort_keys=False)
        )
        applied = subprocess.run(
            [PINGTREE, "apply", str(config)], env=env, cwd=self.work, capture_output=True, text=True
        )
        if applied.returncode != 0:
            raise RuntimeError(f"pingtree apply failed:\n{applied.stdout}\n{applied.stderr}")
        ports = [free_port() for _ in range(self.servers)]
        for i, port in enumerate(ports):  # one after the other: each migrates at start
            log = self.work / f"app-{self.name}-{i}.log"
            cmd = [PINGTREE, "serve", "--port", str(port), "--workers", str(self.workers)]
            self.procs.append(start(cmd, env, self.work, log))
            await wait_http(f"http://127.0.0.1:{port}/readyz", self.procs[-1], log)
        self.base = f"http://127.0.0.1:{ports[0]}"
        if self.servers > 1:
            port = free_port()
            upstreams = [f"http://127.0.0.1:{p}" for p in ports]
            log = self.work / f"balancer-{self.name}.log"
            cmd = [
                sys.executable,
                str(Path(__file__).parent / "balancer.py"),
                str(port),
                *upstreams,
            ]
            self.procs.append(start(cmd, env, self.work, log))
            self.base = f"http://127.0.0.1:{port}"
            await wait_http(f"{self.base}/readyz", self.procs[-1], log)

    async def __aexit__(self, *exc: object) -> None:
        for proc in reversed(self.procs):
            stop(proc)
        with (
            contextlib.suppress(psycopg.Error),
            psycopg.connect(
                plain_pg(default_postgres_url()), autocommit=True, connect_timeout=5
            ) as c,
        ):
            c.execute(f"DROP SCHEMA IF EXISTS {self.schema} CASCADE")
        with contextlib.suppress(Exception):
            import redis

            client = redis.Redis.from_url(redis_url())
            keys = list(client.scan_iter(match=f"{self.prefix}*"))
            if keys:
                client.delete(*keys)
            client.close()

    def rotation_turns(self, tier: str) -> int:
        """How many leads took a turn of the tier's shared rotation counter (Redis)."""
        import redis

        client = redis.Redis.from_url(redis_url())
        try:
            value = client.get(f"{self.prefix}:rotation:{tier}")
        finally:
            client.close()
        return int(value) if value is not None else 0

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """Rows of one statement in the deployment's schema."""
        with psycopg.connect(
            plain_pg(default_postgres_url()), options=f"-csearch_path={self.schema}"
        ) as c:
            return list(c.execute(sql, params).fetchall())


# --- the load ---------------------------------------------------------------------------------


@dataclass
class Answer:
    """One lead as the client saw it."""

    sent_at: float  # time.monotonic()
    latency_ms: float
    http: int
    status: str
    lead_id: str | None
    reasons: list[str]


def client(concurrency: int) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(limit=concurrency * 4, limit_per_host=0)
    return aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30))


async def post_lead(
    session: aiohttp.ClientSession,
    base: str,
    fields: dict[str, Any],
    headers: dict[str, str] | None = None,
) -> Answer:
    """POST one lead; the answer whatever it is (a transport error is http 0)."""
    sent = time.monotonic()
    t0 = time.perf_counter()
    try:
        async with session.post(
            f"{base}/api/v1/leads",
            json={"vertical": "bench", "fields": fields},
            headers={"X-API-Key": API_KEY, **(headers or {})},
        ) as resp:
            data = await resp.json(content_type=None)
            code = resp.status
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        return Answer(sent, (time.perf_counter() - t0) * 1000, 0, type(exc).__name__, None, [])
    latency = (time.perf_counter() - t0) * 1000
    reasons = [r.get("code", "") for r in data.get("reasons") or []]
    status = str(data.get("status")) if code == 200 else f"http_{code}"
    return Answer(sent, latency, code, status, data.get("lead_id"), reasons)


async def closed_loop(
    n: int, concurrency: int, one: Callable[[int], Awaitable[list[Answer]]]
) -> tuple[list[Answer], float]:
    """Run one(i) for i < n, `concurrency` at a time; every answer and the wall seconds."""
    counter = itertools.count()
    answers: list[Answer] = []

    async def worker() -> None:
        while (i := next(counter)) < n:
            answers.extend(await one(i))

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return answers, time.perf_counter() - started


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (linear interpolation); nan when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def table(head: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines)
