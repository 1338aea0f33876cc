"""A console edit as a new version of the one configuration document.

An editor hands in a draft: one resource as it should be (or None to remove it). The draft
is laid over the stored document and the whole is checked exactly as `pingtree apply`
checks a file (`parse_document`, then the dry run of `apply_document`); problems come
back by path inside the edited resource, so the editor shows each beside its input, and
the plan shows what will change. Applying checks it all again under the configuration's
lock, refuses if someone else changed the configuration since the operator looked; the
store records the change with its operator in the audit trail and the history.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any, cast

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from pingtree import audit
from pingtree.config.diff import field_changes
from pingtree.config.document import KINDS, ConfigDocument, Kind, resource_key
from pingtree.config.errors import ConfigError, ConfigIssue
from pingtree.config.files import parse_document
from pingtree.config.history import Source
from pingtree.config.store import (
    Plan,
    apply_document,
    current_version,
    load_document,
    lock_configuration,
)
from pingtree.credentials.at_rest import AUTH_SECRETS
from pingtree.credentials.masking import MASK
from pingtree.runtime import Runtime

SOURCE = "console"
_POSITION = re.compile(r"^([a-z]+)\[(\d+)\]")


@dataclass(frozen=True)
class Draft:
    """One resource as the operator wants it: spec None removes the resource."""

    kind: Kind
    original: str | None
    """The key the resource is stored under (None: a new resource)."""
    spec: dict[str, Any] | None

    @property
    def removing(self) -> bool:
        """Whether the draft removes the resource."""
        return self.spec is None


@dataclass
class Entry:
    """One line of the plan: a resource created, changed or removed, and its field changes."""

    action: str  # create | change | remove
    label: str
    lines: list[str] = field(default_factory=list)

    @property
    def fields(self) -> list[tuple[str, str]]:
        """(path in the resource, what changes) of each line."""
        out = []
        for line in self.lines:
            where, _, what = line.partition(": ")
            out.append((where.removeprefix(self.label).removeprefix("."), what))
        return out


@dataclass
class Checked:
    """What a draft would do: problems by path in the resource, others, and the plan."""

    version: int
    problems: dict[str, list[str]] = field(default_factory=dict)
    """Path inside the edited resource ('' for the resource as a whole) -> reasons."""
    elsewhere: list[str] = field(default_factory=list)
    """Problems of other resources the draft causes (something still refers to it...)."""
    entries: list[Entry] = field(default_factory=list)
    conflict: bool = False
    """The configuration changed since the editor was opened: look again before applying."""

    @property
    def valid(self) -> bool:
        """Whether the draft can be applied."""
        return not self.problems and not self.elsewhere

    @property
    def empty(self) -> bool:
        """Whether applying would change nothing."""
        return not self.entries

    def all_problems(self) -> list[tuple[str, str]]:
        """(path, reason) of every problem, the resource's first."""
        mine = [(path, why) for path, reasons in self.problems.items() for why in reasons]
        return mine + [("", why) for why in self.elsewhere]


@dataclass
class Applied:
    """A change made: the version it made and the keys shown once (new publishers)."""

    version: int
    entries: list[Entry]
    new_api_keys: dict[str, str] = field(default_factory=dict)


async def stored_resource(session: AsyncSession, kind: Kind, key: str) -> dict[str, Any] | None:
    """One resource as stored (its spec), or None."""
    document, _ = await load_document(session)
    for item in getattr(document, kind):
        if resource_key(kind, item) == key:
            return _spec(item)
    return None


def _spec(item: BaseModel) -> dict[str, Any]:
    return item.model_dump(mode="json", exclude_none=True)


def _candidate(document: ConfigDocument, draft: Draft) -> tuple[dict[str, Any], int | None]:
    """The stored document with the draft laid over it; the draft's position in its list."""
    data = document.model_dump(mode="json", exclude_none=True)
    items: list[dict[str, Any]] = data[draft.kind]
    keys = [resource_key(draft.kind, item) for item in getattr(document, draft.kind)]
    at = keys.index(draft.original) if draft.original in keys else None
    if draft.spec is None:
        if at is not None:
            del items[at]
        return data, None
    spec = copy.deepcopy(draft.spec)
    if at is not None:
        spec = unmask(draft.kind, spec, items[at])
        items[at] = spec
        return data, at
    items.append(spec)
    return data, len(items) - 1


def unmask(kind: str, spec: dict[str, Any], stored: dict[str, Any]) -> dict[str, Any]:
    """A campaign's credentials an editor showed as *** put back as they are stored.

    The console never shows a credential; a *** left untouched means "keep it".
    """
    if kind != "campaigns":
        return spec
    spec = copy.deepcopy(spec)
    delivery = spec.get("delivery")
    kept = stored.get("delivery") or {}
    if not isinstance(delivery, dict):
        return spec
    auth, kept_auth = delivery.get("auth"), kept.get("auth") or {}
    if isinstance(auth, dict):
        for key in AUTH_SECRETS:
            if auth.get(key) == MASK and key in kept_auth:
                auth[key] = kept_auth[key]
    secrets, kept_secrets = delivery.get("secrets"), kept.get("secrets") or {}
    if isinstance(secrets, dict):
        for name, value in secrets.items():
            if value == MASK and name in kept_secrets:
                secrets[name] = kept_secrets[name]
    return spec


