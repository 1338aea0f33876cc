"""Buyer credentials: secrets declared in the configuration, kept out of storage and logs.

A campaign's delivery declares `secrets:` (each from the environment or encrypted at rest)
and refers to them as `{{ secrets.NAME }}` in URLs, headers, templates, auth and signing.
"""

from pingtree.credentials.keys import SecretKeys
from pingtree.credentials.masking import Masker
from pingtree.credentials.refs import EnvSecret, SecretSpec, references, substitute
from pingtree.credentials.resolve import SecretResolver, SecretUnavailable

__all__ = [
    "EnvSecret",
    "Masker",
    "SecretKeys",
    "SecretResolver",
    "SecretSpec",
    "SecretUnavailable",
    "references",
    "substitute",
]
