"""The three roles: admin does all, operator configures, reviews and suppresses, analyst reads."""

from __future__ import annotations

from pingtree.operators import Permission, Role, may, roles_with


def test_admin_may_everything() -> None:
    assert all(may(Role.ADMIN, p) for p in Permission)


def test_operator_configures_reviews_and_suppresses() -> None:
    for permission in (
        Permission.READ,
        Permission.CONFIGURE,
        Permission.REVIEW,
        Permission.SUPPRESS,
    ):
        assert may(Role.OPERATOR, permission), permission


def test_analyst_only_reads() -> None:
    assert [p for p in Permission if may(Role.ANALYST, p)] == [Permission.READ]
    assert roles_with(Permission.CONFIGURE) == [Role.ADMIN, Role.OPERATOR]
    assert roles_with(Permission.READ) == [Role.ADMIN, Role.OPERATOR, Role.ANALYST]
