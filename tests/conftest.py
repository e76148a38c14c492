"""Test setup: a real PostgreSQL and Redis for the whole session.

DATABASE_URL/REDIS_URL are used when set (CI points them at the local services); otherwise
embedded servers are started in a temporary folder. Migrations are applied once; every test
starts from empty tables and an empty Redis database.
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
import redis.asyncio as aioredis

from api import db
from api.app import create_app
from api.settings import Settings, get_settings, load_settings
from tests.support import GraphQLClient, serve_app
from tests.workers import StartWorker, start_worker_fixture

_embedded: list[object] = []


def _prepare_services() -> None:
    if os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL"):
        return
    from api.embedded import EmbeddedPostgres, EmbeddedRedis

    root = Path(tempfile.mkdtemp(prefix="pulse-test-"))
    if not os.environ.get("DATABASE_URL"):
        pg = EmbeddedPostgres(root / "postgres").start()
        pg.create_database("pulse_test")
        _embedded.append(pg)
        os.environ["DATABASE_URL"] = pg.database_url("pulse_test")
    if not os.environ.get("REDIS_URL"):
        redis = EmbeddedRedis(root / "redis", persist=False).start()
        _embedded.append(redis)
        os.environ["REDIS_URL"] = redis.url


def pytest_configure(config: pytest.Config) -> None:
    os.environ["ENVIRONMENT"] = "test"
    # A .env in the working tree must not leak into tests.
    os.environ.setdefault("SMTP_URL", "")
    _prepare_services()
    get_settings.cache_clear()
    asyncio.run(db.upgrade(get_settings()))


def pytest_unconfigure(config: pytest.Config) -> None:
    for server in reversed(_embedded):
        server.stop()


@pytest.fixture
def settings() -> Settings:
    """Settings as the test environment gives them (the real database and Redis)."""
    return load_settings(_env_file=None)


@pytest.fixture(autouse=True)
async def clean_state(settings: Settings) -> AsyncIterator[None]:
    conn = await db.connect(settings)
    try:
        tables = await conn.fetch(
            "SELECT quote_ident(tablename) AS name FROM pg_tables"
            " WHERE schemaname = 'public' AND tablename <> 'aerich'"
        )
        names = ", ".join(row["name"] for row in tables)
        await conn.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
    finally:
        await conn.close()
    client = aioredis.Redis.from_url(settings.redis_dsn)
    await client.flushdb()
    await client.aclose()
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
async def pg(settings: Settings) -> AsyncIterator[asyncpg.Connection]:
    """A plain connection to the test database, for checking what was stored."""
    conn = await db.connect(settings)
    yield conn
    await conn.close()


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[GraphQLClient]:
    """The app under a real uvicorn server, and a GraphQL client for it."""
    async with serve_app(create_app(settings)) as url:
        client = GraphQLClient(url)
        yield client
        await client.aclose()


@pytest.fixture
def sql_log() -> Iterator[list[str]]:
    """Every SQL statement the ORM sends while the test runs (tortoise logs them at DEBUG)."""
    statements: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            message = record.getMessage()
            if record.args and isinstance(record.args, tuple):
                message = str(record.args[0])
            statements.append(message)

    logger = logging.getLogger("tortoise.db_client")
    handler = Collect(level=logging.DEBUG)
    previous = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    yield statements
    logger.removeHandler(handler)
    logger.setLevel(previous)


@pytest.fixture
def start_worker(tmp_path: Path) -> Iterator[StartWorker]:
    """Start real workers (`python -m api worker`) with extra environment; all are stopped
    at the end of the test."""
    yield from start_worker_fixture(tmp_path)
