"""Attach the console (pages, login, static files) to the app."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from pingtree.console import (
    editors,
    history,
    leads,
    login,
    operations,
    pages,
    reports,
    setup,
)
from pingtree.console.auth import ConsoleLocked, locked_response
from pingtree.console.render import STATIC, page


def mount_console(app: FastAPI) -> None:
    """Serve the operator console at /console."""

    async def locked(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ConsoleLocked)
        return locked_response(request, exc)

    app.add_exception_handler(ConsoleLocked, locked)
    app.include_router(login.router)
    app.include_router(pages.router)
    app.include_router(leads.router)
    app.include_router(operations.router)
    app.include_router(reports.router)
    app.include_router(history.router)
    app.include_router(setup.router)
    app.include_router(editors.router)
    app.mount("/console/static", StaticFiles(directory=STATIC), name="console-static")

    # Last: any other console address answers a page, not the API's JSON 404.
    @app.api_route(
        "/console/{rest:path}",
        methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
        include_in_schema=False,
    )
    async def not_found(request: Request, rest: str) -> Response:
        return page(request, "not_found.html", status_code=404)
