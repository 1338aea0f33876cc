"""Hide secrets in what is stored, shown or logged about a request and its answer."""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Mapping
from urllib.parse import quote, quote_plus, urlsplit, urlunsplit

MASK = "***"
ALWAYS_SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key"}
)


class Masker:
    """Replaces each secret value (and its JSON, URL and XML encodings) with ***."""

    def __init__(self, values: Iterable[str], secret_headers: Iterable[str] = ()) -> None:
        forms: set[str] = set()
        for value in values:
            if value:
                forms |= {
                    value,
                    json.dumps(value)[1:-1],
                    quote_plus(value),
                    quote(value, safe=""),
                    html.escape(value),
                    html.escape(value, quote=False),  # XML text, as ElementTree writes it
                }
        self._forms = sorted(forms - {""}, key=len, reverse=True)  # longest first
        self._headers = ALWAYS_SECRET_HEADERS | {h.lower() for h in secret_headers}

    def text(self, text: str) -> str:
        """The text with every secret value replaced."""
        for form in self._forms:
            text = text.replace(form, MASK)
        return text

    def headers(self, headers: Mapping[str, str]) -> dict[str, str]:
        """Credential headers, headers declared secret and any holding a secret: ***."""
        return {
            k: MASK if k.lower() in self._headers or self.text(v) != v else v
            for k, v in headers.items()
        }

    def url(self, url: str) -> str:
        """The URL without userinfo and query values, and secrets in its path replaced."""
        return mask_url(self.text(url))


def mask_url(url: str) -> str:
    """A URL with its userinfo and every query value replaced by ***."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return MASK
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{MASK}@{netloc.rsplit('@', 1)[1]}"
    query = "&".join(
        f"{pair.split('=', 1)[0]}={MASK}" if "=" in pair else MASK
        for pair in parts.query.split("&")
        if pair
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
