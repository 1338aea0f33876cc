"""Money is Decimal, quantized to cents at the edges; never float."""

from __future__ import annotations

import re
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Annotated

from pydantic import BeforeValidator, Field, PlainSerializer

CENT = Decimal("0.01")
ZERO = Decimal("0.00")


def cents(value: Decimal) -> Decimal:
    """Round an amount to whole cents (half up, as buyers and publishers expect)."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


# Far above any lead price, far below what Decimal's 28 digits (and BigInteger cents) hold.
LARGEST = Decimal("9999999999.99")
# A price has a handful of characters; a megabyte of digits is not a price, and parsing it
# would cost more than the answer is worth.
_LONGEST_TEXT = 64
_GROUPED = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d*)?")


def parse_money(raw: object) -> Decimal | None:
    """Read an amount a buyer sent ("12.50", 12.5, "$1,200"); None when it is not one.

    Never raises: whatever a buyer sends is either an amount in cents no larger than
    LARGEST, or None ("1e30", forty 9s, "NaN", "-5" and the like). Fractions of a cent are
    dropped: a buyer that bids "30.005" is charged 30.00, never more than it bid.
    """
    if raw is None or isinstance(raw, bool):
        return None
    text = str(raw).strip().replace("$", "").strip()
    if not text or len(text) > _LONGEST_TEXT:
        return None
    if "," in text:
        # Only thousands ("1,200.50"): "9,50" is a decimal comma, and read without it a
        # price a hundred times the buyer's.
        if _GROUPED.fullmatch(text) is None:
            return None
        text = text.replace(",", "")
    if "_" in text:  # Decimal reads "30_00" as 3000, as Python literals; no buyer writes so
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    if not value.is_finite() or value < 0 or value > LARGEST:
        return None
    return value.quantize(CENT, rounding=ROUND_DOWN)


def _from_config(raw: object) -> object:
    # YAML gives 12.5 as a float; going through str keeps "12.5" instead of 12.4999...
    if isinstance(raw, float):
        return str(raw)
    return raw


Money = Annotated[
    Decimal,
    BeforeValidator(_from_config),
    Field(ge=0, max_digits=12, decimal_places=2),
    PlainSerializer(lambda v: str(cents(v)), return_type=str, when_used="json"),
]
"""A non-negative amount in the account currency, at most two decimal places."""
