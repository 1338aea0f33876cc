"""Who may do what: three roles, each a set of permissions."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """An operator's role."""

    ADMIN = "admin"
    OPERATOR = "operator"
    ANALYST = "analyst"


class Permission(StrEnum):
    """What a route needs from its caller."""

    READ = "read"  # leads, reports, configuration, queues and lists
    CONFIGURE = "configure"  # verticals, publishers, buyers, campaigns, trees, routes
    REVIEW = "review"  # approve or reject leads in manual review
    SUPPRESS = "suppress"  # do-not-contact lists
    RETURNS = "returns"  # approve or reject buyers' returns, retry postbacks
    BOOK = "book"  # enter credits, payments and adjustments in the ledger
    ACCOUNTS = "accounts"  # create operator accounts, rotate their tokens, disable them


GRANTS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.OPERATOR: frozenset(
        {
            Permission.READ,
            Permission.CONFIGURE,
            Permission.REVIEW,
            Permission.SUPPRESS,
            Permission.RETURNS,
        }
    ),
    Role.ANALYST: frozenset({Permission.READ}),
}


def may(role: Role, permission: Permission) -> bool:
    """Whether a role grants a permission."""
    return permission in GRANTS[role]


def roles_with(permission: Permission) -> list[Role]:
    """The roles that grant a permission, in declaration order."""
    return [role for role in Role if may(role, permission)]
