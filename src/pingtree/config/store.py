"""The configuration in the database: load it whole, and apply a document as a plan."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from pingtree import audit
from pingtree.buyers.model import Buyer
from pingtree.config import history
from pingtree.config.diff import field_changes
from pingtree.config.document import (
    KINDS,
    MODELS,
    ConfigDocument,
    Kind,
    destination_errors,
    resource_key,
)
from pingtree.config.errors import ConfigError, ConfigIssue, issues_from_validation
from pingtree.config.files import STRICT, parse_document
from pingtree.config.history import Source
from pingtree.credentials.at_rest import redact, rotate_campaign, seal_campaign, seal_webhook
from pingtree.credentials.keys import SecretKeys
from pingtree.delivery.destinations import Allowlist
from pingtree.publishers.model import Publisher, hash_api_key, new_api_key
from pingtree.storage.db import dialect_insert
from pingtree.storage.tables import ConfigResource, ConfigState


@dataclass
class Plan:
    """What applying a document creates, changes and removes."""

    create: list[str] = field(default_factory=list)
    change: list[str] = field(default_factory=list)
    remove: list[str] = field(default_factory=list)
    new_api_keys: dict[str, str] = field(default_factory=dict)
    changes: dict[str, list[str]] = field(default_factory=dict)
    """Field-level differences of each changed resource (see config.diff)."""

    @property
    def empty(self) -> bool:
        return not (self.create or self.change or self.remove)

    def lines(self) -> list[str]:
        """The plan as `pingtree apply` prints it."""
        out = [f"+ create {name}" for name in self.create]
        for name in self.change:
            out.append(f"~ change {name}")
            out += [f"    {line}" for line in self.changes.get(name, [])]
        out += [f"- remove {name}" for name in self.remove]
        return out or ["no changes"]


async def load_document(session: AsyncSession) -> tuple[ConfigDocument, int]:
    """The stored configuration and its version.

    The version is read first: on PostgreSQL each statement sees what was committed when
    it began, so a change committed in between is in the resources read but not in the
    version, which is then older than them (never newer) and the next poll loads again.
    """
    version = await session.scalar(select(ConfigState.version).where(ConfigState.id == 1))
    rows = (await session.scalars(select(ConfigResource).order_by(ConfigResource.name))).all()
    data: dict[str, list[dict[str, Any]]] = {kind: [] for kind in KINDS}
    for row in rows:
        data.setdefault(row.kind, []).append(row.spec)
    return ConfigDocument.model_validate(data), int(version or 0)


async def current_version(session: AsyncSession) -> int:
    """The configuration version, to notice changes made by another process."""
    version = await session.scalar(select(ConfigState.version).where(ConfigState.id == 1))
    return int(version or 0)


def _stored_spec(item: BaseModel) -> dict[str, Any]:
    return item.model_dump(mode="json", exclude_none=True)


def _with_hashed_key(
    publisher: Publisher, existing: dict[str, Any] | None, plan: Plan
) -> Publisher:
    """Keys are stored only as hashes; a new publisher without a key gets one, shown once."""
    if publisher.api_key:
        return publisher.model_copy(
            update={"api_key": None, "api_key_sha256": hash_api_key(publisher.api_key)}
        )
    if publisher.api_key_sha256:
        return publisher
    if existing and existing.get("api_key_sha256"):
        return publisher.model_copy(update={"api_key_sha256": existing["api_key_sha256"]})
    key = new_api_key()
    plan.new_api_keys[publisher.name] = key
    return publisher.model_copy(update={"api_key_sha256": hash_api_key(key)})


def _buyer_key_hashed(buyer: Buyer, existing: dict[str, Any] | None) -> Buyer:
    """A buyer's API key (for returns) is stored only as its hash; none is made up."""
    if buyer.api_key:
        return buyer.model_copy(
            update={"api_key": None, "api_key_sha256": hash_api_key(buyer.api_key)}
        )
    if buyer.api_key_sha256 is None and existing and existing.get("api_key_sha256"):
        return buyer.model_copy(update={"api_key_sha256": existing["api_key_sha256"]})
    return buyer


