"""The configuration's lists, one-click pause and resume, and a publisher's API key.

A pause, a resume and every key action are configuration changes like any other: a draft
through `changes` (checked as the file is, recorded with the operator), applied at once.
"""

from __future__ import annotations

import copy
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from pingtree.config.document import Kind, resource_key
from pingtree.config.store import load_document
from pingtree.console import changes
from pingtree.console.auth import ConfigureDep, ReaderDep, safe_next
from pingtree.console.changes import Checked, Draft
from pingtree.console.editors import LABELS, kind_of
from pingtree.console.render import ConsoleRoute, console_root, notice, page
from pingtree.publishers.model import REVOKED_KEY_SHA256, new_api_key

router = APIRouter(prefix="/console/config", include_in_schema=False, route_class=ConsoleRoute)

PAUSABLE: tuple[Kind, ...] = ("publishers", "buyers", "campaigns")


@router.get("/{kind}", response_class=HTMLResponse)
async def listing(request: Request, kind: str, rt: ReaderDep) -> Response:
    """Every resource of a kind, with its editor, and pause/resume where it has one."""
    checked = kind_of(kind)
    if checked is None:
        what = f"There is nothing called {kind!r} in the configuration."
        missing = {"nav": "config", "heading": "Page not found", "what": what}
        return page(request, "not_found.html", missing, status_code=404)
    async with rt.sessions() as session:
        document, version = await load_document(session)
    items = [(resource_key(checked, item), item) for item in getattr(document, checked)]
    context: dict[str, Any] = {
        "nav": "config",
        "kind": checked,
        "labels": LABELS[checked],
        "items": items,
        "version": version,
        "doc": document,
        "pausable": checked in PAUSABLE,
        "revoked": REVOKED_KEY_SHA256,
        "done": request.query_params.get("done"),
    }
    return page(request, "config_list.html", context)


async def _stored(acting_rt: Any, kind: Kind, key: str) -> dict[str, Any] | None:
    async with acting_rt.sessions() as session:
        return await changes.stored_resource(session, kind, key)


@router.post("/{kind}/{key}/active", response_class=HTMLResponse)
async def switch(
    request: Request,
    kind: str,
    key: str,
    acting: ConfigureDep,
    active: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",
) -> Response:
    """Pause (active=false) or resume (active=true) a publisher, buyer or campaign."""
    checked = kind_of(kind)
    if checked not in PAUSABLE:
        return page(request, "not_found.html", {"nav": "config"}, status_code=404)
    spec = await _stored(acting.rt, checked, key)
    if spec is None:
        what = f"There is no {LABELS[checked].one} {key!r}."
        return page(request, "not_found.html", {"nav": "config", "what": what}, status_code=404)
    wanted = active.strip().lower() == "true"
    spec = copy.deepcopy(spec)
    spec["active"] = wanted
    outcome = await changes.apply(
        acting.rt, Draft(checked, key, spec), operator=acting.caller.name, since=None
    )
    if isinstance(outcome, Checked):
        return _refused(request, checked, key, outcome)
    verb = "Resumed" if wanted else "Paused"
    done = f"{verb} {LABELS[checked].one} {key}" + (
        f" (version {outcome.version})." if outcome.entries else " (no change)."
    )
    target = safe_next(next, request) if next else f"{console_root(request)}/config/{checked}"
    return notice(target, done)


def _refused(request: Request, kind: Kind, key: str, checked: Checked) -> HTMLResponse:
    context = {
        "nav": "config",
        "kind": kind,
        "key": key,
        "labels": LABELS[kind],
        "problems": checked.all_problems(),
    }
    return page(request, "refused.html", context, status_code=422)


KEY_ACTIONS = {
    "rotate": (
        "Rotate the API key",
        "A new key replaces the current one, which stops working at once. "
        "The new key is shown once.",
    ),
    "revoke": (
        "Revoke the API key",
        "The current key stops working at once and no new one is issued: the publisher "
        "cannot send leads until you issue a key.",
    ),
    "issue": ("Issue an API key", "A new key is issued and shown once."),
}


@router.post("/publishers/{key}/key", response_class=HTMLResponse)
async def api_key(
    request: Request,
    key: str,
    acting: ConfigureDep,
    do: Annotated[str, Form()] = "",
    confirmed: Annotated[str, Form()] = "",
) -> Response:
    """Rotate, revoke or issue a publisher's API key (after a confirmation)."""
    spec = await _stored(acting.rt, "publishers", key)
    if spec is None or do not in KEY_ACTIONS:
        what = f"There is no publisher {key!r}." if spec is None else f"No key action {do!r}."
        return page(request, "not_found.html", {"nav": "config", "what": what}, status_code=404)
    title, meaning = KEY_ACTIONS[do]
    if confirmed != "yes":
        context = {"nav": "config", "publisher": key, "do": do, "title": title, "meaning": meaning}
        return page(request, "key_confirm.html", context)
    spec = copy.deepcopy(spec)
    spec.pop("api_key_sha256", None)
    plain: str | None = None
    if do == "revoke":
        spec["api_key_sha256"] = REVOKED_KEY_SHA256
    else:
        plain = new_api_key()
        spec["api_key"] = plain
    outcome = await changes.apply(
        acting.rt, Draft("publishers", key, spec), operator=acting.caller.name, since=None
    )
    if isinstance(outcome, Checked):
        return _refused(request, "publishers", key, outcome)
    if plain is not None:
        return page(
            request,
            "api_key.html",
            {"nav": "config", "keys": {key: plain}, "version": outcome.version},
        )
    done = f"Revoked the API key of {key} (version {outcome.version})."
    return notice(f"{console_root(request)}/config/publishers/{quote(key, safe='')}", done)
