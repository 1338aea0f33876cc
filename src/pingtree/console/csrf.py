"""Cross-site request forgery: every console form that changes something carries a token.

The token is an HMAC of the session id (which only the operator's browser holds, in an
HttpOnly cookie): another site can make the browser send the cookie, never read it, so it
cannot write the token. A caller using a bearer header needs none (no browser sends one on
its own), and a request whose Origin is another site is refused whatever it carries.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlsplit

from fastapi import Request

FIELD = "csrf"
HEADER = "X-CSRF-Token"


def token_for(session_id: str) -> str:
    """The token of a session's forms."""
    return hmac.new(session_id.encode(), b"pingtree-console-csrf", hashlib.sha256).hexdigest()


def foreign_origin(request: Request) -> bool:
    """Whether the browser says the request comes from another site's page."""
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        return origin == "null"
    host = request.headers.get("host", "")
    return urlsplit(origin).netloc.lower() != host.lower()


async def valid(request: Request, session_id: str) -> bool:
    """Whether a state-changing request carries its session's token (form field or header)."""
    given = request.headers.get(HEADER)
    if not given and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get(FIELD)
        given = value if isinstance(value, str) else None
    return bool(given) and hmac.compare_digest(str(given), token_for(session_id))
