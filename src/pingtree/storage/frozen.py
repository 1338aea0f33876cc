"""Statements SQLAlchemy cannot cache, frozen once into SQL text it can.

SQLAlchemy compiles a statement once and reuses the compiled form by its cache key, except
a multi-row INSERT .. VALUES (..), (..): it has no cache key, so it is compiled again on
every execution (visit_insert and its helpers: more CPU than running the statement).
frozen() compiles it once per dialect into text with the same named parameters and their
types; text is cached like any statement, and runs as the same SQL.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import TextClause, bindparam, text
from sqlalchemy.dialects.postgresql.base import PGDialect
from sqlalchemy.dialects.sqlite.base import SQLiteDialect
from sqlalchemy.engine.interfaces import BindTyping


def _named(dialect: str) -> Any:
    """A dialect that writes :name parameters (what text() reads) and no casts after them
    (`:name::VARCHAR` would read as another parameter); the driver's dialect adds its own."""
    compiler: Any = (
        PGDialect(paramstyle="named")  # type: ignore[no-untyped-call]
        if dialect == "postgresql"
        else SQLiteDialect(paramstyle="named")
    )
    compiler.bind_typing = BindTyping.NONE
    compiler._bind_typing_render_casts = False
    return compiler


def frozen(statement: Any, dialect: str) -> TextClause:
    """The statement as cacheable text for this dialect ("sqlite" or "postgresql"): every
    parameter explicitly named (bindparam), values given at execution."""
    compiled = statement.compile(dialect=_named(dialect))
    binds = [bindparam(name, type_=bind.type) for name, bind in compiled.binds.items()]
    return text(str(compiled)).bindparams(*binds)
