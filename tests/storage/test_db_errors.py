"""A database error's text never carries the statement's parameters (a lead's PII)."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from pingtree.failures import describe
from pingtree.storage.db import create_engine


async def test_statement_parameters_are_hidden_from_error_text(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        with pytest.raises(DBAPIError) as caught:
            async with engine.begin() as conn:
                await conn.execute(
                    text("INSERT INTO no_such_table (email) VALUES (:email)"),
                    {"email": "wilhelmina@example.com"},
                )
    finally:
        await engine.dispose()
    assert "wilhelmina" not in str(caught.value)
    assert "wilhelmina" not in describe(caught.value)
    assert "no_such_table" not in describe(caught.value)  # only classes and codes
