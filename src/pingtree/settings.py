"""One typed Settings object, read from PINGTREE_* environment variables (or .env)."""

from __future__ import annotations

from datetime import timedelta
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from pingtree.credentials.keys import SecretKeys
from pingtree.delivery.destinations import Allowlist
from pingtree.logs.formatter import LogFormat
from pingtree.ratelimits.rates import Rate


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
        description="server processes (`pingtree serve`); >1 needs PostgreSQL and Redis",
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
    delivery_process: bool | None = Field(
        default=None,
        description="send pings and posts, and read their answers, from a child process of "
        "each server process (the lead's process builds the requests and records them): for "
        "when that one process is the limit. Unset: on with SQLite (its one server process), "
        "off with PostgreSQL (run more workers)",
    )
    buyer_answer_max_bytes: int = Field(
        default=1024 * 1024,
        gt=0,
        le=64 * 1024 * 1024,
        description="the largest buyer answer read; a longer one is an error (answer_too_large)",
    )
    config_poll_s: float = Field(
        default=2.0, gt=0, description="how often to look for config changes"
    )
    redis_url: str | None = Field(
        default=None,
        description="Redis for rate limits and even rotation shared by all workers and servers "
        "(redis://host:6379/0); without it both are counted in each process, so `serve` runs "
        "one worker",
    )
    ratelimit_prefix: str = Field(
        default="pingtree",
        min_length=1,
        description="prefix of pingtree's keys in Redis (rate limits, rotation counters)",
    )
    auth_failure_limit: Rate = Field(
        default="10/minute",
        description="failed console logins and admin tokens allowed per client; then 429",
    )
    publisher_rate_limit: Rate | None = Field(
        default="1000/second",
        description="leads and pings a publisher may send, unless its configuration says; "
        "unset for no limit",
    )
    db_pool_size: int = Field(
        default=20, ge=1, le=200, description="PostgreSQL connections kept open per process"
    )
    db_max_overflow: int = Field(
        default=10, ge=0, le=200, description="extra PostgreSQL connections a process may open"
    )
    db_pool_timeout_s: float | None = Field(
        default=None,
        gt=0,
        description="how long a request waits for a free connection (default 10 s on "
        "PostgreSQL, 60 s on SQLite, whose one connection every request takes in turn)",
    )
    max_leads_in_flight: int = Field(
        default=256,
        ge=0,
        description="leads one process takes at once; more are refused 503 with Retry-After "
        "(answered at once rather than late). 0: no limit",
    )
    max_loop_lag_share: float = Field(
        default=0.2,
        ge=0,
        le=1,
        description="refuse new leads (503, Retry-After) while this process's event loop runs "
        "later than this share of the lead's shortest tree time (0.2 of a 500 ms tree: "
        "100 ms): it is short of CPU and would answer the leads it has late. While it runs "
        "late, a lead's timers (buyers' timeouts, the answer) are also set that much earlier, "
        "so the answer still leaves by the deadline. 0: the lag is ignored",
    )
    record_retry_s: float = Field(
        default=30.0,
        gt=0,
        description="how long a lead's record is retried while the database is unreachable",
    )
    journal_keep_days: int = Field(
        default=45,
        ge=32,
        description="settled post-journal rows (cap holds confirmed or released) are deleted "
        "after this many days; at least 32 so a monthly cap window is over first",
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
    books_poll_s: float = Field(
        default=2.0,
        gt=0,
        description="how often report rollups, balances and buyers' funds are brought up to "
        "date and due postbacks sent (reports are this fresh)",
    )
    postback_timeout_s: float = Field(
        default=10.0, gt=0, le=120, description="how long a postback waits for its answer"
    )
    postback_max_tries: int = Field(
        default=8, ge=1, le=50, description="tries before a postback is failed for good"
    )
    postback_backoff_s: float = Field(
        default=30.0,
        gt=0,
        description="wait before a postback's second try; doubled after each failure (max 1 h)",
    )
    log_format: LogFormat = Field(
        default="text",
        description="`text` for a console; `json` for production: one object per line, "
        "with the lead id (never a field value)",
    )
    metrics_token: str | None = Field(
        default=None,
        description="when set, GET /metrics needs `Authorization: Bearer <token>`",
    )
    readiness_timeout_s: float = Field(
        default=1.0, gt=0, description="how long /readyz waits for the database and Redis"
    )
    demo_api_key: str | None = Field(default=None, description="API key the demo publisher gets")
    buyer_url_allow: str = Field(
        default="",
        description="private, loopback or link-local buyer destinations allowed anyway: "
        "comma-separated host[:port], address[:port] or CIDR entries, e.g. 127.0.0.1:9100",
    )

    public_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^\s/]+(/\S*)?$",
        description="where buyers reach this server (https://leads.example.com): consent "
        "links handed over with each post point there; default http://host:port",
    )
    telephony_auth_token: str | None = Field(
        default=None,
        description="the telephony provider's auth token: every voice webhook must carry "
        "its signature (X-Twilio-Signature); unset, calls are refused",
    )
    call_webhook_wait_s: float = Field(
        default=8.0,
        gt=0,
        le=14,
        description="how long a voice webhook waits for the call's next step before the "
        "caller is put on hold (providers wait 15 s for an answer)",
    )
    consent_link_ttl: timedelta = Field(
        default=timedelta(days=30),
        gt=timedelta(0),
        description="how long a consent link handed to a buyer opens (seconds or ISO 8601)",
    )
    sqlite_checkpoint_s: float = Field(
        default=1.0,
        gt=0,
        description="SQLite: how often the server copies its write-ahead log into the "
        "database file, from a thread (never inside a lead's commit)",
    )
    audit_seal_s: float = Field(
        default=5.0,
        gt=0,
        description="how often the audit trail's new events are sealed into its hash chain",
    )
    audit_anchor_file: Path | None = Field(
        default=None,
        description="append the chain's head here after each seal that moves it (keep it "
        "off the database's machine): `pingtree audit verify --anchors FILE` checks it",
    )

    secret_key: str | None = Field(
        default=None,
        description="Fernet key(s) encrypting buyer secrets at rest, newest first, "
        "comma-separated (`pingtree secrets generate-key`)",
    )

    @field_validator("secret_key")
    @classmethod
    def _keys_parse(cls, value: str | None) -> str | None:
        SecretKeys.parse(value)
        return value

    @cached_property
    def secret_keys(self) -> SecretKeys | None:
        """The parsed PINGTREE_SECRET_KEY, or None when unset."""
        return SecretKeys.parse(self.secret_key)

    @field_validator("buyer_url_allow")
    @classmethod
    def _allowlist_parses(cls, value: str) -> str:
        Allowlist.parse(value)
        return value

    @property
    def delivers_from_a_process(self) -> bool:
        """Whether pings and posts go out from a delivery process (delivery_process, or its
        default for the database)."""
        if self.delivery_process is not None:
            return self.delivery_process
        return self.database.startswith("sqlite")

    @cached_property
    def buyer_allowlist(self) -> Allowlist:
        """The parsed PINGTREE_BUYER_URL_ALLOW."""
        return Allowlist.parse(self.buyer_url_allow)

    @field_validator(
        "console_idle_timeout", "console_session_lifetime", "consent_link_ttl", mode="before"
    )
    @classmethod
    def _seconds(cls, value: Any) -> Any:
        # The environment gives strings: "1800" means seconds, as "PT30M" means 30 minutes.
        if isinstance(value, str) and value.strip().replace(".", "", 1).isdigit():
            return float(value)
        return value

    @field_validator(
        "publisher_rate_limit",
        "redis_url",
        "metrics_token",
        "public_url",
        "audit_anchor_file",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # PINGTREE_PUBLISHER_RATE_LIMIT= (empty) turns the default limit off.
        return None if value == "" else value

    @model_validator(mode="after")
    def _recovery_waits_for_retries(self) -> Settings:
        if self.interrupted_after_s <= self.record_retry_s:
            raise ValueError(
                f"interrupted_after_s ({self.interrupted_after_s:g}) must exceed "
                f"record_retry_s ({self.record_retry_s:g}): recovery must not settle a lead "
                "whose record is still being retried"
            )
        return self

    @property
    def public_base_url(self) -> str:
        """Where buyers reach this server (public_url, else http://host:port)."""
        return self.public_url or f"http://{self.host}:{self.port}"

    @cached_property
    def database(self) -> str:
        """The database URL in force."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'pingtree.db').resolve()}"
