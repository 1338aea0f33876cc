"""The whole configuration as one document: what YAML files, the admin API and export share."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from pingtree.buyers.model import Buyer, Campaign, Filter, FilterOp
from pingtree.config.errors import did_you_mean
from pingtree.delivery.destinations import Allowlist, url_problem
from pingtree.publishers.model import Publisher
from pingtree.routing.model import Route, Tree
from pingtree.verticals.model import Vertical

Kind = Literal["verticals", "publishers", "buyers", "campaigns", "trees", "routes"]
KINDS: tuple[Kind, ...] = ("verticals", "publishers", "buyers", "campaigns", "trees", "routes")
"""Resource kinds, in the order they may be created (each refers only to earlier ones)."""

MODELS: dict[Kind, type[BaseModel]] = {
    "verticals": Vertical,
    "publishers": Publisher,
    "buyers": Buyer,
    "campaigns": Campaign,
    "trees": Tree,
    "routes": Route,
}


class ConfigDocument(BaseModel):
    """Verticals, publishers, buyers, campaigns, trees and routes."""

    model_config = ConfigDict(extra="forbid")

    verticals: list[Vertical] = Field(default_factory=list)
    publishers: list[Publisher] = Field(default_factory=list)
    buyers: list[Buyer] = Field(default_factory=list)
    campaigns: list[Campaign] = Field(default_factory=list)
    trees: list[Tree] = Field(default_factory=list)
    routes: list[Route] = Field(default_factory=list)


def resource_key(kind: Kind, item: BaseModel) -> str:
    """The name a resource is known by (routes are keyed by publisher and vertical)."""
    if isinstance(item, Route):
        key = f"{item.publisher}:{item.vertical}"
        return f"{key}:{item.band}" if item.band else key
    name: Any = getattr(item, "name")  # noqa: B009 - every other kind has a name
    return str(name)


def reference_errors(
    doc: ConfigDocument, *, invalid: dict[str, set[str]] | None = None
) -> list[tuple[str, str]]:
    """(path, reason) for every duplicate name or reference to something that does not exist.

    invalid: names of resources present but invalid (reported already): references to them
    are not reported. An unknown name gets the closest known one suggested.
    """
    invalid = invalid or {}
    errors: list[tuple[str, str]] = []
    for kind in KINDS:
        seen: set[str] = set()
        for i, item in enumerate(getattr(doc, kind)):
            key = resource_key(kind, item)
            if key in seen:
                errors.append((f"{kind}[{i}]", f"{key!r} is defined twice"))
            seen.add(key)

    verticals = {v.name: v for v in doc.verticals}
    buyers = {b.name for b in doc.buyers}
    publishers = {p.name for p in doc.publishers}
    campaigns = {c.name: c for c in doc.campaigns}
    trees = {t.name: t for t in doc.trees}

    for i, c in enumerate(doc.campaigns):
        at = f"campaigns[{i}]"
        if c.buyer not in buyers and c.buyer not in invalid.get("buyers", ()):
            errors.append((f"{at}.buyer", unknown_name("buyer", c.buyer, buyers)))
        vertical = verticals.get(c.vertical)
        if vertical is None:
            if c.vertical not in invalid.get("verticals", ()):
                errors.append((f"{at}.vertical", unknown_name("vertical", c.vertical, verticals)))
            continue
        field_names = [f.name for f in vertical.fields]
        for j, flt in enumerate(c.filters):
            if vertical.field(flt.field) is None:
                errors.append(
                    (
                        f"{at}.filters[{j}].field",
                        f"vertical {c.vertical!r} has no field {flt.field!r}"
                        + did_you_mean(flt.field, field_names),
                    )
                )
            elif (problem := _not_numbers(flt, vertical)) is not None:
                errors.append((f"{at}.filters[{j}]", problem))
        for j, name in enumerate(c.delivery.ping_fields or []):
            spec = vertical.field(name)
            if spec is None:
                errors.append(
                    (
                        f"{at}.delivery.ping_fields[{j}]",
                        f"vertical has no field {name!r}" + did_you_mean(name, field_names),
                    )
                )
            elif spec.pii:
                errors.append(
                    (f"{at}.delivery.ping_fields[{j}]", f"{name!r} is PII and never sent in a ping")
                )

    for i, t in enumerate(doc.trees):
        at = f"trees[{i}]"
        if t.vertical not in verticals and t.vertical not in invalid.get("verticals", ()):
            errors.append((f"{at}.vertical", unknown_name("vertical", t.vertical, verticals)))
        for j, tier in enumerate(t.tiers):
            for k, entry in enumerate(tier.campaigns):
                path = f"{at}.tiers[{j}].campaigns[{k}].campaign"
                campaign = campaigns.get(entry.campaign)
                if campaign is None:
                    if entry.campaign not in invalid.get("campaigns", ()):
                        errors.append((path, unknown_name("campaign", entry.campaign, campaigns)))
                elif campaign.vertical != t.vertical:
                    wrong = (
                        f"campaign is for vertical {campaign.vertical!r}, tree for {t.vertical!r}"
                    )
                    errors.append((path, wrong))

    publisher_models = {p.name: p for p in doc.publishers}
    for i, r in enumerate(doc.routes):
        at = f"routes[{i}]"
        if r.publisher not in publishers and r.publisher not in invalid.get("publishers", ()):
            errors.append((f"{at}.publisher", unknown_name("publisher", r.publisher, publishers)))
        if r.band is not None:
            policies = [
                verticals[r.vertical].screening if r.vertical in verticals else None,
                publisher_models[r.publisher].screening
                if r.publisher in publisher_models
                else None,
            ]
            bands = {band.name for policy in policies if policy for band in policy.bands}
            if r.band not in bands:
                known = ", ".join(sorted(bands)) or "none"
                errors.append((f"{at}.band", f"no screening band {r.band!r} (bands: {known})"))
        if r.vertical not in verticals and r.vertical not in invalid.get("verticals", ()):
            errors.append((f"{at}.vertical", unknown_name("vertical", r.vertical, verticals)))
        tree = trees.get(r.tree)
        if tree is None:
            if r.tree not in invalid.get("trees", ()):
                errors.append((f"{at}.tree", unknown_name("tree", r.tree, trees)))
        elif tree.vertical != r.vertical:
            errors.append((f"{at}.tree", f"tree {r.tree!r} is for vertical {tree.vertical!r}"))
    for i, p in enumerate(doc.publishers):
        for name in p.vertical_payouts:
            if name not in verticals and name not in invalid.get("verticals", ()):
                path = f"publishers[{i}].vertical_payouts.{name}"
                errors.append((path, unknown_name("vertical", name, verticals)))
    return errors + _call_errors(doc, verticals, trees, invalid)


def _call_errors(
    doc: ConfigDocument,
    verticals: dict[str, Vertical],
    trees: dict[str, Tree],
    invalid: dict[str, set[str]],
) -> list[tuple[str, str]]:
    """Calls: the fields a vertical's caller and IVR fill, and tracking numbers' verticals
    (a number belongs to one publisher only)."""
    errors: list[tuple[str, str]] = []
    for i, v in enumerate(doc.verticals):
        if v.calls is None:
            continue
        names = [f.name for f in v.fields]
        filled = [("caller_field", v.calls.caller_field)] + [
            (f"ivr[{j}].field", q.field) for j, q in enumerate(v.calls.ivr)
        ]
        for key, name in filled:
            if v.field(name) is None:
                problem = f"vertical has no field {name!r}" + did_you_mean(name, names)
                errors.append((f"verticals[{i}].calls.{key}", problem))
    owners: dict[str, str] = {}
    for i, p in enumerate(doc.publishers):
        for j, tracking in enumerate(p.numbers):
            at = f"publishers[{i}].numbers[{j}]"
            vertical = verticals.get(tracking.vertical)
            if vertical is None:
                if tracking.vertical not in invalid.get("verticals", ()):
                    unknown = unknown_name("vertical", tracking.vertical, verticals)
                    errors.append((f"{at}.vertical", unknown))
            elif vertical.calls is None:
                errors.append((f"{at}.vertical", f"vertical {vertical.name!r} takes no calls"))
            tree = trees.get(tracking.tree) if tracking.tree is not None else None
            if tracking.tree is not None and tree is None:
                if tracking.tree not in invalid.get("trees", ()):
                    errors.append((f"{at}.tree", unknown_name("tree", tracking.tree, trees)))
            elif tree is not None and tree.vertical != tracking.vertical:
                errors.append(
                    (f"{at}.tree", f"tree {tree.name!r} is for vertical {tree.vertical!r}")
                )
            owner = owners.get(tracking.number)
            if owner is not None:
                errors.append((f"{at}.number", f"{tracking.number} is {owner!r}'s number already"))
            owners[tracking.number] = p.name
    return errors


def unknown_name(what: str, name: str, known: Iterable[str]) -> str:
    """ "unknown buyer 'apexx' (did you mean 'apex'?)"."""
    return f"unknown {what} {name!r}" + did_you_mean(name, known)


def destination_errors(doc: ConfigDocument, allow: Allowlist) -> list[tuple[str, str]]:
    """(path, reason) for every buyer URL that points somewhere refused (see destinations)."""
    errors: list[tuple[str, str]] = []
    for i, c in enumerate(doc.campaigns):
        endpoints = [("post", c.delivery.post), ("ping", c.delivery.ping)]
        for label, endpoint in endpoints:
            if endpoint is None:
                continue
            for key in ("url", "test_url"):
                url = getattr(endpoint, key)
                problem = url_problem(url, allow) if url is not None else None
                if problem is not None:
                    errors.append((f"campaigns[{i}].delivery.{label}.{key}", problem))
        if c.call is not None and c.call.availability_url is not None:
            problem = url_problem(c.call.availability_url, allow)
            if problem is not None:
                errors.append((f"campaigns[{i}].call.availability_url", problem))
    for kind, hooks in (
        ("publishers", [p.postback for p in doc.publishers]),
        ("buyers", [b.webhook for b in doc.buyers]),
    ):
        for i, hook in enumerate(hooks):
            problem = url_problem(hook.url, allow) if hook is not None else None
            if problem is not None:
                key = "postback" if kind == "publishers" else "webhook"
                errors.append((f"{kind}[{i}].{key}.url", problem))
    return errors


def _not_numbers(flt: Filter, vertical: Vertical) -> str | None:
    """Why a filter on a numeric field names values that are no numbers (none would match)."""
    if flt.field not in vertical.numeric_fields or flt.op not in _VALUE_OPS:
        return None
    operands = [flt.value] if flt.op is FilterOp.EQUALS else list(flt.values or ())
    bad = [str(v) for v in operands if not _is_number(v)]
    if not bad:
        return None
    return f"{flt.field!r} is a numeric field: {', '.join(repr(v) for v in bad[:3])} is no number"


_VALUE_OPS = (FilterOp.EQUALS, FilterOp.IN, FilterOp.NOT_IN)


def _is_number(value: object) -> bool:
    if isinstance(value, bool):
        return False
    try:
        return Decimal(str(value).strip()).is_finite()
    except InvalidOperation:
        return False
