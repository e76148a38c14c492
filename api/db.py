"""The database: Tortoise configuration, start/stop, and migration state.

`TORTOISE_ORM` (resolved lazily from the settings) is what aerich's own CLI reads, as
configured in pyproject.toml.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from typing import Any

import asyncpg
from aerich import Command
from tortoise import Tortoise
from tortoise.context import TortoiseContext

from api.resilience import replica
from api.settings import MIGRATIONS_DIR, Settings, get_settings
from models import MODEL_MODULES

logger = logging.getLogger(__name__)

APP_LABEL = "models"


# asyncpg's client with retried reads and replica fallback (api/resilience/retry.py).
ENGINE = "api.resilience.retry"


def tortoise_config(settings: Settings, *, with_replica: bool = True) -> dict[str, Any]:
    """The Tortoise/aerich configuration for these settings (migrations: no replica)."""
    connections: dict[str, Any] = {
        "default": {"engine": ENGINE, "credentials": _credentials(settings.database_dsn, settings)}
    }
    config: dict[str, Any] = {
        "connections": connections,
        "apps": {
            APP_LABEL: {
                "models": [*MODEL_MODULES, "aerich.models"],
                "default_connection": "default",
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }
    if with_replica and settings.database_read_url:
        connections[replica.REPLICA] = {
            "engine": ENGINE,
            "credentials": _credentials(settings.database_read_url, settings),
        }
        config["routers"] = ["api.resilience.replica.ReadReplicaRouter"]
    return config


def _credentials(url: str, settings: Settings) -> dict[str, Any]:
    from urllib.parse import parse_qs, unquote, urlsplit

    parts = urlsplit(url)
    query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    return {
        "host": query.pop("host", parts.hostname or "127.0.0.1"),
        "port": parts.port or 5432,
        "user": unquote(parts.username or "postgres"),
        "password": unquote(parts.password or ""),
        "database": parts.path.lstrip("/"),
        "minsize": settings.db_pool_min,
        "maxsize": settings.db_pool_max,
        "timeout": settings.db_connect_timeout,
        **query,
    }


def __getattr__(name: str) -> Any:
    # aerich imports `api.db.TORTOISE_ORM`; computing it lazily keeps imports side-effect free.
    if name == "TORTOISE_ORM":
        return tortoise_config(get_settings())
    raise AttributeError(name)


_probe: asyncio.Task[None] | None = None


async def init_orm(settings: Settings) -> None:
    """Start the ORM for this process. The global fallback makes the context visible to the
    tasks uvicorn and arq create for requests and jobs, not only to the one that started it."""
    global _probe
    await Tortoise.init(config=tortoise_config(settings), _enable_global_fallback=True)
    replica.HEALTH.configured = bool(settings.database_read_url)
    replica.HEALTH.healthy = False
    if settings.database_read_url:
        _probe = asyncio.create_task(replica.HEALTH.probe_forever(), name="replica-probe")


async def close_orm() -> None:
    global _probe
    if _probe is not None:
        _probe.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await _probe
        _probe = None
    await Tortoise.close_connections()


async def ping(timeout: float) -> None:
    """One round trip to the primary on a pooled connection (the breaker's half-open probe).
    Raises when the database does not answer within `timeout` seconds."""
    client = Tortoise.get_connection("default")
    async with asyncio.timeout(timeout), client.acquire_connection() as conn:
        await conn.execute("SELECT 1")


def migration_files(directory: Path = MIGRATIONS_DIR / APP_LABEL) -> list[str]:
    """Committed aerich migrations, in order (`0_…_init.py`, `1_…`)."""
    files = [p.name for p in directory.glob("*.py") if p.name.split("_", 1)[0].isdigit()]
    return sorted(files, key=lambda name: int(name.split("_", 1)[0]))


async def pending_migrations(conn: asyncpg.Connection) -> list[str]:
    """Migration files not yet recorded in aerich's table (all of them on an empty database)."""
    try:
        rows = await conn.fetch("SELECT version FROM aerich WHERE app = $1", APP_LABEL)
    except asyncpg.UndefinedTableError:
        return migration_files()
    applied = {row["version"] for row in rows}
    return [name for name in migration_files() if name not in applied]


async def connect(settings: Settings, dsn: str | None = None) -> asyncpg.Connection:
    """A single plain connection, for checks that must not depend on the ORM's pool."""
    creds = _credentials(dsn or settings.database_dsn, settings)
    return await asyncio.wait_for(
        asyncpg.connect(
            host=creds["host"],
            port=creds["port"],
            user=creds["user"],
            password=creds["password"] or None,
            database=creds["database"],
            timeout=settings.db_connect_timeout,
        ),
        timeout=settings.db_connect_timeout + 1,
    )


def migration_command(settings: Settings, location: Path = MIGRATIONS_DIR) -> Command:
    """An aerich Command for these settings. Use it inside `with TortoiseContext():` so its
    ORM set-up and tear-down cannot touch the process's own ORM context."""
    return Command(
        tortoise_config(settings, with_replica=False), app=APP_LABEL, location=str(location)
    )


async def upgrade(settings: Settings) -> list[str]:
    """Apply pending migrations (aerich upgrade); returns the files applied."""
    with TortoiseContext():
        async with migration_command(settings) as command:
            await command.init()
            applied = await command.upgrade(run_in_transaction=True)
    for name in applied:
        logger.info("applied migration %s", name)
    return applied


async def downgrade(settings: Settings, version: int) -> list[str]:
    """Roll back to `version` (aerich downgrade); -1 undoes only the latest migration."""
    with TortoiseContext():
        async with migration_command(settings) as command:
            await command.init()
            return await command.downgrade(version, delete=False)
