"""Start-up guardrails. Production refuses to start on an unsafe configuration; every
environment refuses to start on pending migrations. `python -m api check` runs the production
checks whatever ENVIRONMENT says."""

from __future__ import annotations

import logging
import tempfile

import redis.asyncio as redis

from api import db
from api.settings import Settings

logger = logging.getLogger(__name__)


class StartupRefused(Exception):
    """The process must not start; the message names every reason."""


async def database_problems(settings: Settings) -> list[str]:
    """Unreachable database or migrations not applied."""
    try:
        conn = await db.connect(settings)
    except Exception as error:  # OSError, timeouts, and asyncpg's many auth/catalog errors
        return [f"database unreachable at {_redact(settings.database_dsn)}: {error!s}"]
    try:
        pending = await db.pending_migrations(conn)
    finally:
        await conn.close()
    if pending:
        return [
            f"{len(pending)} migration(s) not applied ({', '.join(pending)}); "
            "run `python -m api migrate`"
        ]
    return []


async def redis_problems(settings: Settings) -> list[str]:
    client = redis.Redis.from_url(settings.redis_dsn, socket_connect_timeout=2, socket_timeout=2)
    try:
        await client.ping()
    except Exception as error:
        return [f"Redis unreachable at {_redact(settings.redis_dsn)}: {error!s}"]
    finally:
        await client.aclose()
    return []


def upload_dir_problems(settings: Settings) -> list[str]:
    """UPLOAD_DIR must be a writable directory (created if missing): the API stores uploads
    there, and the workers read them from it."""
    path = settings.upload_dir
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".pulse-check-"):
            pass
    except OSError as error:
        return [f"UPLOAD_DIR {path} is not a writable directory: {error.strerror or error}"]
    return []


async def production_problems(settings: Settings) -> list[str]:
    """Every reason production would refuse these settings."""
    problems = settings.static_problems() + upload_dir_problems(settings)
    if settings.database_url:
        problems += await database_problems(settings)
    if settings.redis_url:
        problems += await redis_problems(settings)
    return problems


def warnings_for(settings: Settings) -> list[str]:
    notes = []
    if settings.is_production and not settings.sentry_dsn:
        notes.append("SENTRY_DSN is not set: errors will only reach the logs")
    if settings.is_production and settings.webhook_allow_private:
        notes.append(
            "WEBHOOK_ALLOW_PRIVATE is on: workflows may send requests to internal addresses"
        )
    return notes


async def enforce_startup(settings: Settings, *, process: str) -> None:
    """Raise `StartupRefused` when this process must not start."""
    for note in warnings_for(settings):
        logger.warning(note)
    if settings.is_production:
        problems = await production_problems(settings)
    else:
        # Outside production an unreachable database is survivable (the API answers 503
        # until it comes back), but running code against an old schema never is.
        problems = [p for p in await database_problems(settings) if "migration" in p]
    if problems:
        raise StartupRefused(
            f"refusing to start the {process} ({settings.environment}): " + "; ".join(problems)
        )


def _redact(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return parts._replace(netloc=netloc).geturl()
    return url
