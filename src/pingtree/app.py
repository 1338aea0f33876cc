"""The FastAPI app: publisher API, admin API and console around one Runtime."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pingtree import heap
from pingtree.api import (
    admin,
    audit,
    calls,
    consent,
    health,
    leads,
    ledger,
    recovery,
    reports,
    returns,
    screening,
)
from pingtree.api.deps import StampArrival
from pingtree.api.storable import RefuseUnstorableUrl, refusal
from pingtree.config.errors import ConfigError, format_loc
from pingtree.console import mount_console
from pingtree.console.docs import mount_docs
from pingtree.failures import log_failure, stacks_on_sigusr1
from pingtree.intake.errors import IntakeRefused
from pingtree.logs import configure as configure_logs
from pingtree.runtime import Runtime
from pingtree.settings import Settings

log = logging.getLogger("pingtree")


def create_app(
    settings: Settings | None = None, runtime: Runtime | None = None, *, serving: bool = False
) -> FastAPI:
    """Build the app. Pass a runtime to share one (tests); else one is made from settings.

    serving: this process exists to serve the app (`pingtree serve`): once started, its
    heap is settled for short collector pauses (pingtree.heap) and the pauses are counted.
    """
    settings = settings or Settings()
    owned = runtime is None
    rt = runtime or Runtime(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if owned:
            await rt.start()
        if serving:
            heap.settle()
            rt.figures.pauses.start()
        app.state.runtime = rt
        try:
            yield
        finally:
            rt.figures.pauses.stop()
            if owned:
                await rt.stop()

    app = FastAPI(
        title="pingtree",
        version="0.1.0",
        summary="Lead intake, screening and real-time ping tree distribution.",
        lifespan=lifespan,
        docs_url=None,  # served below from local assets, not a CDN
        redoc_url=None,
        generate_unique_id_function=operation_id,
    )
    app.state.runtime = rt
    app.add_middleware(StampArrival, runtime=rt)
    app.add_middleware(RefuseUnstorableUrl)
    app.add_middleware(AnswerUnexpected)
    app.include_router(health.router)
    app.include_router(leads.router)
    app.include_router(calls.webhooks)
    app.include_router(calls.admin)  # before admin's /{kind} routes
    app.include_router(consent.router)
    app.include_router(screening.router)
    app.include_router(recovery.router)  # before admin's /{kind} routes
    app.include_router(audit.router)  # so is /audit
    app.include_router(reports.router)
    app.include_router(reports.own)
    app.include_router(returns.router)
    app.include_router(returns.admin)
    app.include_router(ledger.router)
    app.include_router(ledger.own)
    app.include_router(admin.router)
    mount_console(app)
    mount_docs(app)
    _install_error_handlers(app)
    return app


def operation_id(route: APIRoute) -> str:
    """The OpenAPI operationId: the endpoint function's name (post_lead, get_lead...)."""
    return route.name


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(IntakeRefused)
    async def refused(_: Request, exc: IntakeRefused) -> JSONResponse:
        return refusal(exc)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        reasons = []
        for err in exc.errors():
            loc = tuple(p for p in err["loc"] if p != "body")
            where = format_loc(loc)
            reasons.append(
                {
                    "code": "invalid_request",
                    "field": where or None,
                    "message": f"{where}: {err['msg']}",
                }
            )
        return JSONResponse({"lead_id": None, "status": "rejected", "reasons": reasons}, 422)

    @app.exception_handler(ConfigError)
    async def bad_config(_: Request, exc: ConfigError) -> JSONResponse:
        issues = [{"path": i.path, "reason": i.reason} for i in exc.issues]
        return JSONResponse({"status": "invalid_config", "issues": issues}, 422)


UNAVAILABLE = {
    "lead_id": None,
    "status": "error",
    "reasons": [{"code": "unavailable", "message": "temporarily unavailable; retry"}],
}
BUSY = {
    "lead_id": None,
    "status": "error",
    "reasons": [{"code": "busy", "message": "every database connection is busy; retry shortly"}],
}


class AnswerUnexpected:
    """ASGI middleware: a bug or an unreachable database is logged and answered 503 "retry".

    Unlike an exception handler for Exception (Starlette re-raises after answering, and the
    server then drops the keep-alive connection), the client's connection stays usable.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except PoolTimeout:
            # Saturation, not a bug: every pooled connection stayed busy for db_pool_timeout_s.
            log.warning("no database connection free on %s %s", scope["method"], scope["path"])
            if started:
                raise
            await JSONResponse(BUSY, status_code=503, headers={"Retry-After": "1"})(
                scope, receive, send
            )
        except Exception as exc:
            # Logged without its message: a database error's text holds the lead's PII.
            log_failure(log, "unexpected error on %s %s", exc, scope["method"], scope["path"])
            if started:  # half an answer is out: only closing the connection can end it
                raise
            await JSONResponse(UNAVAILABLE, status_code=503)(scope, receive, send)


def serve_app() -> FastAPI:
    """The app `pingtree serve` runs in each worker: its logs set up as Settings say, and
    SIGUSR1 printing every thread's stack to stderr (a worker that will not stop, seen)."""
    stacks_on_sigusr1()
    settings = Settings()
    configure_logs(settings.log_format)
    return create_app(settings, serving=True)
