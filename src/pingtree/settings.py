"""One typed Settings object, read from PINGTREE_* environment variables (or .env)."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from pydantic import Field, model_validator
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
        default=None, description="bearer token for /api/v1/admin; admin API is off when unset"
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
    config_poll_s: float = Field(
        default=2.0, gt=0, description="how often to look for config changes"
    )
    db_pool_size: int = Field(
        default=10, ge=1, le=200, description="PostgreSQL connections kept open per process"
    )
    db_max_overflow: int = Field(
        default=10, ge=0, le=200, description="extra PostgreSQL connections a process may open"
    )
    db_pool_timeout_s: float = Field(
        default=10.0, gt=0, description="how long a request waits for a free connection"
    )
    max_leads_in_flight: int = Field(
        default=256,
        ge=0,
        description="leads one process takes at once; more are refused 503 with Retry-After "
        "(answered at once rather than late). 0: no limit",
    )
    record_retry_s: float = Field(
        default=30.0,
        gt=0,
        description="how long a lead's record is retried while the database is unreachable",
    )
    interrupted_after_s: float = Field(
        default=120.0,
        gt=0,
        description="a lead still unanswered this long after arrival was interrupted "
        "(a crash); recovery settles it. Must exceed the longest tree plus record_retry_s",
    )
    recovery_poll_s: float = Field(
        default=30.0, gt=0, description="how often housekeeping looks for interrupted leads"
    )
    demo_api_key: str | None = Field(default=None, description="API key the demo publisher gets")

    @model_validator(mode="after")
    def _recovery_waits_for_retries(self) -> Settings:
        if self.interrupted_after_s <= self.record_retry_s:
            raise ValueError(
                f"interrupted_after_s ({self.interrupted_after_s:g}) must exceed "
                f"record_retry_s ({self.record_retry_s:g}): recovery must not settle a lead "
                "whose record is still being retried"
            )
        return self

    @cached_property
    def database(self) -> str:
        """The database URL in force."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'pingtree.db').resolve()}"
