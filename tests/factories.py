"""Small builders for configuration documents in tests, pointed at a running simulator."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pingtree.config.document import ConfigDocument
from pingtree.simulator import RunningSimulator

API_KEY = "test-publisher-key-000000000000"

JSON_PING: dict[str, Any] = {
    "rules": [
        {"source": "json", "path": "$.status", "equals": "bid", "outcome": "accepted"},
        {"source": "json", "path": "$.status", "equals": "no_bid", "outcome": "rejected"},
    ],
    "price": {"source": "json", "path": "$.price"},
    "reference": {"source": "json", "path": "$.bid_id"},
    "reason": {"source": "json", "path": "$.reason"},
}
JSON_POST: dict[str, Any] = {
    "rules": [
        {"source": "json", "path": "$.status", "equals": "accepted", "outcome": "accepted"},
        {"source": "json", "path": "$.status", "equals": "duplicate", "outcome": "duplicate"},
        {"source": "json", "path": "$.status", "equals": "rejected", "outcome": "rejected"},
    ],
    "price": {"source": "json", "path": "$.price"},
    "reference": {"source": "json", "path": "$.lead_id"},
    "reason": {"source": "json", "path": "$.reason"},
    "redirect_url": {"source": "json", "path": "$.redirect_url"},
}

VERTICAL: dict[str, Any] = {
    "name": "auto",
    "fields": [
        {"name": "first_name", "required": True, "pii": True},
        {"name": "email", "type": "email", "required": True, "pii": True},
        {"name": "phone", "type": "phone", "required": True, "pii": True},
        {"name": "ssn", "pii": True, "regex": r"\d{3}-\d{2}-\d{4}"},
        {"name": "zip", "type": "zip", "required": True},
        {"name": "state", "type": "state", "required": True},
        {"name": "age", "type": "integer", "min": 18, "max": 100},
        {"name": "credit", "enum": ["excellent", "good", "fair", "poor"]},
    ],
}

LEAD_FIELDS: dict[str, Any] = {
    "first_name": "Ada",
    "email": "ada.lovelace@example.com",
    "phone": "(212) 736-5000",
    "ssn": "123-45-6789",
    "zip": "10001",
    "state": "NY",
    "age": 36,
    "credit": "good",
}


def campaign(
    name: str,
    sim: RunningSimulator,
    *,
    buyer: str | None = None,
    sim_buyer: str | None = None,
    price: Decimal | str | None = "10.00",
    bid: bool = False,
    ping: bool | None = None,
    timeout_ms: int = 2000,
    **extra: Any,
) -> dict[str, Any]:
    """A campaign whose endpoints are the simulator's buyer called sim_buyer (default name)."""
    target = sim_buyer or name
    spec: dict[str, Any] = {
        "name": name,
        "buyer": buyer or name,
        "vertical": "auto",
        "price": {"type": "bid"} if bid else {"type": "fixed", "amount": str(price)},
        "delivery": {
            "timeout_ms": timeout_ms,
            "post": {"url": sim.url(target, "post"), "response": JSON_POST},
        },
    }
    if bid or ping:
        spec["delivery"]["ping"] = {"url": sim.url(target, "ping"), "response": JSON_PING}
    spec.update(extra)
    return spec


def tier(
    name: str, flow: str, campaigns: list[str | dict[str, Any]], **extra: Any
) -> dict[str, Any]:
    """A tier; campaigns are names or {campaign, rank, weight} dicts."""
    entries = [{"campaign": c} if isinstance(c, str) else c for c in campaigns]
    return {"name": name, "flow": flow, "campaigns": entries, **extra}


def document(
    campaigns: list[dict[str, Any]],
    tiers: list[dict[str, Any]],
    *,
    tree: dict[str, Any] | None = None,
    payout: dict[str, Any] | None = None,
    buyer_dedup_days: int = 0,
    screening: dict[str, Any] | None = None,
    routes: list[dict[str, Any]] | None = None,
    trees: list[dict[str, Any]] | None = None,
    vertical: dict[str, Any] | None = None,
) -> ConfigDocument:
    """One vertical (VERTICAL unless given), one publisher (API_KEY), the campaigns' buyers,
    one tree, one route.

    Buyers take the same person again by default (buyer_dedup_days=0): most tests post one
    example lead many times.
    """
    buyers = sorted({c["buyer"] for c in campaigns})
    return ConfigDocument.model_validate(
        {
            "verticals": [{**(vertical or VERTICAL), "screening": screening}],
            "publishers": [
                {
                    "name": "pub",
                    "api_key": API_KEY,
                    "payout": payout or {"type": "revenue_share", "percent": 50},
                }
            ],
            "buyers": [{"name": b, "dedup_days": buyer_dedup_days} for b in buyers],
            "campaigns": campaigns,
            "trees": [{"name": "main", "vertical": "auto", "tiers": tiers, **(tree or {})}]
            + (trees or []),
            "routes": routes or [{"publisher": "pub", "vertical": "auto", "tree": "main"}],
        }
    )
