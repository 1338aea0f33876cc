"""Text the databases can store: no NUL character and no lone surrogate, anywhere.

PostgreSQL refuses a NUL in text and JSON, and neither database (nor a buyer) can take a
string that is not valid Unicode. Such input is refused at the edge, before any database
access: a 422 naming the body field or query parameter, a 404 for a path that holds one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import parse_qsl

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from pingtree.intake.errors import IntakeRefused, refuse

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")

Loc = tuple[str | int, ...]


def unstorable(text: str) -> str | None:
    """Why text cannot be stored, or None when it can."""
    found = _UNSTORABLE.search(text)
    if found is None:
        return None
    if found.group() == "\x00":
        return "must not contain a NUL character"
    return "must be valid Unicode (it holds a lone surrogate)"


def find_unstorable(value: Any) -> tuple[Loc, str] | None:
    """The first string in a decoded JSON value that cannot be stored: where, and why."""
    # Iterative: a deeply nested body must not exhaust the stack.
    pending: list[tuple[Loc, Any]] = [((), value)]
    while pending:
        loc, item = pending.pop()
        if isinstance(item, str):
            if problem := unstorable(item):
                return loc, problem
        elif isinstance(item, dict):
            for key, inner in reversed(item.items()):
                if problem := unstorable(key):
                    return loc, f"has a key that {problem}"
                pending.append(((*loc, key), inner))
        elif isinstance(item, list):
            pending.extend(((*loc, i), inner) for i, inner in reversed(list(enumerate(item))))
    return None


def may_hold_unstorable(body: bytes) -> bool:
    """Whether a JSON body must be decoded to look for unstorable text. Valid UTF-8 JSON can
    only carry a NUL or a lone surrogate as a \\u escape: a body with neither an escape nor
    a NUL byte (UTF-16 and UTF-32 JSON have NUL bytes) has nothing to look for."""
    return b"\\u" in body or b"\x00" in body


def _is_json(request: Request) -> bool:
    content_type = request.headers.get("content-type")
    return content_type is None or "json" in content_type.lower()


class StorableTextRoute(APIRoute):
    """An API route whose JSON body is refused (422, naming the field) if it holds NUL or
    lone surrogates, before the endpoint runs."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def checked(request: Request) -> Response:
            body = await request.body() if _is_json(request) else b""
            if may_hold_unstorable(body):
                try:
                    document = await request.json()  # kept on the request for FastAPI
                except Exception:  # bad or too deep JSON: FastAPI answers it itself
                    return await handler(request)
                if found := find_unstorable(document):
                    loc, problem = found
                    raise RequestValidationError(
                        [{"type": "value_error", "loc": ("body", *loc), "msg": problem}]
                    )
            return await handler(request)

        return checked


def refusal(exc: IntakeRefused) -> JSONResponse:
    """The JSON answer for a refusal: status, stable reason codes, Retry-After if any."""
    body = {
        "lead_id": None,
        "status": "rejected",
        "reasons": [r.model_dump(exclude_none=True) for r in exc.reasons],
    }
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)


class RefuseUnstorableUrl:
    """ASGI middleware: a NUL in the path is a 404 (no such thing can exist), in the query
    a 422 naming the parameter; before any route runs."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refused = _check_url(scope)
            if refused is not None:
                await refusal(refused)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _check_url(scope: Scope) -> IntakeRefused | None:
    if unstorable(scope["path"]):
        return refuse(404, "not_found", "nothing here: the path holds a NUL character")
    query = scope.get("query_string", b"").decode("latin-1")
    for name, value in parse_qsl(query, keep_blank_values=True):
        if problem := unstorable(name) or unstorable(value):
            shown = _UNSTORABLE.sub("?", name)
            return refuse(422, "invalid_request", f"{shown}: {problem}", shown)
    return None
