"""Eligibility benchmark: 1,000 campaigns in one tree, the pure eligibility step per lead.

For each lead, every campaign of the tree is judged the way the router does it: active,
buyer active, filters (CompiledCampaign.failed_filter), schedule (CompiledSchedule.is_open)
and cap room (CapLedger.room, here an in-memory ledger with some campaigns full). No
database, no network. Target: under 1 ms per lead.

Two timings: the public pieces in a plain loop, and the router's own Router._eligible
(private; reported as n/a if its signature has moved on).

Run: .venv/bin/python bench/eligibility.py [--campaigns 1000] [--leads 3000] [--seed 7]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import create_async_engine

from machine import describe as describe_machine
from pingtree.buyers.model import Campaign
from pingtree.clock import SystemClock
from pingtree.config.catalog import Catalog
from pingtree.config.files import parse_document
from pingtree.delivery.destinations import Allowlist
from pingtree.routing.eligibility import LeadView, eligible
from pingtree.routing.model import Tree
from pingtree.sales.ledger import SqlCapLedger
from pingtree.sales.windows import cap_windows

TARGET_US = 1000.0
LOOPBACK = Allowlist.parse("127.0.0.1")  # the campaigns' (never called) post URLs
_STATE_CODES = (
    "AL AK AZ AR CA CO CT DE FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH "
    "NJ NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY"
)
STATES = _STATE_CODES.split()
CREDIT = ["excellent", "good", "fair", "poor"]
MAKES = ["toyota", "honda", "ford", "chevrolet", "tesla", "bmw", "kia", "subaru", "nissan"]
ZONES = ["America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles", "UTC"]
DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def full_ledger(campaigns: list[Campaign], at: datetime) -> SqlCapLedger:
    """The real ledger's in-process view (no database needed for room()), these campaigns full."""
    unused = create_async_engine("sqlite+aiosqlite://")  # never connected: room() reads memory
    ledger = SqlCapLedger(engine=unused, clock=SystemClock())
    for campaign in campaigns:
        for (period, count, budget), (_, window) in zip(
            campaign.caps.limits(), cap_windows(campaign, at), strict=True
        ):
            key = (campaign.name, period, window)
            ledger._note(campaign, key, count or 0, budget or Decimal(0))
    return ledger


def zip5(rng: random.Random) -> str:
    return f"{rng.randrange(1000, 99999):05d}"


def random_filters(rng: random.Random) -> list[dict[str, Any]]:
    """Two to five filters of varied operators."""
    kinds = rng.sample(
        ["in", "not_in", "range", "credit", "zip_list", "regex", "equals", "exists", "loan"],
        rng.randint(2, 5),
    )
    out: list[dict[str, Any]] = []
    for kind in kinds:
        if kind == "in":
            out.append({"field": "state", "op": "in", "values": rng.sample(STATES, 25)})
        elif kind == "not_in":
            out.append({"field": "state", "op": "not_in", "values": rng.sample(STATES, 5)})
        elif kind == "range":
            low = rng.randint(18, 40)
            out.append(
                {"field": "age", "op": "range", "min": low, "max": low + rng.randint(20, 50)}
            )
        elif kind == "credit":
            values = rng.sample(CREDIT, rng.randint(2, 4))
            out.append({"field": "credit_rating", "op": "in", "values": values})
        elif kind == "zip_list":
            prefixes = [f"{rng.randrange(100, 999)}" for _ in range(rng.randint(20, 200))]
            full = [zip5(rng) for _ in range(rng.randint(50, 500))]
            out.append({"field": "zip", "op": "zip_list", "values": prefixes + full})
        elif kind == "regex":
            makes = "|".join(rng.sample(MAKES, 5))
            out.append({"field": "vehicle_make", "op": "regex", "pattern": f"^({makes})$"})
        elif kind == "equals":
            out.append({"field": "homeowner", "op": "equals", "value": "true"})
        elif kind == "exists":
            out.append({"field": "vehicle_year", "op": "exists"})
        else:
            out.append({"field": "loan_amount", "op": "range", "min": 1000, "max": 50000})
    return out


def random_schedule(rng: random.Random) -> dict[str, Any]:
    start = rng.randint(0, 10)
    end = rng.randint(start + 6, 23)
    return {
        "timezone": rng.choice(ZONES),
        "windows": [
            {"days": DAYS[:5], "start": f"{start:02d}:00", "end": f"{end:02d}:59:59"},
            {"days": DAYS[5:], "start": "10:00", "end": "16:00"},
        ],
    }


def random_caps(rng: random.Random) -> dict[str, Any]:
    caps: dict[str, Any] = {"daily": rng.randint(10, 1000)}
    if rng.random() < 0.5:
        caps["hourly"] = rng.randint(5, 100)
    if rng.random() < 0.3:
        caps["monthly"] = rng.randint(1000, 20000)
    if rng.random() < 0.4:
        caps["budget"] = {"daily": f"{rng.randint(100, 5000)}.00"}
    return caps


