"""Public operations endpoints: liveness, readiness and Prometheus figures.

/healthz: the process answers. /readyz: it can take leads (database and Redis reachable,
configuration loaded), else 503 naming each check that failed. /metrics: the Prometheus
text format; behind a bearer token when PINGTREE_METRICS_TOKEN is set.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Awaitable

from fastapi import APIRouter, Header
from fastapi.responses import JSONResponse, Response
from sqlalchemy import text

from pingtree.api.deps import RuntimeDep
from pingtree.failures import describe
from pingtree.metrics import render
from pingtree.runtime import Runtime

# Out of the OpenAPI document: probes and scrapers are configured, not generated from it.
router = APIRouter(tags=["operations"], include_in_schema=False)
OK = "ok"


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": OK}


@router.get("/readyz")
async def readyz(rt: RuntimeDep) -> JSONResponse:
    """200 when the database (and Redis, if configured) answer and the configuration is
    loaded; 503 naming each check that failed."""
    checks = await readiness(rt)
    ready = all(v == OK for v in checks.values())
    body = {"status": "ready" if ready else "not_ready", "checks": checks}
    return JSONResponse(body, status_code=200 if ready else 503)


async def readiness(rt: Runtime) -> dict[str, str]:
    """Each check's result: "ok", or what went wrong (no values, no secrets)."""
    timeout = rt.settings.readiness_timeout_s

    async def database() -> bool:
        async with rt.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return True

    database_check, redis_check = await asyncio.gather(
        _within(database(), timeout), _within(rt.rate_limits.reachable(), timeout)
    )
    checks = {"database": database_check}
    if rt.settings.redis_url:
        checks["redis"] = redis_check
    checks["config"] = OK if rt.config_loaded else "not loaded"
    return checks


async def _within(check: Awaitable[bool], timeout: float) -> str:
    try:
        answered = await asyncio.wait_for(check, timeout)
    except TimeoutError:
        return f"no answer within {timeout:g}s"
    except Exception as exc:
        return f"unreachable: {describe(exc)}"
    return OK if answered else "unreachable"


@router.get("/metrics")
async def metrics(rt: RuntimeDep, authorization: str | None = Header(default=None)) -> Response:
    """The engine's figures in the Prometheus text format."""
    token = rt.settings.metrics_token
    if token and not hmac.compare_digest(
        (authorization or "").encode(), f"Bearer {token}".encode()
    ):
        return JSONResponse(
            {"status": "unauthorized", "reason": "send the metrics token as a bearer"},
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )
    body, content_type = render(rt.figures)
    return Response(body, media_type=content_type)
