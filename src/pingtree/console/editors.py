"""Editors for every resource of the configuration: form or YAML, checked, shown, applied.

GET shows a resource (or a new one) in its form; POST takes the form back and does what
the pressed button says: add, remove or move a row (nothing is checked yet), check the
changes (the plan and every problem beside its input), apply them, or remove the
resource. Every change goes through `changes` (the same validation as the YAML file).
"""

from __future__ import annotations

import copy
import zoneinfo
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import quote

import yaml
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData

from pingtree.buyers.model import DAYS, PERIODS, FilterOp, PostPrice, PriceType
from pingtree.config.document import KINDS, ConfigDocument, Kind, resource_key
from pingtree.config.store import load_document
from pingtree.console import changes, forms
from pingtree.console.auth import ConfigureDep, ReaderDep
from pingtree.console.changes import Applied, Checked, Draft
from pingtree.console.render import ConsoleRoute, console_root, notice, page
from pingtree.console.trial import TrialOutcome, preview_requests, send_test
from pingtree.credentials.at_rest import redact
from pingtree.publishers.model import REVOKED_KEY_SHA256, PayoutType
from pingtree.routing.model import Flow, LeadType, Ties
from pingtree.runtime import Runtime
from pingtree.verticals.model import FieldType

router = APIRouter(prefix="/console/config", include_in_schema=False, route_class=ConsoleRoute)

NEW = "_new"
"""The path segment of a resource not yet created (no name starts with _)."""


@dataclass(frozen=True)
class Labels:
    """How the console names a kind of resource."""

    one: str
    plural: str


LABELS: dict[Kind, Labels] = {
    "verticals": Labels("vertical", "verticals"),
    "publishers": Labels("publisher", "publishers"),
    "buyers": Labels("buyer", "buyers"),
    "campaigns": Labels("campaign", "campaigns"),
    "trees": Labels("tree", "trees"),
    "routes": Labels("route", "routes"),
}

DEFAULT_RESPONSE = {
    "rules": [
        {"source": "json", "path": "$.status", "equals": "accepted", "outcome": "accepted"},
        {"source": "json", "path": "$.status", "equals": "rejected", "outcome": "rejected"},
    ],
    "price": {"source": "json", "path": "$.price"},
    "reference": {"source": "json", "path": "$.lead_id"},
    "reason": {"source": "json", "path": "$.reason"},
}
NEW_RESOURCES: dict[Kind, dict[str, Any]] = {
    "verticals": {"fields": [{}]},
    "publishers": {"active": True, "payout": {"type": "revenue_share", "percent": "50"}},
    "buyers": {"active": True, "dedup_days": 30},
    "campaigns": {
        "active": True,
        "price": {"type": "fixed"},
        "delivery": {
            "timeout_ms": 3000,
            "post": {"url": "https://buyer.example/leads", "response": DEFAULT_RESPONSE},
        },
    },
    "trees": {"max_processing_ms": 5000, "tiers": [{"name": "tier-1", "flow": "priority"}]},
    "routes": {},
}
# What a structured editor shows of each kind; the rest rides along unchanged (forms.EXTRA).
SHOWN: dict[Kind, list[str]] = {
    "verticals": ["name", "description", "fields", "screening"],
    "publishers": ["name", "active", "payout", "rate_limit", "screening"],
    "buyers": ["name", "active", "contact_email", "dedup_days"],
    "campaigns": [
        "name",
        "buyer",
        "vertical",
        "active",
        "filters",
        "schedule",
        "caps",
        "price",
        "delivery",
    ],
    "trees": ["name", "vertical", "lead_type", "max_buyers", "max_processing_ms", "tiers"],
    "routes": ["publisher", "vertical", "band", "tree"],
}
ROW_BUTTONS = ("add:", "remove:", "up:", "down:")


def kind_of(kind: str) -> Kind | None:
    """The kind a path segment names, if any."""
    return next((k for k in KINDS if k == kind), None)


@cache
def time_zones() -> list[str]:
    """Every IANA zone name, sorted (for the schedule's zone list)."""
    return sorted(zoneinfo.available_timezones())


def _pairs(values: Any) -> list[tuple[str, str]]:
    return [(str(v), str(v)) for v in values]


