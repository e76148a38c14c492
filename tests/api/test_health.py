"""/healthz, /readyz and /metrics against real servers, including ones the test stops."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from api import db
from api.app import create_app
from api.embedded import EmbeddedPostgres, EmbeddedRedis, free_port
from api.settings import Settings
from tests.support import serve_app


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with serve_app(create_app(settings)) as url, httpx.AsyncClient(base_url=url) as client:
        yield client


async def test_healthz_answers(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_is_ready_when_everything_is(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    pool = body["checks"].pop("pool")
    assert 0 <= pool["in_use"] <= pool["size"] >= 1
    assert body == {
        "status": "ok",
        "failing": [],
        "checks": {"database": "ok", "redis": "ok", "migrations": "ok", "breaker": "closed"},
    }


async def test_readyz_names_redis_when_it_is_down(settings: Settings) -> None:
    no_redis = settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"})
    async with serve_app(create_app(no_redis)) as url, httpx.AsyncClient(base_url=url) as client:
        response = await client.get("/readyz")
        metrics = (await client.get("/metrics")).text
    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["redis"]
    assert body["checks"]["database"] == "ok"
    assert "pulse_redis_up 0.0" in metrics


async def test_readyz_names_pending_migrations(client: httpx.AsyncClient, pg: object) -> None:
    import asyncpg

    assert isinstance(pg, asyncpg.Connection)
    latest = db.migration_files()[-1]
    row = await pg.fetchrow("DELETE FROM aerich WHERE version = $1 RETURNING *", latest)
    try:
        response = await client.get("/readyz")
    finally:
        await pg.execute(
            "INSERT INTO aerich (version, app, content) VALUES ($1, $2, $3)",
            row["version"],
            row["app"],
            row["content"],
        )
    assert response.status_code == 503
    assert response.json()["failing"] == ["migrations"]
    assert "1 migration(s) not applied" in response.json()["checks"]["migrations"]


async def test_readyz_follows_a_database_that_stops_and_returns(
    settings: Settings, tmp_path: Path
) -> None:
    server = EmbeddedPostgres(tmp_path / "pg").start()
    try:
        url = server.database_url("postgres")
        private = settings.model_copy(update={"database_url": url, "db_connect_timeout": 1.0})
        await db.upgrade(private)
        async with serve_app(create_app(private)) as base, httpx.AsyncClient(base_url=base) as c:
            assert (await c.get("/readyz")).status_code == 200
            server.stop()
            down = await c.get("/readyz")
            assert down.status_code == 503
            assert down.json()["failing"] == ["database"]
            assert (await c.get("/healthz")).status_code == 200
            server.start()
            # The pool drops its dead connections and reconnects without a restart.
            for _ in range(20):
                again = await c.get("/readyz")
                if again.status_code == 200:
                    break
                await asyncio.sleep(0.1)
            assert again.status_code == 200, again.json()
    finally:
        server.stop()


async def test_readyz_follows_redis_that_stops_and_returns(
    settings: Settings, tmp_path: Path
) -> None:
    redis = EmbeddedRedis(tmp_path / "redis", persist=False).start()
    try:
        private = settings.model_copy(update={"redis_url": redis.url})
        async with serve_app(create_app(private)) as base, httpx.AsyncClient(base_url=base) as c:
            assert (await c.get("/readyz")).status_code == 200
            redis.kill()
            assert (await c.get("/readyz")).json()["failing"] == ["redis"]
            redis.start()
            assert (await c.get("/readyz")).status_code == 200
    finally:
        redis.stop()


async def test_metrics_expose_requests_pool_and_redis(client: httpx.AsyncClient) -> None:
    await client.get("/healthz")
    await client.get("/readyz")
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'pulse_http_requests_total{method="GET",route="/healthz",status="200"}' in text
    assert "pulse_http_request_duration_seconds_bucket" in text
    assert "pulse_db_pool_size " in text
    assert "pulse_db_pool_in_use " in text
    assert "pulse_redis_up 1.0" in text


async def test_unknown_paths_are_labelled_without_the_raw_path(client: httpx.AsyncClient) -> None:
    await client.get("/no/such/path/12345")
    text = (await client.get("/metrics")).text
    assert "12345" not in text
    assert 'route="unmatched",status="404"' in text
