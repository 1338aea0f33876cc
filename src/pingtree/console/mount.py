"""Attach the console (pages, login, static files) to the app."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from pingtree.console import login, pages
from pingtree.console.auth import ConsoleLocked, locked_response
from pingtree.console.render import STATIC


def mount_console(app: FastAPI) -> None:
    """Serve the operator console at /console."""

    async def locked(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ConsoleLocked)
        return locked_response(request, exc)

    app.add_exception_handler(ConsoleLocked, locked)
    app.include_router(login.router)
    app.include_router(pages.router)
    app.mount("/console/static", StaticFiles(directory=STATIC), name="console-static")