def options(document: ConfigDocument) -> dict[str, Any]:
    """The choices an editor offers (names of what exists, and the closed sets)."""
    return {
        "verticals": _pairs(v.name for v in document.verticals),
        "publishers": _pairs(p.name for p in document.publishers),
        "buyers": _pairs(b.name for b in document.buyers),
        "campaigns": [(c.name, f"{c.name} ({c.buyer}, {c.vertical})") for c in document.campaigns],
        "trees": [(t.name, f"{t.name} ({t.vertical})") for t in document.trees],
        "vertical_fields": {v.name: _pairs(f.name for f in v.fields) for v in document.verticals},
        "bands": _pairs(
            sorted(
                {
                    band.name
                    for policy in [
                        *(v.screening for v in document.verticals),
                        *(p.screening for p in document.publishers),
                    ]
                    if policy is not None
                    for band in policy.bands
                }
            )
        ),
        "field_types": _pairs(FieldType),
        "filter_ops": _pairs(FilterOp),
        "price_types": _pairs(PriceType),
        "post_prices": _pairs(PostPrice),
        "payout_types": [
            (PayoutType.REVENUE_SHARE.value, "revenue share (percent of the sale)"),
            (PayoutType.FIXED.value, "fixed amount per sold lead"),
        ],
        "flows": _pairs(Flow),
        "lead_types": _pairs(LeadType),
        "ties": _pairs(Ties),
        "days": DAYS,
        "periods": PERIODS,
        "time_zones": time_zones(),
    }


def normalized(kind: Kind, data: dict[str, Any]) -> dict[str, Any]:
    """Form data in the shape the file takes, where a form cannot say it directly."""
    if kind == "campaigns":
        for flt in data.get("filters") or []:
            if isinstance(flt, dict) and flt.get("op") == FilterOp.EXISTS.value:
                value = str(flt.get("value", "true")).strip().lower()
                flt["value"] = value not in ("false", "no", "0")
    if kind == "publishers":
        payout = data.get("payout")
        if isinstance(payout, dict):
            unused = "percent" if payout.get("type") == PayoutType.FIXED.value else "amount"
            payout.pop(unused, None)
    return data


# --- pages ---------------------------------------------------------------------------------


def _urls(request: Request, kind: Kind, key: str | None) -> dict[str, str]:
    root = console_root(request)
    segment = quote(key, safe="") if key is not None else NEW
    return {
        "action_url": f"{root}/config/{kind}/{segment}",
        "yaml_url": f"{root}/config/{kind}/{segment}/yaml",
    }


def _render(
    request: Request,
    *,
    kind: Kind,
    key: str | None,
    state: dict[str, Any],
    document: ConfigDocument,
    base: int,
    mode: str = "form",
    checked: Checked | None = None,
    form_problems: dict[str, list[str]] | None = None,
    removing: bool = False,
    trial: TrialOutcome | None = None,
    status_code: int = 200,
    applied: int | None = None,
    message: str | None = None,
    yaml_source: str | None = None,
) -> HTMLResponse:
    problems: dict[str, list[str]] = {}
    for source in (form_problems or {}, checked.problems if checked else {}):
        for path, reasons in source.items():
            problems.setdefault(path, []).extend(reasons)
    listed = [(path, why) for path, reasons in problems.items() for why in reasons]
    listed += [("", why) for why in (checked.elsewhere if checked else [])]
    labels = LABELS[kind]
    name = key or ""
    heading = (f"New {labels.one}" if key is None else f"{labels.one.capitalize()} {name}") + (
        " (YAML)" if mode == "yaml" else ""
    )
    context = {
        "nav": "config",
        "kind": kind,
        "labels": labels,
        "heading": heading,
        "original": key,
        "state": state,
        "problems": problems,
        "form_problems": listed,
        "checked": checked if not listed else None,
        "removing": removing,
        "base": base,
        "mode": mode,
        "trial": trial,
        "applied": applied,
        "message": message,
        "opt": options(document),
        "shown": SHOWN[kind],
        "revoked": REVOKED_KEY_SHA256,
        "yaml_source": yaml_source
        if yaml_source is not None
        else yaml.safe_dump(state, sort_keys=False, allow_unicode=True, width=88),
        **_urls(request, kind, key),
    }
    template = "edit_yaml.html" if mode == "yaml" else f"edit_{kind}.html"
    return page(request, template, context, status_code=status_code)


