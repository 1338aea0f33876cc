"""A delivery's secrets, worked out when a request is built (never stored)."""

from __future__ import annotations

import os
from collections.abc import Mapping

from pingtree.credentials.keys import SecretKeyError, SecretKeys
from pingtree.credentials.refs import ENCRYPTED, EnvSecret, SecretSpec


class SecretUnavailable(Exception):
    """A secret a request needs cannot be had; the request is not sent."""


class SecretResolver:
    """Reads `env:` secrets from the environment and opens `enc:` ones with the keys."""

    def __init__(self, keys: SecretKeys | None, environ: Mapping[str, str] | None = None) -> None:
        self.keys = keys
        self.environ = os.environ if environ is None else environ

    def values(self, secrets: Mapping[str, SecretSpec]) -> dict[str, str]:
        """Every declared secret's value, by name."""
        return {name: self.value(name, spec) for name, spec in secrets.items()}

    def value(self, name: str, spec: SecretSpec) -> str:
        """One secret's value."""
        if isinstance(spec, EnvSecret):
            found = self.environ.get(spec.env)
            if not found:
                raise SecretUnavailable(
                    f"secret {name!r}: environment variable {spec.env} is unset"
                )
            return found
        if spec.startswith(ENCRYPTED):
            if self.keys is None:
                raise SecretUnavailable(f"secret {name!r} is encrypted; PINGTREE_SECRET_KEY unset")
            try:
                return self.keys.open(spec)
            except SecretKeyError as exc:
                raise SecretUnavailable(f"secret {name!r} {exc}") from None
        return spec  # stored in clear before a key was set (or in a test document)
