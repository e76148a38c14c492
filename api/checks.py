"""Start-up guardrails. Production refuses to start on an unsafe configuration; every
environment refuses to start on pending migrations. `python -m api check` runs the production
checks whatever ENVIRONMENT says."""

from __future__ import annotations

import logging

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


async def production_problems(settings: Settings) -> list[str]:
    """Every reason production would refuse these settings."""
    problems = settings.static_problems()
    if settings.database_url:
        problems += await database_problems(settings)
    if settings.redis_url:
        problems += await redis_problems(settings)
    return problems


def warnings_for(settings: Settings) -> list[str]:
    notes = []
    if settings.is_production and not settings.sentry_dsn:
        notes.append("SENTRY_DSN is not set: errors will only reach the logs")
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