def _missing(request: Request, kind: Kind, key: str) -> HTMLResponse:
    what = f"There is no {LABELS[kind].one} {key!r}."
    return page(
        request,
        "not_found.html",
        {"nav": "config", "heading": f"No such {LABELS[kind].one}", "what": what},
        status_code=404,
    )


async def _open(rt: Runtime, kind: Kind, key: str | None) -> tuple[ConfigDocument, int, Any]:
    """The stored document, its version and the resource (None when new or missing)."""
    async with rt.sessions() as session:
        document, version = await load_document(session)
    if key is None:
        return document, version, None
    for item in getattr(document, kind):
        if resource_key(kind, item) == key:
            spec = item.model_dump(mode="json", exclude_none=True)
            for block in YAML_BLOCKS.get(kind, ()):
                part = getattr(item, block)
                if part is not None:
                    spec[block] = compact(part)
            return document, version, redact(kind, spec)
    return document, version, None


YAML_BLOCKS: dict[Kind, tuple[str, ...]] = {
    "verticals": ("screening",),
    "publishers": ("screening",),
    "campaigns": ("delivery",),
}


def compact(model: BaseModel) -> dict[str, Any]:
    """A block as its YAML textarea shows it: defaults left out when they read back the same."""
    full: dict[str, Any] = model.model_dump(mode="json", exclude_none=True)
    short: dict[str, Any] = model.model_dump(mode="json", exclude_none=True, exclude_defaults=True)
    try:
        same = type(model).model_validate(short).model_dump(mode="json", exclude_none=True) == full
    except ValidationError:
        same = False
    return short if same else full


@router.get("/{kind}/{key}", response_class=HTMLResponse)
async def edit(request: Request, kind: str, key: str, rt: ReaderDep) -> Response:
    """A resource in its editor (key _new: a new one, prefilled from the query)."""
    checked_kind = kind_of(kind)
    if checked_kind is None:
        return _unknown_kind(request, kind)
    original = None if key == NEW else key
    document, version, found = await _open(rt, checked_kind, original)
    if original is not None and found is None:
        return _missing(request, checked_kind, original)
    state = found if found is not None else _new_state(checked_kind, request, document)
    applied = request.query_params.get("applied")
    return _render(
        request,
        kind=checked_kind,
        key=original,
        state=state,
        document=document,
        base=version,
        applied=int(applied) if applied and applied.isdigit() else None,
        message=request.query_params.get("done"),
    )


@router.get("/{kind}/{key}/yaml", response_class=HTMLResponse)
async def edit_yaml(request: Request, kind: str, key: str, rt: ReaderDep) -> Response:
    """A resource as YAML, as in the configuration file."""
    checked_kind = kind_of(kind)
    if checked_kind is None:
        return _unknown_kind(request, kind)
    original = None if key == NEW else key
    document, version, found = await _open(rt, checked_kind, original)
    if original is not None and found is None:
        return _missing(request, checked_kind, original)
    state = found if found is not None else _new_state(checked_kind, request, document)
    return _render(
        request,
        kind=checked_kind,
        key=original,
        state=state,
        document=document,
        base=version,
        mode="yaml",
    )


def _new_state(kind: Kind, request: Request, document: ConfigDocument) -> dict[str, Any]:
    state = copy.deepcopy(NEW_RESOURCES[kind])
    prefill = {"campaigns": ("buyer", "vertical"), "trees": ("vertical",)}.get(kind, ())
    if kind == "routes":
        prefill = ("publisher", "vertical", "tree")
    for name in prefill:
        if value := request.query_params.get(name):
            state[name] = value
    only_one = len(document.verticals) == 1
    if kind in ("campaigns", "trees", "routes") and "vertical" not in state and only_one:
        state["vertical"] = document.verticals[0].name
    return state


def _read_state(kind: Kind, form: FormData) -> tuple[dict[str, Any], dict[str, list[str]], str]:
    """The resource a posted editor holds, the inputs that could not be read, the YAML."""
    mode = str(form.get("_mode") or "form")
    if mode == "yaml":
        source = str(form.get("_yaml") or "")
        try:
            loaded = yaml.safe_load(source) if source.strip() else {}
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
            return {}, {"": [f"not valid YAML{where}: {getattr(exc, 'problem', exc)}"]}, source
        if not isinstance(loaded, dict):
            return {}, {"": [f"a {LABELS[kind].one} is a mapping of settings"]}, source
        return loaded, {}, source
    items = [(name, value) for name, value in form.multi_items() if isinstance(value, str)]
    parsed = forms.parse_form(items)
    return normalized(kind, parsed.data), parsed.problems, ""