def _sort(
    issues: list[ConfigIssue], data: dict[str, Any], draft: Draft, at: int | None
) -> tuple[dict[str, list[str]], list[str]]:
    """Problems inside the draft by their path in it; the others named by resource."""
    own_key = resource_key_of(draft.kind, draft.spec) if draft.spec is not None else None
    prefixes = []
    if at is not None:
        prefixes.append(f"{draft.kind}[{at}]")
    if own_key is not None:
        prefixes.append(f"{draft.kind}/{own_key}")
    mine: dict[str, list[str]] = {}
    elsewhere: list[str] = []
    for issue in issues:
        path = issue.path
        for prefix in prefixes:
            if path == prefix or path.startswith((prefix + ".", prefix + "[")):
                inner = path[len(prefix) :].removeprefix(".")
                reasons = mine.setdefault(inner, [])
                if issue.reason not in reasons:
                    reasons.append(issue.reason)
                break
        else:
            elsewhere.append(f"{_named(path, data)}: {issue.reason}")
    return mine, elsewhere


def resource_key_of(kind: Kind, spec: dict[str, Any]) -> str:
    """The key a resource spec will be stored under (a route's is publisher:vertical[:band])."""
    if kind == "routes":
        key = f"{spec.get('publisher')}:{spec.get('vertical')}"
        return f"{key}:{spec['band']}" if spec.get("band") else key
    return str(spec.get("name"))


def _named(path: str, data: dict[str, Any]) -> str:
    """'trees[0].tiers[1]...' -> 'trees/main.tiers[1]...' (the reader never saw positions)."""
    found = _POSITION.match(path)
    if found is None or found[1] not in KINDS:
        return path or "(configuration)"
    items = data.get(found[1]) or []
    index = int(found[2])
    if index >= len(items) or not isinstance(items[index], dict):
        return path
    key = resource_key_of(cast(Kind, found[1]), items[index])
    return f"{found[1]}/{key}{path[found.end() :]}"


def _entries(plan: Plan, document: ConfigDocument, stored: ConfigDocument) -> list[Entry]:
    """The plan with every field of a created resource listed (not only its name)."""
    out: list[Entry] = []
    created = {
        f"{kind}/{resource_key(kind, item)}": (kind, item)
        for kind in KINDS
        for item in getattr(document, kind)
    }
    for label in plan.create:
        kind, item = created[label]
        lines = field_changes(kind, label, {}, _spec(item))
        out.append(
            Entry("create", label, [line.replace(": (none) -> ", ": ", 1) for line in lines])
        )
    out += [Entry("change", label, plan.changes.get(label, [])) for label in plan.change]
    out += [Entry("remove", label) for label in plan.remove]
    return out


async def check(rt: Runtime, draft: Draft, *, since: int | None = None) -> Checked:
    """What applying the draft would do, checked as a configuration file is; nothing changes.

    since: the version the operator started from; a newer one sets `conflict`.
    """
    async with rt.sessions() as session:
        try:
            outcome = await _checked(rt, session, draft, since=since, dry_run=True)
        finally:
            await session.rollback()
    assert isinstance(outcome, Checked)
    return outcome


async def apply(
    rt: Runtime, draft: Draft, *, operator: str, since: int | None
) -> Applied | Checked:
    """Apply the draft as a new version (or answer why not), recorded with its operator.

    A draft that changes nothing is Applied with no entries and the version unchanged.
    """
    async with rt.sessions() as session:
        try:
            outcome = await _checked(
                rt, session, draft, since=since, dry_run=False, operator=operator
            )
        except BaseException:
            await session.rollback()
            raise
        if isinstance(outcome, Checked):
            await session.rollback()
            return outcome
        await session.commit()
    await rt.reload_config()
    return outcome


async def _checked(
    rt: Runtime,
    session: AsyncSession,
    draft: Draft,
    *,
    since: int | None,
    dry_run: bool,
    operator: str = "",
) -> Checked | Applied:
    await lock_configuration(session)
    stored, version = await load_document(session)
    result = Checked(version=version, conflict=since is not None and since != version)
    data, at = _candidate(stored, draft)
    allow = rt.settings.buyer_allowlist
    try:
        document = parse_document(data, allow=allow)
        plan = await apply_document(
            session,
            document,
            now=rt.clock.now(),
            prune=True,
            dry_run=dry_run or result.conflict,
            allow=allow,
            keys=rt.settings.secret_keys,
            actor=audit.operator(operator),
            source=Source.CONSOLE,
        )
    except ConfigError as exc:
        result.problems, result.elsewhere = _sort(exc.issues, data, draft, at)
        return result
    result.entries = _entries(plan, document, stored)
    if dry_run or result.conflict:
        return result
    if plan.empty:
        return Applied(version, [])
    made = await current_version(session)
    return Applied(made, result.entries, plan.new_api_keys)


async def version_now(rt: Runtime) -> int:
    """The configuration's version now (an editor remembers it, to notice others' changes)."""
    async with rt.sessions() as session:
        return await current_version(session)
