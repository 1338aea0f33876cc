"""Who is calling: an operator token (or PINGTREE_ADMIN_TOKEN) turned into a Caller.

Every credential check of the API and the console ends here, and every failure is reported
through `credential_failed`, the one place to count or throttle failed attempts.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from pingtree.operators import repository
from pingtree.operators.roles import Permission, Role, may
from pingtree.operators.tokens import same, token_hash

ADMIN_TOKEN_OPERATOR = "admin-token"  # the name PINGTREE_ADMIN_TOKEN's holder goes by


class Credential(StrEnum):
    """Which kind of credential failed."""

    OPERATOR_TOKEN = "operator_token"  # Authorization: Bearer on the admin API or console
    CONSOLE_LOGIN = "console_login"  # the console's login form
    CONSOLE_SESSION = "console_session"  # an expired, ended or unknown session cookie
    PUBLISHER_KEY = "publisher_key"  # X-API-Key on the publisher API
    BUYER_KEY = "buyer_key"  # X-Buyer-Key on the buyer API (returns)


@dataclass(frozen=True)
class Caller:
    """An authenticated operator."""

    name: str
    role: Role
    credential_hash: str  # SHA-256 of the token it presented; a console session keeps it

    def may(self, permission: Permission) -> bool:
        """Whether this caller's role grants the permission."""
        return may(self.role, permission)


async def identify(session: AsyncSession, token: str, *, admin_token: str | None) -> Caller | None:
    """The caller a token belongs to, or None."""
    if not token:
        return None
    if admin_token and same(token, admin_token):
        return Caller(ADMIN_TOKEN_OPERATOR, Role.ADMIN, token_hash(admin_token))
    return await identify_hash(session, token_hash(token), admin_token=admin_token)


async def identify_hash(
    session: AsyncSession, hashed: str, *, admin_token: str | None
) -> Caller | None:
    """The caller whose token hashes to this (a console session's credential), or None."""
    if admin_token and same(hashed, token_hash(admin_token)):
        return Caller(ADMIN_TOKEN_OPERATOR, Role.ADMIN, hashed)
    # Found by its hash through an index: a token is 256 random bits, so the lookup's timing
    # says nothing useful about any token.
    operator = await repository.by_token_hash(session, hashed)
    if operator is None:
        return None
    return Caller(operator.name, operator.role, hashed)


async def access_configured(session: AsyncSession, *, admin_token: str | None) -> bool:
    """Whether anyone at all can log in (an admin token is set or an operator exists)."""
    return bool(admin_token) or await repository.any_active(session)


async def credential_failed(request: Request, credential: Credential) -> None:
    """Called once for every failed credential, before the 401 (or login page) is answered.

    The hook for throttling: count failures per client here and raise to answer 429 with
    Retry-After. Does nothing yet.
    """
    return None
