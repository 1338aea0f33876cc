"""Secrets in the stored configuration: encrypted when applied, hidden when shown."""

from __future__ import annotations

import copy
from typing import Any

from pingtree.credentials.keys import SecretKeyError, SecretKeys
from pingtree.credentials.masking import MASK
from pingtree.credentials.refs import ENCRYPTED, references

AUTH_SECRETS = ("password", "token")
IN_CLEAR = (
    "is written in clear: set PINGTREE_SECRET_KEY to store it encrypted "
    "(`pingtree secrets generate-key`), or read it from the environment with {env: NAME}"
)


def seal_campaign(
    spec: dict[str, Any], stored: dict[str, Any] | None, keys: SecretKeys | None
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """A campaign spec as stored: secrets given in clear encrypted; (path, reason) problems.

    With a key, auth written in clear (older files) becomes a secret too. A value that the
    stored spec already holds encrypted keeps its ciphertext, so applying the same file
    twice changes nothing.
    """
    spec = copy.deepcopy(spec)
    delivery: dict[str, Any] = spec["delivery"]
    secrets: dict[str, Any] = delivery.setdefault("secrets", {})
    auth = delivery.get("auth")
    if keys is not None and isinstance(auth, dict):
        for key in AUTH_SECRETS:
            value = auth.get(key)
            if isinstance(value, str) and value and not references(value):
                name = f"auth_{key}"
                while name in secrets and secrets[name] != value:
                    name += "_"
                secrets[name] = value
                auth[key] = f"{{{{ secrets.{name} }}}}"
    before = ((stored or {}).get("delivery") or {}).get("secrets") or {}
    problems: list[tuple[str, str]] = []
    for name, value in secrets.items():
        if not isinstance(value, str) or value.startswith(ENCRYPTED):
            continue
        if keys is None:
            problems.append((f"delivery.secrets.{name}", IN_CLEAR))
            continue
        previous = before.get(name)
        same = isinstance(previous, str) and _opens_to(keys, previous, value)
        secrets[name] = previous if same else keys.seal(value)
    if not secrets:
        del delivery["secrets"]  # stored as before secrets existed: no change to report
    return spec, problems


WEBHOOKS = ("postback", "webhook")
"""A publisher's postback and a buyer's webhook: their signing secret is sealed the same way."""


def seal_webhook(
    spec: dict[str, Any], stored: dict[str, Any] | None, keys: SecretKeys | None
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """A publisher or buyer spec as stored: a webhook secret given in clear encrypted."""
    problems: list[tuple[str, str]] = []
    for key in WEBHOOKS:
        hook = spec.get(key)
        value = hook.get("secret") if isinstance(hook, dict) else None
        if not isinstance(value, str) or value.startswith(ENCRYPTED):
            continue
        if keys is None:
            problems.append((f"{key}.secret", IN_CLEAR))
            continue
        spec = copy.deepcopy(spec)
        previous = ((stored or {}).get(key) or {}).get("secret")
        same = isinstance(previous, str) and _opens_to(keys, previous, value)
        spec[key]["secret"] = previous if same else keys.seal(value)
    return spec, problems


def _opens_to(keys: SecretKeys, sealed: str, value: str) -> bool:
    if not sealed.startswith(ENCRYPTED):
        return False
    try:
        return keys.open(sealed) == value
    except SecretKeyError:
        return False


def rotate_campaign(spec: dict[str, Any], keys: SecretKeys) -> dict[str, Any]:
    """A stored campaign spec with every encrypted secret encrypted again with the newest key."""
    spec = copy.deepcopy(spec)
    secrets = (spec.get("delivery") or {}).get("secrets") or {}
    for name, value in secrets.items():
        if isinstance(value, str) and value.startswith(ENCRYPTED):
            try:
                secrets[name] = keys.rotate(value)
            except SecretKeyError as exc:
                raise SecretKeyError(
                    f"campaign {spec.get('name')!r} secret {name!r} {exc}"
                ) from None
    return spec


def redact(kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    """A resource as shown or exported: no credential in clear (env and enc: stay)."""
    if kind in ("publishers", "buyers"):
        return _redact_webhooks(spec)
    if kind != "campaigns":
        return spec
    spec = copy.deepcopy(spec)
    delivery = spec.get("delivery") or {}
    auth = delivery.get("auth")
    if isinstance(auth, dict):
        for key in AUTH_SECRETS:
            value = auth.get(key)
            if isinstance(value, str) and value and not references(value):
                auth[key] = MASK
    secrets = delivery.get("secrets") or {}
    for name, value in secrets.items():
        if isinstance(value, str) and not value.startswith(ENCRYPTED):
            secrets[name] = MASK
    return spec


def _redact_webhooks(spec: dict[str, Any]) -> dict[str, Any]:
    hooks = [k for k in WEBHOOKS if isinstance(spec.get(k), dict)]
    if not hooks:
        return spec
    spec = copy.deepcopy(spec)
    for key in hooks:
        value = spec[key].get("secret")
        if isinstance(value, str) and not value.startswith(ENCRYPTED):
            spec[key]["secret"] = MASK
    return spec


def redact_document(data: dict[str, Any]) -> dict[str, Any]:
    """A configuration document (as a dict) with redact() applied to each resource."""
    return {
        kind: [redact(kind, item) for item in items] if isinstance(items, list) else items
        for kind, items in data.items()
    }