def _base(form: FormData) -> int | None:
    value = str(form.get("_base") or "")
    return int(value) if value.isdigit() else None


@router.post("/{kind}/{key}", response_class=HTMLResponse)
async def submit(request: Request, kind: str, key: str, acting: ConfigureDep) -> Response:
    """What the pressed button says: a row change, check, apply, remove, or a campaign's test."""
    rt = acting.rt
    checked_kind = kind_of(kind)
    if checked_kind is None:
        return _unknown_kind(request, kind)
    original = None if key == NEW else key
    form = await request.form()
    action = str(form.get("_action") or "check")
    state, form_problems, source = _read_state(checked_kind, form)
    mode = str(form.get("_mode") or "form")
    since = _base(form)
    document, version, found = await _open(rt, checked_kind, original)
    if original is not None and found is None:
        return _missing(request, checked_kind, original)
    render: dict[str, Any] = {
        "kind": checked_kind,
        "key": original,
        "document": document,
        "base": since if since is not None else version,
        "mode": mode,
        "yaml_source": source if mode == "yaml" else None,
    }
    if action.startswith(ROW_BUTTONS):
        return _render(request, state=forms.act(state, action), **render)
    if action in ("preview_request", "send_test") and checked_kind == "campaigns":
        lead_text = str(form.get("_test_lead") or "")
        if action == "preview_request":
            trial = preview_requests(rt, document, state, found, lead_text)
        else:
            trial = await send_test(rt, document, state, found, lead_text)
        return _render(request, state=state, trial=trial, **render)
    if action in ("remove_check", "remove_apply") and original is not None:
        draft = Draft(checked_kind, original, None)
        if action == "remove_check":
            checked = await changes.check(rt, draft, since=since)
            status = 200 if checked.valid else 422
            return _render(
                request, state=state, checked=checked, removing=True, status_code=status, **render
            )
        outcome = await changes.apply(rt, draft, operator=acting.caller.name, since=since)
        if isinstance(outcome, Checked):
            return _render(
                request, state=state, checked=outcome, removing=True, status_code=409, **render
            )
        done = f"Removed {LABELS[checked_kind].one} {original} (version {outcome.version})."
        return notice(f"{console_root(request)}/config/{checked_kind}", done)
    if form_problems:
        return _render(request, state=state, form_problems=form_problems, status_code=422, **render)
    draft = Draft(checked_kind, original, state)
    if action != "apply":
        checked = await changes.check(rt, draft, since=since)
        render["base"] = checked.version
        status = 200 if checked.valid else 422
        return _render(request, state=state, checked=checked, status_code=status, **render)
    outcome = await changes.apply(rt, draft, operator=acting.caller.name, since=since)
    if isinstance(outcome, Checked):
        render["base"] = outcome.version
        status = 409 if outcome.conflict and outcome.valid else 422
        return _render(request, state=state, checked=outcome, status_code=status, **render)
    return _applied(request, checked_kind, state, outcome)


def _applied(request: Request, kind: Kind, state: dict[str, Any], outcome: Applied) -> Response:
    key = changes.resource_key_of(kind, state)
    target = f"{console_root(request)}/config/{kind}/{quote(key, safe='')}"
    if not outcome.entries:
        return notice(target, "No changes: the configuration already says this.")
    if outcome.new_api_keys:  # shown once, never in a URL
        return page(
            request,
            "api_key.html",
            {"nav": "config", "keys": outcome.new_api_keys, "version": outcome.version},
        )
    return RedirectResponse(f"{target}?applied={outcome.version}", status_code=303)


def _unknown_kind(request: Request, kind: str) -> HTMLResponse:
    what = f"There is nothing called {kind!r} in the configuration; kinds: {', '.join(KINDS)}."
    return page(
        request,
        "not_found.html",
        {"nav": "config", "heading": "Page not found", "what": what},
        status_code=404,
    )
