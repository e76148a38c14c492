"""Where benchmarks run: DATABASE_URL/REDIS_URL when set (the local servers), embedded servers
otherwise; a dedicated, freshly migrated database either way."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit

from api import db
from api.settings import Settings, get_settings

BENCH_DATABASE = "pulse_bench"


@contextlib.contextmanager
def services() -> Iterator[None]:
    from api.embedded import EmbeddedPostgres, EmbeddedRedis

    started: list[EmbeddedPostgres | EmbeddedRedis] = []
    root = Path(tempfile.mkdtemp(prefix="pulse-bench-"))
    try:
        if not os.environ.get("DATABASE_URL"):
            pg = EmbeddedPostgres(root / "pg").start()
            started.append(pg)
            os.environ["DATABASE_URL"] = pg.database_url("postgres")
        if not os.environ.get("REDIS_URL"):
            redis = EmbeddedRedis(root / "redis", persist=False).start()
            started.append(redis)
            os.environ["REDIS_URL"] = redis.url
        yield
    finally:
        for server in reversed(started):
            server.stop()


@contextlib.asynccontextmanager
async def bench_settings() -> AsyncIterator[Settings]:
    """Settings pointing at a fresh, migrated bench database (dropped afterwards)."""
    get_settings.cache_clear()
    base = get_settings()
    admin_url = urlsplit(base.database_dsn)._replace(path="/postgres").geturl()
    bench_url = urlsplit(base.database_dsn)._replace(path=f"/{BENCH_DATABASE}").geturl()
    admin = await db.connect(base, admin_url)
    await admin.execute(f'DROP DATABASE IF EXISTS "{BENCH_DATABASE}" WITH (FORCE)')
    await admin.execute(f'CREATE DATABASE "{BENCH_DATABASE}"')
    settings = base.model_copy(update={"database_url": bench_url, "environment": "test"})
    try:
        await db.upgrade(settings)
        yield settings
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{BENCH_DATABASE}" WITH (FORCE)')
        await admin.close()
