"""Operators: named accounts with roles (admin, operator, analyst) and hashed tokens."""

from pingtree.operators.access import (
    ADMIN_TOKEN_OPERATOR,
    Caller,
    Credential,
    credential_failed,
    identify,
    identify_hash,
)
from pingtree.operators.model import Operator, OperatorError
from pingtree.operators.roles import Permission, Role, may, roles_with

__all__ = [
    "ADMIN_TOKEN_OPERATOR",
    "Caller",
    "Credential",
    "Operator",
    "OperatorError",
    "Permission",
    "Role",
    "credential_failed",
    "identify",
    "identify_hash",
    "may",
    "roles_with",
]
