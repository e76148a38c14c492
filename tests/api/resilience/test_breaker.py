"""The database circuit breaker and request deadline, against a PostgreSQL the test owns:
stopped, its connections killed, made slow, its pool exhausted."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg

from api import db
from api.app import create_app
from api.embedded import EmbeddedPostgres
from api.resilience.breaker import BreakerState, CircuitBreaker, is_connection_error
from api.settings import Settings
from tests.factories import make_user, token_for
from tests.support import GraphQLClient, serve_app
from tests.tcp_proxy import TcpProxy

EVENTS = "{ events(first: 5) { edges { node { id } } } }"


async def test_breaker_opens_probes_and_closes() -> None:
    now = [0.0]
    breaker = CircuitBreaker(failure_threshold=3, reset_timeout=10, clock=lambda: now[0])
    for _ in range(2):
        assert breaker.allow()
        breaker.record_failure()
    assert breaker.state == BreakerState.CLOSED
    breaker.record_failure()
    assert breaker.state == BreakerState.OPEN and not breaker.allow()
    assert breaker.retry_after() == 10
    now[0] = 10.0
    assert breaker.state == BreakerState.HALF_OPEN

    async def down() -> None:
        raise ConnectionRefusedError()

    assert not await breaker.admit(down)  # the probe got no answer: open again
    assert breaker.state == BreakerState.OPEN
    now[0] = 20.0
    breaker.record_success()  # a request that began before the breaker opened proves nothing
    assert breaker.state == BreakerState.HALF_OPEN
    answer = asyncio.Event()

    async def slow() -> None:
        await answer.wait()

    probe = asyncio.create_task(breaker.admit(slow))
    await asyncio.sleep(0)
    assert not await breaker.admit(slow)  # one probe at a time
    answer.set()
    assert await probe
    assert breaker.state == BreakerState.CLOSED and breaker.allow()


def test_only_connection_failures_count() -> None:
    from tortoise.exceptions import IntegrityError, OperationalError

    assert is_connection_error(ConnectionRefusedError())
    assert is_connection_error(TimeoutError())
    wrapped = OperationalError("x")
    wrapped.__cause__ = asyncpg.exceptions.ConnectionDoesNotExistError("gone")
    assert is_connection_error(wrapped)
    assert not is_connection_error(IntegrityError("duplicate key"))
    assert not is_connection_error(ValueError("bad input"))
    assert not is_connection_error(None)


@asynccontextmanager
async def _private_app(
    settings: Settings, tmp_path: Path, *, through_proxy: bool = False, **change: Any
) -> AsyncIterator[tuple[GraphQLClient, str, EmbeddedPostgres, TcpProxy | None]]:
    server = EmbeddedPostgres(tmp_path / "pg").start()
    proxy = await TcpProxy(server.port).start() if through_proxy else None
    port = proxy.port if proxy else server.port
    url = f"postgres://postgres@127.0.0.1:{port}/postgres"
    private = settings.model_copy(
        update={
            "database_url": url,
            "db_connect_timeout": 1.0,
            "breaker_failure_threshold": 3,
            "breaker_reset_seconds": 1.0,
            "request_timeout_seconds": 3.0,
            **change,
        }
    )
    try:
        await db.upgrade(
            private.model_copy(update={"database_url": server.database_url("postgres")})
        )
        async with serve_app(create_app(private)) as base:
            client = GraphQLClient(base)
            await make_user()
            token = await token_for(client, "ada@example.com")
            yield client, token, server, proxy
            await client.aclose()
    finally:
        if proxy:
            await proxy.stop()
        server.stop()


async def _status(client: GraphQLClient, token: str) -> tuple[int, dict[str, Any], Any]:
    response = await client.post(EVENTS, token=token)
    assert response.status_code != 500, response.text
    return response.status_code, response.json(), response.headers


async def test_postgres_stopped_under_load_then_back(settings: Settings, tmp_path: Path) -> None:
    async with _private_app(settings, tmp_path) as (client, token, server, _):
        assert (await _status(client, token))[0] == 200
        server.stop(mode="immediate")
        outcomes = [await _status(client, token) for _ in range(8)]
        for status, body, headers in outcomes:
            assert status == 503
            assert body["errors"][0]["extensions"]["code"] == "SERVICE_UNAVAILABLE"
            assert int(headers["retry-after"]) >= 1
        metrics = (await client.http.get("/metrics")).text
        assert "pulse_db_breaker_state 2.0" in metrics
        ready = (await client.http.get("/readyz")).json()
        assert "breaker" in ready["failing"] and ready["checks"]["breaker"] == "open"
        # While open, answers are immediate: the database is not even tried.
        started = time.perf_counter()
        status, _, _ = await _status(client, token)
        assert status == 503 and time.perf_counter() - started < 0.5
        server.start()
        for _ in range(100):
            status, _, _ = await _status(client, token)
            if status == 200:
                break
            await asyncio.sleep(0.1)
        assert status == 200, "no recovery after the database came back"
        assert "pulse_db_breaker_state 0.0" in (await client.http.get("/metrics")).text


async def test_connections_killed_mid_flight_never_give_500(
    settings: Settings, tmp_path: Path
) -> None:
    async with _private_app(settings, tmp_path) as (client, token, server, _):
        admin = await asyncpg.connect(server.database_url("postgres"))
        try:
            for _ in range(3):
                await admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE pid <> pg_backend_pid() AND datname = 'postgres'"
                )
                statuses = [(await _status(client, token))[0] for _ in range(3)]
                assert set(statuses) <= {200, 503}
        finally:
            await admin.close()
        for _ in range(50):
            if (await _status(client, token))[0] == 200:
                return
            await asyncio.sleep(0.1)
        raise AssertionError("never recovered")


async def test_a_slow_database_gets_503_within_the_deadline(
    settings: Settings, tmp_path: Path
) -> None:
    async with _private_app(
        settings, tmp_path, through_proxy=True, request_timeout_seconds=1.0
    ) as (client, token, _, proxy):
        assert proxy is not None
        proxy.latency = 5.0
        started = time.perf_counter()
        status, body, _ = await _status(client, token)
        assert status == 503 and body["errors"][0]["extensions"]["code"] == "SERVICE_UNAVAILABLE"
        assert time.perf_counter() - started < 3
        proxy.latency = 0.0
        proxy.cut()
        for _ in range(100):
            if (await _status(client, token))[0] == 200:
                return
            await asyncio.sleep(0.1)
        raise AssertionError("never recovered")


async def test_pool_exhaustion_waits_a_bounded_time_then_503(
    settings: Settings, tmp_path: Path
) -> None:
    async with _private_app(
        settings,
        tmp_path,
        through_proxy=True,
        db_pool_max=1,
        db_pool_min=1,
        request_timeout_seconds=1.0,
    ) as (client, token, _, proxy):
        assert proxy is not None
        proxy.latency = 0.7  # each query holds the only connection for a while
        started = time.perf_counter()
        results = await asyncio.gather(*[_status(client, token) for _ in range(6)])
        elapsed = time.perf_counter() - started
        assert {status for status, _, _ in results} <= {200, 503}
        assert any(status == 503 for status, _, _ in results)
        assert elapsed < 5  # nobody hung


async def test_a_read_cut_mid_flight_is_retried_not_failed(
    settings: Settings, tmp_path: Path
) -> None:
    async with _private_app(settings, tmp_path, through_proxy=True) as (client, token, _, proxy):
        assert proxy is not None
        assert (await _status(client, token))[0] == 200
        proxy.latency = 0.3
        request = asyncio.create_task(_status(client, token))
        await asyncio.sleep(0.15)  # the auth lookup is on the wire now
        proxy.cut()
        proxy.latency = 0.0
        status, body, _ = await request
        # A plain read has no effect: it was retried on a fresh connection.
        assert status == 200, body


def _breaker_state(metrics: str) -> float:
    line = next(x for x in metrics.splitlines() if x.startswith("pulse_db_breaker_state "))
    return float(line.split()[1])


async def test_half_open_closes_only_when_the_database_answers(
    settings: Settings, tmp_path: Path
) -> None:
    """An anonymous `me` never queries the database: in half-open state it must not close
    the breaker while PostgreSQL is down; once it is back, the probe closes it."""
    async with _private_app(settings, tmp_path) as (client, token, server, _):

        async def state() -> float:
            return _breaker_state((await client.http.get("/metrics")).text)

        server.stop(mode="immediate")
        for _ in range(10):
            await _status(client, token)
            if await state() == BreakerState.OPEN:
                break
        assert await state() == BreakerState.OPEN
        await asyncio.sleep(1.1)  # breaker_reset_seconds
        assert await state() == BreakerState.HALF_OPEN
        anonymous = await client.post("{ me { id } }")
        assert anonymous.status_code == 503, anonymous.text
        assert anonymous.json()["errors"][0]["extensions"]["code"] == "SERVICE_UNAVAILABLE"
        assert await state() == BreakerState.OPEN  # not closed by a request that proved nothing
        ready = (await client.http.get("/readyz")).json()
        assert ready["checks"]["breaker"] == "open"

        server.start()
        await asyncio.sleep(1.1)
        assert await state() == BreakerState.HALF_OPEN
        anonymous = await client.post("{ me { id } }")
        assert anonymous.status_code == 200 and anonymous.json()["data"] == {"me": None}
        assert await state() == BreakerState.CLOSED  # the probe's SELECT 1 was answered
        assert (await _status(client, token))[0] == 200
