"""An operator account as the CLI lists it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pingtree.operators.roles import Role

NAME_PATTERN = r"^[a-z0-9][a-z0-9_.@-]{0,63}$"


class OperatorError(Exception):
    """An operator command that cannot be done (unknown name, taken name, revoked)."""


@dataclass(frozen=True)
class Operator:
    """A named operator: role and the token's history (never the token)."""

    name: str
    role: Role
    created_at: datetime
    rotated_at: datetime | None = None
    revoked_at: datetime | None = None

    @property
    def active(self) -> bool:
        """Whether its token is accepted."""
        return self.revoked_at is None
