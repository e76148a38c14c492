"""Redis stopped and restarted under a running API: the read cache and the global rate limit
together. While Redis is gone the API keeps answering (per-instance limit, login closed,
cache as documented for the environment, /readyz 503); once Redis is back on the same port
both are Redis-backed again without restarting the API, and an entry cached before the
outage is not served after a write made during it."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from api.app import create_app
from api.embedded import EmbeddedRedis
from api.resilience.latch import OPEN_SECONDS
from api.resilience.rate_limit import OperationLimiter
from api.runtime import Runtime
from api.settings import Settings
from tests.factories import LOGIN, PASSWORD, make_user, token_for
from tests.schema.test_workflows import spec
from tests.support import GraphQLClient, serve_app
from tests.tcp_proxy import TcpProxy

ME = "{ me { id } }"  # costs 2
# The exact request bytes, so the test can look the cached entry up by its key.
WORKFLOWS = json.dumps({"query": "{ workflows(first: 5) { edges { node { name } } } }"}).encode()
CREATE = "mutation($input: WorkflowInput!) { createWorkflow(input: $input) { __typename } }"
LIMIT = "100/minute"


async def _used(redis_url: str, user_id: str) -> int:
    """Units charged to the user in the shared window, as another instance would see them."""
    client = Redis.from_url(redis_url)
    limiter = OperationLimiter(redis_url, client.connection_pool, LIMIT, LIMIT)
    try:
        stats = await limiter.shared.get_window_stats(limiter.per_user, "op", user_id)
        return int(limiter.per_user.amount - stats.remaining)
    finally:
        await client.aclose()


async def _names(client: GraphQLClient, token: str) -> list[str]:
    response = await client.http.post(
        "/graphql",
        content=WORKFLOWS,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert "errors" not in body and "extensions" not in body, body
    return [e["node"]["name"] for e in body["data"]["workflows"]["edges"]]


async def _cached(runtime: Runtime, user_id: str) -> list[str] | None:
    """The names in the cached answer (written after the response is sent: polled)."""
    for _ in range(50):
        entry = await runtime.cache.get(user_id, WORKFLOWS)
        if entry is not None:
            edges = json.loads(entry)["data"]["workflows"]["edges"]
            return [e["node"]["name"] for e in edges]
        await asyncio.sleep(0.02)
    return None


@pytest.mark.parametrize("environment", ["test", "production"])
async def test_redis_stopped_and_restarted_cache_and_rate_limit(
    settings: Settings, tmp_path: Path, environment: str
) -> None:
    # Append-only file, as in docker-compose.yml: what was cached before the stop survives it.
    redis = EmbeddedRedis(tmp_path / "redis", persist=True).start()
    private = settings.model_copy(
        update={"redis_url": redis.url, "rate_limit_user": LIMIT, "environment": environment}
    )
    if environment == "production":  # what production insists on besides Redis
        private = private.model_copy(
            update={"secret_key": "k" * 48, "smtp_url": "smtp://127.0.0.1:2525"}
        )
    app = create_app(private)
    try:
        async with serve_app(app) as url:
            runtime: Runtime = app.state.runtime
            client = GraphQLClient(url)
            user = await make_user()
            uid = str(user.id)
            token = await token_for(client, "ada@example.com")

            # Before: reads are cached in Redis, operations charged to the shared window.
            await client.gql(CREATE, {"input": spec(name="before")}, token=token)
            assert await _names(client, token) == ["before"]
            assert await _cached(runtime, uid) == ["before"]
            used_before = await _used(redis.url, uid)
            assert used_before > 0

            redis.stop()

            # During: no 500; a write, then a fresh read.
            created = await client.post(CREATE, {"input": spec(name="during")}, token=token)
            assert created.status_code == 200, created.text
            assert created.json()["data"]["createWorkflow"]["__typename"] == "Workflow"
            assert await _names(client, token) == ["before", "during"]
            # The cache as documented: in memory per process in development and test; none in
            # production.
            during = await _cached(runtime, uid)
            assert during == (None if environment == "production" else ["before", "during"])
            # Login fails closed with the documented error.
            denied = await client.post(LOGIN, {"email": "ada@example.com", "password": PASSWORD})
            assert denied.status_code == 503 and int(denied.headers["retry-after"]) >= 1
            assert denied.json()["errors"][0]["extensions"]["code"] == "SERVICE_UNAVAILABLE"
            # The limit falls back to this instance's own window: reads go on, still limited.
            statuses: list[int] = []
            while 429 not in statuses and len(statuses) < 60:
                statuses.append((await client.post(ME, token=token)).status_code)
            assert statuses[-1] == 429 and set(statuses[:-1]) == {200}, statuses
            ready = await client.http.get("/readyz")
            assert ready.status_code == 503 and ready.json()["failing"] == ["redis"]

            redis.start()  # same port and data; the API is not restarted
            # Redis failed moments ago: the API tries it again once its latch expires.
            await asyncio.sleep(OPEN_SECONDS + 0.5)

            ready = await client.http.get("/readyz")
            assert ready.status_code == 200, ready.json()
            # The entry cached before the outage predates the write made during it.
            assert await runtime.cache.get(uid, WORKFLOWS) is None
            # The per-instance window is spent: a 200 now means the shared one is used again,
            # and another instance sees the charge.
            assert (await client.post(ME, token=token)).status_code == 200
            assert await _used(redis.url, uid) == used_before + 2
            # Caching in Redis again.
            assert await _names(client, token) == ["before", "during"]
            assert await _cached(runtime, uid) == ["before", "during"]
            async with Redis.from_url(redis.url) as direct:
                assert [k async for k in direct.scan_iter(f"cache:{uid}:*")]
            assert await token_for(client, "ada@example.com")  # login is back
            await client.aclose()
    finally:
        redis.stop()


async def test_a_redis_that_hangs_costs_a_request_its_timeout_at_most_once(
    settings: Settings, tmp_path: Path
) -> None:
    """Redis accepts connections but answers nothing (a proxy holds every byte). Each Redis
    call gives up after REDIS_TIMEOUT_SECONDS; after the first failure the latch sends the
    next requests straight to their fallbacks. Once Redis answers again, so does the shared
    rate limit."""
    redis = EmbeddedRedis(tmp_path / "redis").start()
    proxy = await TcpProxy(redis.port).start()
    private = settings.model_copy(
        update={
            "redis_url": f"redis://127.0.0.1:{proxy.port}/0",
            "rate_limit_user": LIMIT,
            "redis_timeout_seconds": 0.5,
        }
    )
    app = create_app(private)
    try:
        async with serve_app(app) as url:
            client = GraphQLClient(url)
            user = await make_user()
            token = await token_for(client, "ada@example.com")
            await client.gql(ME, token=token)
            proxy.latency = 3600  # hung

            timings = []
            for _ in range(6):
                started = time.perf_counter()
                response = await client.post(ME, token=token)
                timings.append(time.perf_counter() - started)
                assert response.status_code == 200, response.text
            assert timings[0] < 3 * 0.5, timings  # the timeout, paid once per Redis call
            assert max(timings[1:]) < 0.25, timings  # the latch: no waiting at all

            started = time.perf_counter()
            login = await client.post(LOGIN, {"email": "ada@example.com", "password": PASSWORD})
            assert login.status_code == 503, login.text  # login fails closed, promptly
            assert time.perf_counter() - started < 3 * 0.5

            proxy.latency = 0
            used = await _used(redis.url, str(user.id))
            # The latch lets Redis be tried again OPEN_SECONDS after the last failed call
            # (a call still in flight when the test got here may fail up to a timeout later).
            await asyncio.sleep(OPEN_SECONDS + 1)
            assert (await client.post(ME, token=token)).status_code == 200
            assert await _used(redis.url, str(user.id)) == used + 2  # charged in Redis again
            await client.aclose()
    finally:
        await proxy.stop()
        redis.stop()
