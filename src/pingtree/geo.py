"""ZIP radius: the ZIP codes within some miles of another, from the zipcodes package's
offline coordinates. Worked out once per (centre, radius) when a configuration loads."""

from __future__ import annotations

import math
from collections.abc import Callable
from decimal import Decimal
from functools import cache, lru_cache
from typing import Any

import zipcodes

EARTH_RADIUS_MILES = 3958.8

# The zipcodes package has no type hints; this pins down what the code relies on.
_all_zips: Callable[[], list[dict[str, Any]]] = zipcodes.list_all


@cache
def coordinates() -> dict[str, tuple[float, float]]:
    """ZIP code -> (latitude, longitude) in radians, for every ZIP with coordinates."""
    table: dict[str, tuple[float, float]] = {}
    for entry in _all_zips():
        try:
            lat, lon = float(entry["lat"]), float(entry["long"])
        except (KeyError, TypeError, ValueError):
            continue
        table[entry["zip_code"]] = (math.radians(lat), math.radians(lon))
    return table


def known_zip(zip5: str) -> bool:
    """Whether the package knows where this 5-digit ZIP code is."""
    return zip5 in coordinates()


def distance_miles(a: str, b: str) -> float | None:
    """Great-circle distance between two ZIP codes' centres; None if either is unknown."""
    table = coordinates()
    if a not in table or b not in table:
        return None
    return _haversine(table[a], table[b])


def _haversine(a: tuple[float, float], b: tuple[float, float]) -> float:
    (lat1, lon1), (lat2, lon2) = a, b
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_MILES * math.asin(min(1.0, math.sqrt(h)))


@lru_cache(maxsize=1024)
def zips_near(centre: str, miles: Decimal) -> frozenset[str]:
    """Every ZIP code whose centre lies within miles of centre's (both ends included)."""
    table = coordinates()
    origin = table.get(centre)
    if origin is None:
        return frozenset()
    limit = float(miles)
    band = limit / EARTH_RADIUS_MILES  # no point further in latitude than this is in range
    lat0 = origin[0]
    return frozenset(
        code
        for code, point in table.items()
        if abs(point[0] - lat0) <= band and _haversine(origin, point) <= limit
    )