async def apply_document(
    session: AsyncSession,
    document: ConfigDocument,
    *,
    now: datetime,
    prune: bool = True,
    dry_run: bool = False,
    allow: Allowlist = STRICT,
    keys: SecretKeys | None = None,
    actor: str = "unknown",
    source: Source = Source.SYSTEM,
) -> Plan:
    """Make the stored configuration equal the document; idempotent. Caller commits.

    allow: buyer destinations allowed although private (Settings.buyer_allowlist).
    keys: encrypt secrets given in clear (Settings.secret_keys); without, they are refused.
    actor: who made the change, as the audit trail names them ("operator:ana", "cli:root");
    source: where (the history shows both).
    """
    refused = destination_errors(document, allow)
    if refused:
        raise ConfigError([ConfigIssue(_by_name(document, path), why) for path, why in refused])
    await lock_configuration(session)
    rows = (await session.scalars(select(ConfigResource))).all()
    stored = {(r.kind, r.name): r for r in rows}
    plan = Plan()
    changed: list[Written] = []
    wanted: set[tuple[str, str]] = set()
    unsealed: list[ConfigIssue] = []
    for kind in KINDS:
        for item in getattr(document, kind):
            name = resource_key(kind, item)
            key = (kind, name)
            wanted.add(key)
            row = stored.get(key)
            if isinstance(item, Publisher):
                item = _with_hashed_key(item, row.spec if row else None, plan)
            if isinstance(item, Buyer):
                item = _buyer_key_hashed(item, row.spec if row else None)
            spec = _stored_spec(item)
            if kind == "campaigns":
                spec, problems = seal_campaign(spec, row.spec if row else None, keys)
                unsealed += [ConfigIssue(f"{kind}/{name}.{path}", why) for path, why in problems]
            if kind in ("publishers", "buyers"):
                spec, problems = seal_webhook(spec, row.spec if row else None, keys)
                unsealed += [ConfigIssue(f"{kind}/{name}.{path}", why) for path, why in problems]
            label = f"{kind}/{name}"
            if row is None:
                plan.create.append(label)
                changed.append(Written(kind, name, None, spec))
                if not dry_run:
                    session.add(ConfigResource(kind=kind, name=name, spec=spec, updated_at=now))
            elif row.spec != spec:
                plan.change.append(label)
                plan.changes[label] = field_changes(kind, label, row.spec, spec)
                changed.append(Written(kind, name, row.spec, spec))
                if not dry_run:
                    row.spec = spec
                    row.updated_at = now
    if unsealed:
        raise ConfigError(unsealed)  # the caller's transaction rolls back what was added
    if prune:
        # remove dependents first: routes before trees before campaigns...
        rank: dict[str, int] = {kind: i for i, kind in enumerate(KINDS)}
        for gone in sorted(set(stored) - wanted, key=lambda k: (-rank[k[0]], k[1])):
            plan.remove.append(f"{gone[0]}/{gone[1]}")
            changed.append(Written(*gone, stored[gone].spec, None))
            if not dry_run:
                await session.delete(stored[gone])
    if dry_run:
        plan.new_api_keys.clear()
    elif not plan.empty:
        await _written(session, changed, now=now, actor=actor, source=source)
    return plan


@dataclass(frozen=True)
class Written:
    """One resource a change writes: its stored spec before (None: new) and after (None:
    removed)."""

    kind: str
    name: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None

    @property
    def label(self) -> str:
        return f"{self.kind}/{self.name}"

    @property
    def action(self) -> str:
        return "create" if self.before is None else "remove" if self.after is None else "change"

    def lines(self) -> list[str]:
        """The resource's lines in the history: what happened, then each field's change."""
        sign = {"create": "+ create", "change": "~ change", "remove": "- remove"}[self.action]
        out = [f"{sign} {self.label}"]
        if self.after is not None:
            fields = field_changes(self.kind, self.label, self.before or {}, self.after)
            if self.before is None:  # every field of a new resource, without "(none) ->"
                fields = [line.replace(": (none) -> ", ": ", 1) for line in fields]
            out += [f"    {line}" for line in fields]
        return out


