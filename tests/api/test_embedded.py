"""The embedded servers are real, keep their data across a restart, and stop."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import redis

from api.embedded import EmbeddedPostgres, EmbeddedRedis, port_open


async def test_postgres_keeps_data_across_a_restart(tmp_path: Path) -> None:
    server = EmbeddedPostgres(tmp_path / "pg").start()
    try:
        server.create_database("kept")
        server.create_database("kept")  # idempotent
        conn = await asyncpg.connect(server.database_url("kept"))
        await conn.execute("CREATE TABLE t (v text); INSERT INTO t VALUES ('survives')")
        await conn.close()
        server.stop()
        assert not port_open(server.port)
        server.start()
        conn = await asyncpg.connect(server.database_url("kept"))
        assert await conn.fetchval("SELECT v FROM t") == "survives"
        await conn.close()
    finally:
        server.stop()
    assert not port_open(server.port)


def test_redis_keeps_data_across_a_restart(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path / "redis").start()
    try:
        client = redis.Redis.from_url(server.url)
        client.set("kept", "yes")
        client.close()
        server.stop()
        assert not port_open(server.port)
        server.start()
        client = redis.Redis.from_url(server.url)
        assert client.get("kept") == b"yes"
        client.close()
    finally:
        server.stop()
    assert not server.running
