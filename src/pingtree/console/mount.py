"""Attach the console (pages, login, static files) to the app."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from pingtree.console import (
    accounts,
    calls,
    editors,
    history,
    leads,
    login,
    operations,
    pages,
    reports,
    returns,
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
    app.include_router(accounts.router)
    app.include_router(pages.router)
    app.include_router(leads.router)
    app.include_router(calls.router)
    app.include_router(operations.router)
    app.include_router(reports.router)
    app.include_router(returns.router)
    app.include_router(history.router)
    app.include_router(setup.router)
    app.include_router(editors.router)
    app.mount("/console/static", StaticFiles(directory=STATIC), name="console-static")

    # Any other console address (no route matched) answers a page, not the API's JSON.
    app.add_exception_handler(StarletteHTTPException, _http_error)


async def _http_error(request: Request, exc: Exception) -> Response:
    """A console address that answers an HTTP error gets a page; elsewhere, the API's JSON."""
    assert isinstance(exc, StarletteHTTPException)
    path: str = request.scope.get("path", "")
    if path != "/console" and not path.startswith("/console/"):
        return await http_exception_handler(request, exc)
    if exc.status_code == 404:
        return page(request, "not_found.html", status_code=404)
    context = {"status": exc.status_code, "detail": exc.detail}
    return page(request, "http_error.html", context, status_code=exc.status_code)
