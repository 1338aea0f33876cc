"""The console's Jinja2 templates, their filters, and the headers every page carries."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from jinja2 import StrictUndefined

from pingtree.console import forms, present
from pingtree.credentials.masking import mask_url
from pingtree.operators.roles import Permission

HERE = Path(__file__).parent
STATIC = HERE / "static"
# Pages show PII and money: never cached, never framed, scripts only from the console itself.
HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    # same-origin: other sites learn nothing, and our own form posts carry their Origin
    # (with no-referrer a browser sends "Origin: null", which no page of ours could be told by).
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; frame-ancestors 'none'; form-action 'self'"
    ),
}


def _prefix(request: Request) -> dict[str, Any]:
    caller = getattr(request.state, "caller", None)
    return {
        "root": console_root(request),
        "caller": caller,
        "csrf": getattr(request.state, "csrf", ""),
        # What the caller's role lets it do: pages hide the forms it may not use.
        "can": {p.value: caller is not None and caller.may(p) for p in Permission},
    }


templates = Jinja2Templates(directory=HERE / "templates", context_processors=[_prefix])
templates.env.undefined = StrictUndefined  # a renamed model attribute fails loudly, not blank
templates.env.filters.update(
    money=present.money,
    percent=present.percent,
    when=present.when,
    masked_phone=present.masked_phone,
    seconds=present.seconds,
    age=present.age,
    pretty=present.pretty,
    masked_headers=present.masked_headers,
    masked_url=mask_url,
    request_head=present.request_head,
    describe_filter=present.describe_filter,
    describe_caps=present.describe_caps,
    describe_schedule=present.describe_schedule,
    describe_price=present.describe_price,
    describe_payout=present.describe_payout,
    dig=forms.dig,
    as_text=forms.text,
    as_yaml=forms.yaml_text,
    extras=forms.extras,
    input_id=forms.input_id,
)


def notice(where: str, message: str, *, ok: bool = True) -> RedirectResponse:
    """Back to a console page (303) with a message it shows: done, or failed."""
    joiner = "&" if "?" in where else "?"
    key = "done" if ok else "failed"
    return RedirectResponse(f"{where}{joiner}{key}={quote(message)}", status_code=303)


def console_root(request: Request) -> str:
    """The console's URL path, behind any root path the app is served under."""
    root: str = request.scope.get("root_path", "")
    return root.rstrip("/") + "/console"


def page(
    request: Request, name: str, context: dict[str, Any] | None = None, status_code: int = 200
) -> HTMLResponse:
    """A rendered template with the console's security headers."""
    return templates.TemplateResponse(
        request, name, context or {}, status_code=status_code, headers=HEADERS
    )


class ConsoleRoute(APIRoute):
    """A console route: a bad query or form value answers a readable page, not JSON."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                problems = [
                    {
                        "field": ".".join(str(p) for p in err["loc"] if p not in ("query", "body")),
                        "message": err["msg"],
                    }
                    for err in exc.errors()
                ]
                return page(request, "bad_request.html", {"problems": problems}, status_code=400)

        return handle
