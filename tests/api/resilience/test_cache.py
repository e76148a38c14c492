"""The read cache: fresh answers after writes, stale answers (marked) while the database
breaker is open, and an in-memory fallback in development when Redis is gone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from api import db
from api.app import create_app
from api.embedded import EmbeddedPostgres, EmbeddedRedis
from api.resilience.cache import cacheable
from api.settings import Settings
from tests.factories import make_user, token_for
from tests.schema.test_workflows import CREATE, spec
from tests.support import GraphQLClient, serve_app

WORKFLOWS = "{ me { email } workflows { edges { node { name } } } }"


def test_what_is_cacheable() -> None:
    assert cacheable(WORKFLOWS, None)
    assert cacheable("query Q { patterns { edges { cursor } } }", "Q")
    assert not cacheable("{ events { edges { cursor } } }", None)
    assert not cacheable("{ workflows { edges { node { runs { edges { cursor } } } } } }", None)
    assert not cacheable('mutation { logout(refreshToken: "x") }', None)
    assert cacheable("{ me { ...F } } fragment F on User { id }", None)
    assert not cacheable("not graphql", None)


async def _names(client: GraphQLClient, token: str) -> list[str]:
    data = await client.gql(WORKFLOWS, token=token)
    return [e["node"]["name"] for e in data["workflows"]["edges"]]


async def test_writes_are_seen_at_once(api: GraphQLClient) -> None:
    await make_user()
    token = await token_for(api, "ada@example.com")
    assert await _names(api, token) == []
    await api.gql(CREATE, {"input": spec(name="first")}, token=token)
    assert await _names(api, token) == ["first"]
    await api.gql(CREATE, {"input": spec(name="second")}, token=token)
    assert await _names(api, token) == ["first", "second"]


async def test_stale_reads_while_the_database_is_down(settings: Settings, tmp_path: Path) -> None:
    server = EmbeddedPostgres(tmp_path / "pg").start()
    private = settings.model_copy(
        update={
            "database_url": server.database_url("postgres"),
            "db_connect_timeout": 1.0,
            "breaker_failure_threshold": 1,
            "breaker_reset_seconds": 30.0,
        }
    )
    try:
        await db.upgrade(private)
        async with serve_app(create_app(private)) as url:
            client = GraphQLClient(url)
            await make_user()
            token = await token_for(client, "ada@example.com")
            await client.gql(CREATE, {"input": spec(name="kept")}, token=token)
            assert await _names(client, token) == ["kept"]  # now cached
            server.stop(mode="immediate")
            first = await client.post(WORKFLOWS, token=token)
            assert first.status_code == 503  # the failure that opens the breaker
            stale = await client.post(WORKFLOWS, token=token)
            body: dict[str, Any] = stale.json()
            assert stale.status_code == 200 and body["extensions"] == {"stale": True}
            assert [e["node"]["name"] for e in body["data"]["workflows"]["edges"]] == ["kept"]
            # Something never cached cannot be served: 503.
            other = await client.post("{ patterns { edges { cursor } } }", token=token)
            assert other.status_code == 503
            await client.aclose()
    finally:
        server.stop()


async def test_memory_fallback_when_redis_is_gone_in_development(
    settings: Settings, tmp_path: Path
) -> None:
    from redis.asyncio import Redis

    from api.resilience.cache import ReadCache

    redis = EmbeddedRedis(tmp_path / "redis", persist=False).start()
    client = Redis.from_url(redis.url)
    cache = ReadCache(client, memory_fallback=True)
    redis.kill()
    await cache.put("u1", b"q", b'{"data": 1}')
    assert await cache.get("u1", b"q") == b'{"data": 1}'
    await cache.invalidate("u1")
    assert await cache.get("u1", b"q") is None
    strict = ReadCache(client, memory_fallback=False)
    await strict.put("u1", b"q", b"{}")
    assert await strict.get("u1", b"q") is None
    await client.aclose()
    redis.stop()