_ORDER = {"create": 0, "change": 1, "remove": 2}


async def _written(
    session: AsyncSession,
    changed: list[Written],
    *,
    now: datetime,
    actor: str,
    source: Source,
) -> None:
    """Every configuration write ends here: a new version, one audit event per resource
    and one entry in the configuration's history, in the caller's transaction."""
    await _bump_version(session)
    events = [
        config_event(w.kind, w.name, w.before, w.after, now=now, actor=actor) for w in changed
    ]
    await audit.append(session, events)
    ordered = sorted(changed, key=lambda w: _ORDER[w.action])  # stable: the plan's order
    await history.record_change(
        session,
        operator=audit.named(actor),
        source=source,
        now=now,
        lines=[line for w in ordered for line in w.lines()],
        before={w.label: w.before for w in ordered},
        after={w.label: w.after for w in ordered},
    )


def config_event(
    kind: str,
    name: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    *,
    now: datetime,
    actor: str,
) -> audit.Event:
    """A resource created (no before), changed or removed (no after), for the audit trail;
    credentials hidden as in an export."""
    action = "create" if before is None else "remove" if after is None else "change"
    return audit.Event(
        audit.EventKind.CONFIG_CHANGED,
        now,
        actor=actor,
        subject=f"{kind}/{name}",
        details={
            "action": action,
            "before": redact(kind, before) if before is not None else None,
            "after": redact(kind, after) if after is not None else None,
        },
    )


async def lock_configuration(session: AsyncSession) -> None:
    """Take the configuration's write lock for this transaction.

    Each change is checked against the whole configuration; two writers checking at once
    could each pass against the other's old state. PostgreSQL locks the state row until
    commit; SQLite has one writer anyway (FOR UPDATE renders nothing there).
    """
    insert = dialect_insert(session)
    await session.execute(insert(ConfigState).values(id=1, version=0).on_conflict_do_nothing())
    await session.execute(select(ConfigState.version).where(ConfigState.id == 1).with_for_update())


async def _bump_version(session: AsyncSession) -> None:
    updated = await session.execute(
        update(ConfigState).where(ConfigState.id == 1).values(version=ConfigState.version + 1)
    )
    if updated.rowcount == 0:  # type: ignore[attr-defined]
        session.add(ConfigState(id=1, version=1))


_POSITION = re.compile(r"^([a-z]+)\[(\d+)\]")


def _by_name(document: ConfigDocument, path: str) -> str:
    """'campaigns[3].delivery.post.url' -> 'campaigns/acme-auto.delivery.post.url'."""
    found = _POSITION.match(path)
    if found is None:
        return path
    kind = next(k for k in KINDS if k == found[1])
    item = getattr(document, kind)[int(found[2])]
    return f"{kind}/{resource_key(kind, item)}{path[found.end() :]}"


def _parse_named(
    data: dict[str, Any], *, reason: str | None = None, allow: Allowlist | None = STRICT
) -> ConfigDocument:
    """parse_document(data), with each problem's resource named instead of its list position.

    The caller of put/delete never saw the whole document, so `campaigns[3].buyer` would
    point nowhere; `campaigns/acme-auto.buyer` names the resource that has the problem.
    """
    try:
        return parse_document(data, allow=allow)
    except ConfigError as exc:
        issues: list[ConfigIssue] = []
        for issue in exc.issues:
            found = _POSITION.match(issue.path)
            items = data.get(found[1], []) if found else []
            if found and int(found[2]) < len(items):
                item = items[int(found[2])]
                name = item.get("name") or f"{item.get('publisher')}:{item.get('vertical')}"
                path = f"{found[1]}/{name}{issue.path[found.end() :]}"
                issue = replace(issue, path=path, reason=reason or issue.reason)
            issues.append(issue)
        raise ConfigError(issues) from None


