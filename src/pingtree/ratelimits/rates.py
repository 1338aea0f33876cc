"""A rate as operators write it ("50/second", "600 per minute"), checked when it is read."""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated

from limits import RateLimitItem, parse
from pydantic import AfterValidator


@lru_cache(maxsize=1024)
def parse_rate(text: str) -> RateLimitItem:
    """The limits library's item for a rate string; ValueError names what is accepted."""
    try:
        item = parse(text)
    except ValueError:
        raise ValueError(
            f"{text!r} is not a rate; write a count per unit, e.g. '50/second' or '600/minute'"
        ) from None
    if item.amount < 1:
        raise ValueError(f"{text!r} allows nothing; the count must be at least 1")
    return item


def _checked(text: str) -> str:
    parse_rate(text)
    return text


Rate = Annotated[str, AfterValidator(_checked)]
"""A rate string in a model or in Settings, validated with the limits library's syntax."""
