"""How a configuration declares a secret and refers to it."""

from __future__ import annotations

import re
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field

ENCRYPTED = "enc:"
SECRET_NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"
REFERENCE = re.compile(r"\{\{\s*secrets\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
"""`{{ secrets.NAME }}`, in a URL, header, template, auth field or signing secret."""


class EnvSecret(BaseModel):
    """A secret read from an environment variable of the pingtree process."""

    model_config = ConfigDict(extra="forbid")

    env: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")


SecretSpec = EnvSecret | str
"""`{env: NAME}`, an encrypted `enc:...` value, or (only in a file) the value in clear,
encrypted when applied."""


def references(text: str | None) -> set[str]:
    """Names of the secrets a text refers to."""
    return set(REFERENCE.findall(text)) if text else set()


def substitute(text: str, values: Mapping[str, str]) -> str:
    """The text with each `{{ secrets.NAME }}` replaced by its value."""
    return REFERENCE.sub(lambda m: values.get(m[1], ""), text)


def is_reference(text: str) -> bool:
    """Whether a text is exactly one `{{ secrets.NAME }}` reference."""
    return REFERENCE.fullmatch(text.strip()) is not None