async def with_stored(
    session: AsyncSession, document: ConfigDocument, *, allow: Allowlist = STRICT
) -> ConfigDocument:
    """The stored configuration with the document's resources laid over it, checked whole.

    What `apply --keep` applies: a partial file may refer to resources already stored.
    """
    await lock_configuration(session)
    stored, _ = await load_document(session)
    data = stored.model_dump(mode="json", exclude_none=True)
    for kind in KINDS:
        given = getattr(document, kind)
        keys = {resource_key(kind, item) for item in given}
        kept = [i for i in getattr(stored, kind) if resource_key(kind, i) not in keys]
        data[kind] = [_stored_spec(i) for i in kept] + [_stored_spec(i) for i in given]
    return _parse_named(data, allow=allow)


async def put_resource(
    session: AsyncSession,
    kind: Kind,
    spec: dict[str, Any],
    *,
    now: datetime,
    allow: Allowlist = STRICT,
    keys: SecretKeys | None = None,
    actor: str = "unknown",
    source: Source = Source.SYSTEM,
) -> tuple[BaseModel, Plan]:
    """Create or replace one resource, checked against the whole configuration."""
    try:
        item = MODELS[kind].model_validate(spec)
    except ValidationError as exc:
        raise ConfigError(issues_from_validation(exc)) from None
    await lock_configuration(session)
    document, _ = await load_document(session)
    items = [
        i for i in getattr(document, kind) if resource_key(kind, i) != resource_key(kind, item)
    ]
    data = document.model_dump(mode="json", exclude_none=True)
    data[kind] = [_stored_spec(i) for i in items] + [spec]
    candidate = _parse_named(data, allow=allow)
    plan = await apply_document(
        session,
        candidate,
        now=now,
        prune=False,
        allow=allow,
        keys=keys,
        actor=actor,
        source=source,
    )
    stored = (
        await session.execute(
            select(ConfigResource.spec).where(
                ConfigResource.kind == kind, ConfigResource.name == resource_key(kind, item)
            )
        )
    ).scalar_one()
    return MODELS[kind].model_validate(stored), plan


async def delete_resource(
    session: AsyncSession,
    kind: Kind,
    name: str,
    *,
    now: datetime,
    actor: str = "unknown",
    source: Source = Source.SYSTEM,
) -> bool:
    """Remove one resource, refused while something else refers to it."""
    await lock_configuration(session)
    document, _ = await load_document(session)
    items = getattr(document, kind)
    remaining = [i for i in items if resource_key(kind, i) != name]
    if len(remaining) == len(items):
        return False
    data = document.model_dump(mode="json", exclude_none=True)
    data[kind] = [_stored_spec(i) for i in remaining]
    # Names what still refers to it; removing something never adds a destination.
    _parse_named(data, reason=f"still refers to {kind}/{name}", allow=None)
    before = next(_stored_spec(i) for i in items if resource_key(kind, i) == name)
    await session.execute(
        delete(ConfigResource).where(ConfigResource.kind == kind, ConfigResource.name == name)
    )
    await _written(
        session, [Written(kind, name, before, None)], now=now, actor=actor, source=source
    )
    return True


async def rotate_secrets(
    session: AsyncSession,
    keys: SecretKeys,
    *,
    now: datetime,
    actor: str = "unknown",
    source: Source = Source.SYSTEM,
) -> int:
    """Encrypt every stored secret again with the newest key; how many campaigns changed."""
    await lock_configuration(session)
    rows = (
        await session.scalars(select(ConfigResource).where(ConfigResource.kind == "campaigns"))
    ).all()
    changed: list[Written] = []
    for row in rows:
        spec = rotate_campaign(row.spec, keys)
        if spec != row.spec:
            changed.append(Written(row.kind, row.name, row.spec, spec))
            row.spec, row.updated_at = spec, now
    if changed:
        await _written(session, changed, now=now, actor=actor, source=source)
    return len(changed)
