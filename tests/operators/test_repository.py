"""Operators in storage, on both databases: tokens only as hashes, rotation, revocation."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from pingtree.operators import OperatorError, Role, identify, repository
from pingtree.operators.tokens import token_hash
from pingtree.storage.db import create_engine, sessions
from pingtree.storage.tables import AuditEvent, OperatorRow

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


async def test_create_identify_rotate_revoke(database_url: str) -> None:
    engine = create_engine(database_url)
    make = sessions(engine)
    try:
        async with make() as s, s.begin():
            token = await repository.create(s, "ann", Role.ANALYST, now=NOW, actor="test")
            other = await repository.create(s, "ops", Role.OPERATOR, now=NOW, actor="test")
        assert token.startswith("pto_") and len(token) > 40 and token != other

        async with make() as s:
            rows = (await s.scalars(select(OperatorRow))).all()
            # Only the hash is stored: the token itself appears nowhere in the rows.
            assert all(token not in repr(vars(r)) for r in rows)
            assert {r.token_hash for r in rows} == {token_hash(token), token_hash(other)}
            caller = await identify(s, token, admin_token=None)
            assert caller is not None and (caller.name, caller.role) == ("ann", Role.ANALYST)
            assert await identify(s, token + "x", admin_token=None) is None
            assert await identify(s, "", admin_token=None) is None

        async with make() as s, s.begin():
            new = await repository.rotate(s, "ann", now=NOW, actor="test")
        async with make() as s:
            assert await identify(s, token, admin_token=None) is None  # the old one stops
            assert (await identify(s, new, admin_token=None)) is not None

        async with make() as s, s.begin():
            await repository.revoke(s, "ann", now=NOW, actor="test")
        async with make() as s:
            assert await identify(s, new, admin_token=None) is None
            listed = await repository.all_operators(s)
            assert [(o.name, o.role, o.active) for o in listed] == [
                ("ann", Role.ANALYST, False),
                ("ops", Role.OPERATOR, True),
            ]
            assert listed[0].rotated_at == NOW and listed[0].revoked_at == NOW
            # Every change is in the audit trail, by whom; a token never is.
            trail = (
                await s.execute(
                    select(AuditEvent.subject, AuditEvent.actor, AuditEvent.details)
                    .where(AuditEvent.kind == "account_changed")
                    .order_by(AuditEvent.id)
                )
            ).all()
            assert [(t.subject, t.actor, json.loads(t.details)["action"]) for t in trail] == [
                ("operators/ann", "test", "created"),
                ("operators/ops", "test", "created"),
                ("operators/ann", "test", "token_rotated"),
                ("operators/ann", "test", "revoked"),
            ]
            assert not any(secret in repr(trail) for secret in (token, other, new))
    finally:
        await engine.dispose()


async def test_refusals_name_the_problem(database_url: str) -> None:
    engine = create_engine(database_url)
    make = sessions(engine)
    try:
        async with make() as s, s.begin():
            await repository.create(s, "ann", Role.ANALYST, now=NOW, actor="test")
            await repository.revoke(s, "ann", now=NOW, actor="test")
        for work, message in [
            (lambda s: repository.create(s, "ann", Role.ADMIN, now=NOW, actor="test"), "exists"),
            (
                lambda s: repository.create(s, "Bad Name", Role.ADMIN, now=NOW, actor="test"),
                "operator name",
            ),
            (lambda s: repository.rotate(s, "ann", now=NOW, actor="test"), "revoked"),
            (lambda s: repository.revoke(s, "nobody", now=NOW, actor="test"), "no operator"),
        ]:
            async with make() as s, s.begin():
                with pytest.raises(OperatorError, match=message):
                    await work(s)
    finally:
        await engine.dispose()


async def test_admin_token_is_an_admin(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        async with sessions(engine)() as s:
            caller = await identify(s, "legacy-admin", admin_token="legacy-admin")
            assert caller is not None and caller.role is Role.ADMIN
            assert await identify(s, "legacy-admi", admin_token="legacy-admin") is None
    finally:
        await engine.dispose()
