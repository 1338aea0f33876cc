"""One typed Settings object, read from PINGTREE_* environment variables (or .env)."""

from __future__ import annotations

from datetime import timedelta
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything an operator can set. See the configuration reference in README.md."""

    model_config = SettingsConfigDict(env_prefix="PINGTREE_", env_file=".env", extra="ignore")

    data_dir: Path = Field(default=Path("data"), description="where the SQLite database lives")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy async URL; default SQLite in data_dir. "
        "PostgreSQL: postgresql+psycopg://user@host:5432/db",
    )
    admin_token: str | None = Field(
        default=None,
        description="a bearer token that acts as an admin operator (kept for older setups; "
        "named operators come from `pingtree operators create`)",
    )
    console_idle_timeout: timedelta = Field(
        default=timedelta(minutes=30),
        gt=timedelta(0),
        description="a console session ends this long after its last request (seconds or ISO 8601)",
    )
    console_session_lifetime: timedelta = Field(
        default=timedelta(hours=12),
        gt=timedelta(0),
        description="a console session ends this long after login, however busy",
    )
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = Field(
        default=1,
        ge=1,
        le=64,
        description="server processes (`pingtree serve`); >1 needs PostgreSQL",
    )
    recording_reserve_ms: int = Field(
        default=40,
        ge=0,
        description="routing stops this long before a lead's deadline, to record and answer",
    )
    inbound_ping_ttl_s: float = Field(default=60.0, gt=0, description="how long a ping id is valid")
    idempotency_wait_s: float = Field(
        default=30.0, gt=0, description="how long a repeated Idempotency-Key waits for the first"
    )
    http_connection_limit: int = Field(default=1000, gt=0, description="outbound connection pool")
    buyer_answer_max_bytes: int = Field(
        default=1024 * 1024,
        gt=0,
        le=64 * 1024 * 1024,
        description="the largest buyer answer read; a longer one is an error (answer_too_large)",
    )
    config_poll_s: float = Field(
        default=2.0, gt=0, description="how often to look for config changes"
    )
    demo_api_key: str | None = Field(default=None, description="API key the demo publisher gets")

    @field_validator("console_idle_timeout", "console_session_lifetime", mode="before")
    @classmethod
    def _seconds(cls, value: Any) -> Any:
        # The environment gives strings: "1800" means seconds, as "PT30M" means 30 minutes.
        if isinstance(value, str) and value.strip().replace(".", "", 1).isdigit():
            return float(value)
        return value

    @cached_property
    def database(self) -> str:
        """The database URL in force."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'pingtree.db').resolve()}"
