"""The event pipeline in real arq workers on real Redis: processing, dead letters, replay,
the sweeper, a killed worker, a Redis outage."""

from __future__ import annotations

import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from api.app import create_app
from api.embedded import EmbeddedRedis
from api.settings import Settings
from tests.factories import make_user, token_for
from tests.jobs.conftest import StartWorker, eventually
from tests.support import GraphQLClient, serve_app

RECORD = """mutation($inputs: [EventInput!]!) { recordEvents(inputs: $inputs) {
  accepted results { status event { id } } } }"""
DEAD_LETTERS = """query($s: DeadLetterStatus) { deadLetters(status: $s) {
  edges { node { id status attempts error payload history } } } }"""
REPLAY = "mutation($ids: [ID!]!) { replayDeadLetters(ids: $ids) { id status } }"


def _events(n: int, **change: Any) -> list[dict[str, Any]]:
    at = datetime.now(UTC) - timedelta(hours=1)
    return [
        {
            "kind": "file.modified",
            "source": "cli",
            "occurredAt": (at + timedelta(seconds=i)).isoformat(),
            "durationMs": 10,
            "data": {"path": f"src/m{i}.py"},
            "clientId": f"e-{i}",
            **change,
        }
        for i in range(n)
    ]


async def _count(pg: asyncpg.Connection, where: str) -> int:
    return int(await pg.fetchval(f"SELECT count(*) FROM events WHERE {where}"))


@pytest.fixture
async def token(api: GraphQLClient) -> str:
    await make_user()
    return await token_for(api, "ada@example.com")


async def test_accepted_events_are_processed_once_with_aggregates(
    api: GraphQLClient, token: str, pg: asyncpg.Connection, start_worker: StartWorker
) -> None:
    start_worker()
    payload = (await api.gql(RECORD, {"inputs": _events(50)}, token=token))["recordEvents"]
    assert payload["accepted"] == 50

    async def all_processed() -> bool:
        return await _count(pg, "processed_at IS NULL") == 0

    await eventually(all_processed)
    stats = await pg.fetch("SELECT kind, source, count, total_duration_ms FROM event_stats")
    assert sum(r["count"] for r in stats) == 50
    assert sum(r["total_duration_ms"] for r in stats) == 500
    derived = await pg.fetchval("SELECT data->'_derived'->>'extension' FROM events LIMIT 1")
    assert derived == ".py"


async def test_a_poison_event_among_100_is_dead_lettered_and_the_rest_processed(
    api: GraphQLClient, token: str, pg: asyncpg.Connection, start_worker: StartWorker
) -> None:
    start_worker(PIPELINE_MAX_ATTEMPTS="3")
    events = _events(100)
    events[37]["data"] = {"path": 42}  # file.* events need a string path
    await api.gql(RECORD, {"inputs": events}, token=token)

    async def settled() -> bool:
        return await pg.fetchval("SELECT count(*) FROM failed_events") == 1

    await eventually(settled)
    assert await _count(pg, "processed_at IS NOT NULL") == 99
    letter = await pg.fetchrow("SELECT * FROM failed_events")
    assert letter["attempts"] == 3 and letter["status"] == "open"
    assert "EnrichmentError" in letter["error"] and "data.path" in letter["error"]
    assert letter["first_failed_at"] is not None and letter["last_failed_at"] is not None

    admin = await make_user("root@example.com", role=__import__("models.users").users.Role.ADMIN)
    admin_token = await token_for(api, admin.email)
    listed = (await api.gql(DEAD_LETTERS, {"s": "OPEN"}, token=admin_token))["deadLetters"]["edges"]
    assert len(listed) == 1 and listed[0]["node"]["payload"]["data"] == {"path": 42}

    # Replaying an item that still fails sends it back, with its history.
    letter_id = listed[0]["node"]["id"]
    replayed = await api.gql(REPLAY, {"ids": [letter_id, letter_id]}, token=admin_token)
    assert replayed["replayDeadLetters"] == [{"id": letter_id, "status": "REPLAYING"}]
    again = (await api.gql(REPLAY, {"ids": [letter_id]}, token=admin_token))["replayDeadLetters"]
    assert again == []  # idempotent: already being replayed

    async def failed_again() -> bool:
        row = await pg.fetchrow("SELECT status, history FROM failed_events")
        return row["status"] == "open" and row["history"] != "[]"

    await eventually(failed_again)
    row = await pg.fetchrow("SELECT attempts, history FROM failed_events")
    assert row["attempts"] == 6
    assert await _count(pg, "processed_at IS NOT NULL") == 99


