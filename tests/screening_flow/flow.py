"""Configuration and leads for the screening flow tests.

The vertical here declares email, phone, ZIP and IP as plain strings, so that bad values
reach screening (and its stable codes) instead of being refused with a 422 at intake; the
state stays typed. Leads use real data: a real Manhattan number and ZIP, a public IP.
"""

from __future__ import annotations

import hashlib
from typing import Any

import httpx

from pingtree.config.document import ConfigDocument
from tests.engine.conftest import ADMIN_TOKEN, Harness, sim_buyer
from tests.factories import API_KEY, campaign, tier

OTHER_KEY = "other-publisher-key-0000000000000"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

VERTICAL: dict[str, Any] = {
    "name": "auto",
    "fields": [
        {"name": "first_name", "required": True, "pii": True},
        {"name": "email", "required": True, "pii": True},
        {"name": "phone", "required": True, "pii": True},
        {"name": "zip", "required": True},
        {"name": "state", "type": "state", "required": True},
        {"name": "ip", "pii": True},
        {"name": "credit_score", "type": "integer"},
        {"name": "infractions", "type": "integer"},
    ],
}

# Hotel Pennsylvania's number, its ZIP (10001, New York) and a public IP (Google DNS).
LEAD: dict[str, Any] = {
    "first_name": "Ada",
    "email": "ada.lovelace@example.com",
    "phone": "(212) 736-5000",
    "zip": "10001",
    "state": "NY",
    "ip": "8.8.8.8",
    "credit_score": 720,
    "infractions": 0,
}


def person(n: int, **changes: Any) -> dict[str, Any]:
    """A clean lead for the n-th distinct person (own email and own real NYC number)."""
    return {
        **LEAD,
        "email": f"person{n}@example.com",
        "phone": f"(212) 736-{5000 + n:04d}",
        **changes,
    }


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def build(
    campaigns: list[dict[str, Any]],
    trees: list[dict[str, Any]],
    *,
    screening: dict[str, Any] | None = None,
    publisher_screening: dict[str, Any] | None = None,
    other_screening: dict[str, Any] | None = None,
    dedup_days: dict[str, int] | None = None,
    routes: list[dict[str, Any]] | None = None,
) -> ConfigDocument:
    """Vertical `auto`, publishers `pub` (API_KEY) and `other` (OTHER_KEY), buyers, trees.

    Buyers take the same person again unless dedup_days names them; each publisher routes
    to the first tree unless routes are given.
    """
    days = dedup_days or {}
    buyers = sorted({c["buyer"] for c in campaigns})
    first = trees[0]["name"]
    return ConfigDocument.model_validate(
        {
            "verticals": [{**VERTICAL, "screening": screening}],
            "publishers": [
                {
                    "name": "pub",
                    "api_key": API_KEY,
                    "payout": {"type": "revenue_share", "percent": 50},
                    "screening": publisher_screening,
                },
                {
                    "name": "other",
                    "api_key": OTHER_KEY,
                    "payout": {"type": "revenue_share", "percent": 50},
                    "screening": other_screening,
                },
            ],
            "buyers": [{"name": b, "dedup_days": days.get(b, 0)} for b in buyers],
            "campaigns": campaigns,
            "trees": trees,
            "routes": routes
            or [
                {"publisher": "pub", "vertical": "auto", "tree": first},
                {"publisher": "other", "vertical": "auto", "tree": first},
            ],
        }
    )


def tree(name: str, campaigns: list[str], flow: str = "priority") -> dict[str, Any]:
    """A one-tier tree offering the campaigns in order.

    Screening apart from the deadline: a minute, so that bursts of leads on a busy machine
    are stored and screened however slowly (tests/engine/test_deadline.py covers time).
    """
    return {
        "name": name,
        "vertical": "auto",
        "max_processing_ms": 60_000,
        "tiers": [tier(f"{name}-t1", flow, campaigns)],
    }


async def two_buyers(h: Harness, **options: Any) -> None:
    """Buyers alpha then beta (priority) in tree `main`; options go to build()."""
    h.buyers(sim_buyer("alpha"), sim_buyer("beta"))
    await h.configure(
        build(
            [
                campaign("alpha", h.sim, timeout_ms=30_000),
                campaign("beta", h.sim, timeout_ms=30_000),
            ],
            [tree("main", ["alpha", "beta"])],
            **options,
        )
    )


def posts(h: Harness, *buyers: str) -> int:
    """How many requests the named simulated buyers received in all."""
    return sum(len(h.sim.received(b)) for b in buyers)


async def admin(h: Harness, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """An admin API call."""
    return await h.client.request(method, f"/api/v1/admin{path}", headers=ADMIN, **kwargs)


def codes(body: dict[str, Any]) -> list[str]:
    """The reason codes of an answer or timeline."""
    return [r["code"] for r in body["reasons"]]
