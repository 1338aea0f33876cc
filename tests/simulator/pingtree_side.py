"""A stand-in for pingtree's voice webhooks: a tiny aiohttp app answering scripted TwiML.

It checks every request's X-Twilio-Signature with twilio's own RequestValidator, as
pingtree's webhooks will, and remembers what it received.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web
from twilio.request_validator import RequestValidator

AUTH_TOKEN = "sim-auth-token-0123456789abcdef"

Answer = str | web.Response
"""TwiML text (sent as text/xml), or a whole response for the bad cases."""
Handler = Callable[[dict[str, str]], Answer]


@dataclass(frozen=True)
class Hit:
    """One request the webhook received."""

    path: str
    query: dict[str, str]
    method: str
    form: dict[str, str]
    signature: str | None
    signature_valid: bool


class PingtreeSide:
    """The running webhook app: its URLs and what it received."""

    def __init__(self, base_url: str, hits: list[Hit]) -> None:
        self.base_url = base_url
        self.hits = hits

    def url(self, path: str) -> str:
        """The absolute URL of a path on the app."""
        return f"{self.base_url}{path}"

    def paths(self) -> list[str]:
        """Paths received, in order."""
        return [h.path for h in self.hits]

    def hit(self, path: str) -> Hit:
        """The one request received on a path."""
        (found,) = [h for h in self.hits if h.path == path]
        return found


async def start_side(routes: dict[str, Handler], runners: list[web.AppRunner]) -> PingtreeSide:
    """Serve the routes on a free port of 127.0.0.1; the runner joins `runners` for cleanup."""
    hits: list[Hit] = []
    validator = RequestValidator(AUTH_TOKEN)

    def endpoint(handler: Handler) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handle(request: web.Request) -> web.Response:
            form = {k: str(v) for k, v in (await request.post()).items()}
            signature = request.headers.get("X-Twilio-Signature")
            # A GET carries its parameters in the signed URL itself.
            signed = form if request.method == "POST" else {}
            valid = signature is not None and validator.validate(
                str(request.url), signed, signature
            )
            query = dict(request.query)
            hits.append(Hit(request.path, query, request.method, form, signature, valid))
            answer = handler({**query, **form})
            if isinstance(answer, web.Response):
                return answer
            return web.Response(text=answer, content_type="text/xml")

        return handle

    app = web.Application()
    for path, handler in routes.items():
        app.router.add_route("*", path, endpoint(handler))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    runners.append(runner)
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return PingtreeSide(f"http://127.0.0.1:{port}", hits)