def build_config(n: int, rng: random.Random) -> dict[str, Any]:
    """One vertical, n/10 buyers, n campaigns (half scheduled, 60% capped), one tree."""
    buyers = [f"buyer-{i}" for i in range(max(1, n // 10))]
    campaigns = []
    for i in range(n):
        campaign: dict[str, Any] = {
            "name": f"c{i:04d}",
            "buyer": buyers[i % len(buyers)],
            "vertical": "auto",
            "filters": random_filters(rng),
            "price": {"type": "fixed", "amount": f"{rng.randint(3, 60)}.00"},
            "delivery": {
                "post": {
                    "url": f"http://127.0.0.1:9/buyers/c{i}/post",
                    "response": {
                        "rules": [{"source": "status", "equals": "200", "outcome": "accepted"}]
                    },
                }
            },
        }
        if rng.random() < 0.5:
            campaign["schedule"] = random_schedule(rng)
        if rng.random() < 0.6:
            campaign["caps"] = random_caps(rng)
        if rng.random() < 0.03:
            campaign["active"] = False
        campaigns.append(campaign)
    tier = {
        "name": "all",
        "flow": "price",
        "campaigns": [{"campaign": c["name"], "rank": i} for i, c in enumerate(campaigns)],
    }
    return {
        "verticals": [
            {
                "name": "auto",
                "fields": [
                    {"name": "email", "type": "email", "pii": True},
                    {"name": "zip", "type": "zip"},
                    {"name": "state", "type": "state"},
                    {"name": "age", "type": "integer"},
                    {"name": "credit_rating", "enum": CREDIT},
                    {"name": "vehicle_make"},
                    {"name": "vehicle_year", "type": "integer"},
                    {"name": "homeowner", "type": "boolean"},
                    {"name": "loan_amount", "type": "number"},
                ],
            }
        ],
        "buyers": [{"name": b, "active": i % 50 != 49} for i, b in enumerate(buyers)],
        "campaigns": campaigns,
        "trees": [{"name": "big", "vertical": "auto", "tiers": [tier]}],
    }


def random_lead(rng: random.Random) -> dict[str, Any]:
    lead: dict[str, Any] = {
        "email": f"x{rng.randrange(10**6)}@example.com",
        "zip": zip5(rng),
        "state": rng.choice(STATES),
        "age": rng.randint(18, 85),
        "credit_rating": rng.choice(CREDIT),
        "vehicle_make": rng.choice(MAKES),
        "homeowner": rng.random() < 0.6,
        "loan_amount": rng.randint(500, 80000),
    }
    if rng.random() < 0.8:
        lead["vehicle_year"] = rng.randint(1995, 2026)
    return lead


def eligible_for(
    catalog: Catalog, tree: Tree, ledger: SqlCapLedger, fields: dict[str, Any], now: datetime
) -> int:
    """The engine's own eligibility step over the tree's one tier; how many may be offered."""
    offered, _excluded = eligible(
        tree.tiers[0].campaigns,
        campaigns=catalog.campaigns,
        buyers=catalog.buyers,
        lead=LeadView(fields),
        now=now,
        room=ledger.room,
        blocked={},
        sold_to=(),
        index=catalog.tier_indexes.get((tree.name, tree.tiers[0].name)),
    )
    return len(offered)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--campaigns", type=int, default=1000)
    p.add_argument("--leads", type=int, default=3000)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--strict", action="store_true", help="exit 1 when the target is missed")
    args = p.parse_args()

    rng = random.Random(args.seed)
    started = time.perf_counter()
    catalog = Catalog.build(parse_document(build_config(args.campaigns, rng), allow=LOOPBACK))
    build_s = time.perf_counter() - started
    tree = catalog.trees["big"]
    names = [entry.campaign for entry in tree.tiers[0].campaigns]
    now = datetime.now(UTC)
    capped = [c.campaign for c in catalog.campaigns.values() if c.campaign.caps.limits()]
    ledger = full_ledger(capped[::10], now)  # one capped campaign in ten is full
    leads = [random_lead(rng) for _ in range(args.leads)]

    for fields in leads[:200]:  # warm up
        eligible_for(catalog, tree, ledger, fields, datetime.now(UTC))
    timings_us: list[float] = []
    counts: list[int] = []
    for fields in leads:
        t0 = time.perf_counter_ns()
        counts.append(eligible_for(catalog, tree, ledger, fields, datetime.now(UTC)))
        timings_us.append((time.perf_counter_ns() - t0) / 1000)

    when = time.strftime("%Y-%m-%d %H:%M %Z")
    print(f"pingtree eligibility benchmark, {when}, {describe_machine()}")
    print(
        f"{len(names)} campaigns in one tree ({len(capped)} capped, "
        f"{sum(1 for c in catalog.campaigns.values() if c.schedule)} scheduled), "
        f"{len(leads)} leads; catalog built in {build_s * 1000:.0f} ms; "
        f"eligible per lead: mean {sum(counts) / len(counts):.1f}"
    )
    head = f"{'step':<36}{'mean':>9}{'p50':>9}{'p99':>9}{'max':>9}   target     result"
    print(head)
    print("-" * len(head))
    values = timings_us
    mean = sum(values) / len(values)
    ok = pct(values, 99) < TARGET_US
    label = "routing.eligibility.eligible()"
    print(
        f"{label:<36}{mean:8.0f}µ{pct(values, 50):8.0f}µ{pct(values, 99):8.0f}µ"
        f"{max(values):8.0f}µ   p99 < {TARGET_US:.0f}µs  {'PASS' if ok else 'FAIL'}"
    )
    print("(µs per lead over the whole tree)")
    return 0 if ok or not args.strict else 1


if __name__ == "__main__":
    sys.exit(main())
