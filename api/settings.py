"""Settings: the only module that reads the environment.

Every public setting (see API.md) has a safe development default. Values are validated when
`get_settings()` first runs, so a malformed value fails fast with the setting's name and the
form it expects (`SettingsError`). The production guardrails that need the network (database,
Redis, migrations) live in `api/checks.py`; the ones that only need the values are here, in
`Settings.static_problems()`.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent
MIGRATIONS_DIR = REPO_ROOT / "migrations"

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/pulse"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
# A well-known development secret: usable locally, refused in production.
DEV_SECRET_KEY = "pulse-development-secret-key-do-not-use-in-production"
KNOWN_DEFAULT_SECRETS = frozenset(
    {DEV_SECRET_KEY, "changeme", "change-me", "changethis", "secret", "secret-key", "development"}
)
MIN_SECRET_BYTES = 32
# Room in a multipart upload body for everything but the file itself.
MULTIPART_OVERHEAD_BYTES = 64 * 1024
_KID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class SettingsError(Exception):
    """The environment holds a value the service cannot run with."""


def _split_csv(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    """Typed view of the environment (and of `.env` when present)."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        case_sensitive=False,
        # An unknown key in .env is a typo until proven otherwise.
        extra="forbid",
    )

    environment: Literal["development", "test", "production"] = "development"
    database_url: str | None = None
    database_read_url: str | None = None
    redis_url: str | None = None
    secret_key: str | None = None
    # "kid=secret,kid=secret": the first key signs new tokens, the others only verify.
    jwt_keys: Annotated[list[tuple[str, str]], NoDecode] = Field(default_factory=list)
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["http://localhost:5173", "http://127.0.0.1:5173"]
    )
    sentry_dsn: str | None = None
    smtp_url: str | None = None
    public_url: str = "http://127.0.0.1:8000"
    upload_dir: Path = REPO_ROOT / ".data" / "uploads"
    # Where `make run` keeps the embedded servers' data.
    data_dir: Path = REPO_ROOT / ".data"

    access_token_ttl: int = Field(default=15 * 60, ge=60, le=24 * 3600)
    refresh_token_ttl: int = Field(default=30 * 24 * 3600, ge=3600)
    jwt_audience: str = "pulse"

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_json: bool | None = None
    db_pool_min: int = Field(default=1, ge=0, le=100)
    db_pool_max: int = Field(default=10, ge=1, le=500)
    db_connect_timeout: float = Field(default=5.0, gt=0, le=60)
    worker_job_timeout: int = Field(default=300, ge=1)
    worker_max_jobs: int = Field(default=10, ge=1, le=1000)
    # Event pipeline: attempts per item before it is dead-lettered, the first retry delay
    # (doubling, with jitter), and when a dispatched but unfinished event is dispatched again.
    pipeline_max_attempts: int = Field(default=5, ge=1, le=50)
    pipeline_backoff_seconds: float = Field(default=2.0, gt=0, le=3600)
    pipeline_redispatch_seconds: int = Field(default=600, ge=1)
    # Webhook steps: per-attempt timeout, attempts, first retry delay (doubling, jittered).
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    webhook_max_attempts: int = Field(default=4, ge=1, le=20)
    webhook_backoff_seconds: float = Field(default=1.0, gt=0, le=600)
    # Webhooks to loopback, private, link-local, multicast or reserved addresses (SSRF into
    # our own network): unset means allowed in development and test, refused in production.
    webhook_allow_private: bool | None = None
    # Database circuit breaker: connection failures in a row before it opens, seconds before
    # a probe; and the most a request may take (pool waits included) before it gets 503.
    breaker_failure_threshold: int = Field(default=5, ge=1, le=1000)
    breaker_reset_seconds: float = Field(default=5.0, gt=0, le=600)
    request_timeout_seconds: float = Field(default=15.0, gt=0, le=600)
    # Longest wait for one Redis call on the request path before its fallback.
    redis_timeout_seconds: float = Field(default=1.0, gt=0, le=30)
    # Cost units (see schema/limits.py) per user, and per client IP when anonymous, shared by
    # every instance; and the header a trusted proxy sets with the client's address (unset:
    # the socket's peer address is the client).
    rate_limit_user: str = "60000/minute"
    rate_limit_anonymous: str = "6000/minute"
    client_ip_header: str | None = None
    # Kill switches forced by the operator: "ingestion=off,connector.webhook=on".
    feature_flags: Annotated[dict[str, bool], NoDecode] = Field(default_factory=dict)
    # Largest HTTP request body; a full 1,000-event batch with big `data` needs a few MiB.
    max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    # Event file imports (`importEvents`): the largest file, and the lines the worker stores
    # per transaction (its progress is committed with each batch).
    max_upload_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    import_batch_rows: int = Field(default=500, ge=1, le=1000)
    # Websockets: seconds to send connection_init, subscriptions per socket, sockets per user
    # on one instance.
    ws_init_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    ws_max_subscriptions: int = Field(default=20, ge=1, le=1000)
    ws_max_connections_per_user: int = Field(default=10, ge=1, le=100_000)
    ws_ping_seconds: float = Field(default=15.0, gt=0, le=600)
    # Pattern analysis runs this long after the last burst of new events.
    analysis_debounce_seconds: float = Field(default=30.0, ge=0, le=3600)
    # Retention.
    retention_runs_days: int = Field(default=90, ge=1)
    retention_dead_letters_days: int = Field(default=30, ge=1)
    retention_imports_days: int = Field(default=30, ge=1)

    @field_validator("database_url", "database_read_url", mode="after")
    @classmethod
    def _postgres_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        parts = urlsplit(value)
        if parts.scheme not in {"postgres", "postgresql", "asyncpg"} or not parts.path.strip("/"):
            raise ValueError("expected postgres://user[:password]@host[:port]/database")
        # Tortoise names the asyncpg engine "postgres"; accept the libpq spelling too.
        return "postgres" + value[len(parts.scheme) :]

    @field_validator("redis_url", mode="after")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if urlsplit(value).scheme not in {"redis", "rediss", "unix"}:
            raise ValueError("expected redis://[:password@]host[:port][/db]")
        return value

    @field_validator("smtp_url", mode="after")
    @classmethod
    def _smtp_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        parts = urlsplit(value)
        if parts.scheme not in {"smtp", "smtps"} or not parts.hostname:
            raise ValueError("expected smtp://[user:password@]host[:port] or smtps://…")
        return value

    @field_validator("public_url", mode="after")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise ValueError("expected an absolute http(s):// URL")
        return value.rstrip("/")

    @field_validator("jwt_keys", mode="before")
    @classmethod
    def _parse_jwt_keys(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        keys: list[tuple[str, str]] = []
        for item in _split_csv(value):
            kid, sep, secret = item.partition("=")
            kid = kid.strip()
            if not sep or not _KID_RE.match(kid) or not secret:
                raise ValueError(
                    "expected comma-separated kid=secret pairs (kid: letters, digits, . _ -)"
                )
            keys.append((kid, secret.strip()))
        if len({kid for kid, _ in keys}) != len(keys):
            raise ValueError("key ids must be unique")
        return keys

    @field_validator("rate_limit_user", "rate_limit_anonymous", mode="after")
    @classmethod
    def _rate(cls, value: str) -> str:
        from limits import parse

        try:
            parse(value)
        except ValueError:
            raise ValueError("expected a rate like 60000/minute") from None
        return value

    @field_validator("feature_flags", mode="before")
    @classmethod
    def _parse_flags(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        flags: dict[str, bool] = {}
        for item in _split_csv(value):
            name, _, state = item.partition("=")
            if state.strip().lower() not in {"on", "off"}:
                raise ValueError("expected comma-separated name=on|off pairs")
            flags[name.strip()] = state.strip().lower() == "on"
        return flags

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _parse_origins(cls, value: Any) -> Any:
        origins = _split_csv(value)
        if isinstance(origins, list):
            for origin in origins:
                if origin != "*" and urlsplit(origin).scheme not in {"http", "https"}:
                    raise ValueError("expected comma-separated origins like https://app.example")
        return origins

    # ---- derived values -------------------------------------------------------------------

    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    @property
    def database_dsn(self) -> str:
        """The primary database URL; unset means the local development default."""
        return self.database_url or DEFAULT_DATABASE_URL

    @property
    def redis_dsn(self) -> str:
        return self.redis_url or DEFAULT_REDIS_URL

    @property
    def signing_keys(self) -> list[tuple[str, str]]:
        """(kid, secret) pairs, current key first; SECRET_KEY alone acts as one key."""
        if self.jwt_keys:
            return list(self.jwt_keys)
        return [("primary", self.secret_key or DEV_SECRET_KEY)]

    @property
    def jwt_issuer(self) -> str:
        return self.public_url

    @property
    def max_multipart_bytes(self) -> int:
        """The largest multipart request body: a file of `max_upload_bytes` plus room for the
        GraphQL operation, the file map and the part headers."""
        return self.max_upload_bytes + MULTIPART_OVERHEAD_BYTES

    @property
    def webhook_private_targets_allowed(self) -> bool:
        if self.webhook_allow_private is None:
            return not self.is_production
        return self.webhook_allow_private

    @property
    def json_logs(self) -> bool:
        return self.is_production if self.log_json is None else self.log_json

    def static_problems(self) -> list[str]:
        """Reasons production must refuse this configuration (value checks only)."""
        problems: list[str] = []
        if not self.secret_key and not self.jwt_keys:
            problems.append("SECRET_KEY or JWT_KEYS must be set")
        secrets = [("SECRET_KEY", self.secret_key)] if self.secret_key else []
        secrets += [(f"JWT_KEYS[{kid}]", secret) for kid, secret in self.jwt_keys]
        for name, secret in secrets:
            assert secret is not None
            if secret.strip().lower() in KNOWN_DEFAULT_SECRETS:
                problems.append(f"{name} is a known default value; generate a random secret")
            elif len(secret.encode()) < MIN_SECRET_BYTES:
                problems.append(f"{name} is shorter than {MIN_SECRET_BYTES} bytes")
        if "*" in self.cors_origins:
            problems.append("CORS_ORIGINS must list origins explicitly, not '*'")
        if not self.database_url:
            problems.append("DATABASE_URL must be set")
        if not self.redis_url:
            problems.append("REDIS_URL must be set")
        if not self.smtp_url:
            problems.append("SMTP_URL must be set (verification and reset emails)")
        if self.db_pool_min > self.db_pool_max:
            problems.append("DB_POOL_MIN must not exceed DB_POOL_MAX")
        return problems


def _describe(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        name = "_".join(str(part) for part in item["loc"] if isinstance(part, str)).upper()
        message = str(item["msg"]).removeprefix("Value error, ")
        given = item.get("input")
        shown = f" (got {given!r})" if isinstance(given, str | int | float) else ""
        lines.append(f"{name or 'settings'}: {message}{shown}")
    return "invalid settings:\n  " + "\n  ".join(lines)


def load_settings(**overrides: Any) -> Settings:
    """Read and validate the environment; raise `SettingsError` naming each bad value."""
    try:
        return Settings(**overrides)
    except ValidationError as error:
        raise SettingsError(_describe(error)) from None


@functools.cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return load_settings()