async def test_replay_of_a_fixed_item_resolves_it(
    api: GraphQLClient, token: str, pg: asyncpg.Connection, start_worker: StartWorker
) -> None:
    start_worker(PIPELINE_MAX_ATTEMPTS="1")
    await api.gql(RECORD, {"inputs": _events(1, data={"path": None})}, token=token)

    async def dead() -> bool:
        return await pg.fetchval("SELECT count(*) FROM failed_events") == 1

    await eventually(dead)
    # An operator repairs the data, then replays.
    await pg.execute("""UPDATE events SET data = '{"path": "fixed.txt"}'""")
    from models.users import Role

    admin = await make_user("root@example.com", role=Role.ADMIN)
    admin_token = await token_for(api, admin.email)
    letter_id = str(await pg.fetchval("SELECT id FROM failed_events"))
    await api.gql(REPLAY, {"ids": [letter_id]}, token=admin_token)

    async def resolved() -> bool:
        return await pg.fetchval("SELECT status FROM failed_events") == "resolved"

    await eventually(resolved)
    assert await _count(pg, "processed_at IS NOT NULL") == 1


async def test_replay_is_admin_only(api: GraphQLClient, token: str) -> None:
    body = (await api.post(REPLAY, {"ids": ["1"]}, token=token)).json()
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_killing_a_worker_mid_batch_loses_and_doubles_nothing(
    api: GraphQLClient, token: str, pg: asyncpg.Connection, start_worker: StartWorker
) -> None:
    recorded = await api.gql(RECORD, {"inputs": _events(1000)}, token=token)
    assert recorded["recordEvents"]["accepted"] == 1000
    # The job outlives the killed worker in Redis and comes back after its timeout.
    env = {"WORKER_JOB_TIMEOUT": "3", "PIPELINE_REDISPATCH_SECONDS": "5"}
    first = start_worker(**env)

    async def started() -> bool:
        return await _count(pg, "processed_at IS NOT NULL") > 0

    await eventually(started, interval=0.01)
    first.send_signal(signal.SIGKILL)
    first.wait()
    done_at_kill = await _count(pg, "processed_at IS NOT NULL")
    assert done_at_kill < 1000, "the batch finished before the kill; nothing was tested"

    start_worker(**env)

    async def all_done() -> bool:
        return await _count(pg, "processed_at IS NULL") == 0

    await eventually(all_done, timeout=60)
    assert await pg.fetchval("SELECT sum(count) FROM event_stats") == 1000


async def test_events_accepted_while_redis_is_down_are_all_processed_after(
    settings: Settings, pg: asyncpg.Connection, start_worker: StartWorker, tmp_path: Path
) -> None:
    redis = EmbeddedRedis(tmp_path / "redis", persist=False).start()
    private = settings.model_copy(update={"redis_url": redis.url})
    try:
        async with serve_app(create_app(private)) as url:
            client = GraphQLClient(url)
            await make_user()
            token = await token_for(client, "ada@example.com")
            redis.kill()
            accepted = 0
            for batch in range(3):
                events = _events(20, source=f"s{batch}")
                for i, e in enumerate(events):
                    e["clientId"] = f"b{batch}-{i}"
                payload = await client.gql(RECORD, {"inputs": events}, token=token)
                accepted += payload["recordEvents"]["accepted"]
            assert accepted == 60
            assert await _count(pg, "dispatched_at IS NULL") == 60
            redis.start()
            start_worker(REDIS_URL=redis.url)

            async def all_done() -> bool:
                return await _count(pg, "processed_at IS NULL") == 0

            await eventually(all_done)
            await client.aclose()
        assert await pg.fetchval("SELECT sum(count) FROM event_stats") == 60
    finally:
        redis.stop()
