"""Configurations for routing unit tests: campaigns whose endpoints are never dialled."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pingtree.config.catalog import Catalog
from pingtree.routing.model import LeadOffer, RoutingResult
from tests import factories

NOW = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
"""A Wednesday afternoon in UTC: wall time for records, caps and dedup windows."""


class _Urls:
    """Stands in for the simulator in factories: a scripted gateway never dials the URL."""

    def url(self, buyer: str, kind: str) -> str:
        return f"http://127.0.0.1:9/{buyer}/{kind}"


URLS: Any = _Urls()


def bidder(
    name: str, floor: str = "0", *, price: dict[str, Any] | None = None, **extra: Any
) -> dict[str, Any]:
    """A campaign that pings for a bid (floor: the lowest bid it takes; price: more of it)."""
    spec = factories.campaign(name, URLS, bid=True, **extra)
    spec["price"] = {"type": "bid", "floor": floor, **(price or {})}
    return spec


def fixed(name: str, price: str = "10.00", **extra: Any) -> dict[str, Any]:
    """A campaign at a fixed price, posted straight away (ping=True: asked first)."""
    return factories.campaign(name, URLS, price=price, **extra)


def catalog(campaigns: list[dict[str, Any]], tiers: list[dict[str, Any]], **kw: Any) -> Catalog:
    """One tree called main over these tiers (factories.document's keywords)."""
    return Catalog.build(factories.document(campaigns, tiers, **kw))


def offer(
    lead_id: str = "lead-1", *, test: bool = False, people: tuple[str, ...] = ()
) -> LeadOffer:
    """The example lead of the auto vertical."""
    return LeadOffer(lead_id, "auto", "pub", dict(factories.LEAD_FIELDS), test, people)


def skips(result: RoutingResult) -> dict[str, str]:
    """campaign -> why it was skipped."""
    return {s.campaign: s.reason for s in result.skips}


def sold(result: RoutingResult) -> list[str]:
    """The campaigns that bought the lead, in order."""
    return [s.campaign for s in result.sales]
