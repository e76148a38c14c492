"""The product's promise, end to end: while events are sent continuously, PostgreSQL and
then Redis are taken down and brought back. Every event the API answered ACCEPTED is stored
exactly once; every refused request was refused with 503/429 (so the client knows to retry),
and retrying it with the same clientIds loses and doubles nothing; nothing answered 500."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

from api import db
from api.app import create_app
from api.embedded import EmbeddedPostgres, EmbeddedRedis
from api.settings import Settings
from tests.factories import make_user, token_for
from tests.support import GraphQLClient, serve_app

RECORD = """mutation($i: [EventInput!]!) { recordEvents(inputs: $i) {
  results { status event { clientId } } } }"""


async def test_nothing_accepted_is_lost_through_database_and_redis_outages(
    settings: Settings, tmp_path: Path
) -> None:
    pg = EmbeddedPostgres(tmp_path / "pg").start()
    redis = EmbeddedRedis(tmp_path / "redis", persist=False).start()
    private = settings.model_copy(
        update={
            "database_url": pg.database_url("postgres"),
            "redis_url": redis.url,
            "db_connect_timeout": 1.0,
            "breaker_failure_threshold": 3,
            "breaker_reset_seconds": 0.5,
            "request_timeout_seconds": 3.0,
        }
    )
    accepted: Counter[str] = Counter()
    sent: set[str] = set()
    statuses: Counter[int] = Counter()
    counter = itertools.count()
    try:
        await db.upgrade(private)
        async with serve_app(create_app(private)) as url:
            client = GraphQLClient(url)
            await make_user()
            token = await token_for(client, "ada@example.com")
            stop = asyncio.Event()

            async def send_continuously() -> None:
                batch: list[dict[str, str]] = []
                while not stop.is_set() or batch:
                    if not batch:  # a refused batch is retried as is, like a careful client
                        at = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
                        batch = [
                            {
                                "kind": "load.test",
                                "source": "cli",
                                "occurredAt": at,
                                "clientId": f"c{next(counter)}",
                            }
                            for _ in range(5)
                        ]
                    response = await client.post(RECORD, {"i": batch}, token=token)
                    statuses[response.status_code] += 1
                    if response.status_code == 200:
                        for result in response.json()["data"]["recordEvents"]["results"]:
                            assert result["status"] in {"ACCEPTED", "DUPLICATE"}, result
                            if result["status"] == "ACCEPTED":
                                accepted[result["event"]["clientId"]] += 1
                            sent.add(result["event"]["clientId"])
                        batch = []
                    else:
                        await asyncio.sleep(0.1)
                    await asyncio.sleep(0.01)

            sender = asyncio.create_task(send_continuously())
            await asyncio.sleep(1)
            pg.stop(mode="immediate")
            await asyncio.sleep(2)
            pg.start()
            await asyncio.sleep(2)
            redis.kill()
            await asyncio.sleep(2)
            redis.start()
            await asyncio.sleep(2)
            stop.set()
            await sender
            await client.aclose()
        conn = await asyncpg.connect(pg.database_url("postgres"))
        try:
            stored = Counter(
                r["client_id"] for r in await conn.fetch("SELECT client_id FROM events")
            )
        finally:
            await conn.close()
    finally:
        redis.stop()
        pg.stop()
    assert 500 not in statuses, statuses
    assert set(statuses) <= {200, 503, 429}, statuses
    assert statuses[503] > 0, "the outage never showed: nothing was tested"
    assert statuses[200] > 0
    assert all(n == 1 for n in accepted.values())
    assert set(accepted) <= sent
    # Every event the client sent is stored exactly once, refused tries included.
    assert stored == Counter(sent)
    assert all(n == 1 for n in stored.values())
