"""DATABASE_READ_URL: reads go to the replica while it is healthy and to the primary when it
is down (no error for the client); writes always go to the primary. Plain reads that hit a
dropped connection are retried."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg

from api import db
from api.app import create_app
from api.embedded import EmbeddedPostgres
from api.settings import Settings
from tests.factories import make_user, token_for
from tests.schema.test_workflows import CREATE, spec
from tests.support import GraphQLClient, serve_app

NAMES = "{ workflows { edges { node { name } } } }"


async def _names(client: GraphQLClient, token: str) -> list[str]:
    response = await client.post(NAMES, token=token)
    assert response.status_code == 200, response.text
    return [e["node"]["name"] for e in response.json()["data"]["workflows"]["edges"]]


async def test_reads_use_the_replica_and_fall_back_to_the_primary(
    settings: Settings, tmp_path: Path, pg: asyncpg.Connection
) -> None:
    replica = EmbeddedPostgres(tmp_path / "replica").start()
    replica_url = replica.database_url("postgres")
    try:
        await db.upgrade(settings.model_copy(update={"database_url": replica_url}))
        routed = settings.model_copy(
            update={"database_read_url": replica_url, "db_connect_timeout": 1.0}
        )
        async with serve_app(create_app(routed)) as url:
            client = GraphQLClient(url)
            user = await make_user()  # a write: the primary
            # Stand-in for replication: the replica gets the user, plus a row only it has.
            copy = await asyncpg.connect(replica_url)
            row = await pg.fetchrow("SELECT * FROM users")
            await copy.execute(
                f"INSERT INTO users ({', '.join(row.keys())}) VALUES "
                f"({', '.join(f'${i + 1}' for i in range(len(row)))})",
                *row.values(),
            )
            await copy.execute(
                "INSERT INTO workflows (id, user_id, name, description, enabled, timezone,"
                " missed_run_policy, overlap_policy, secret, max_consecutive_failures,"
                " consecutive_failures, created_at, updated_at) VALUES (gen_random_uuid(), $1,"
                " 'only-on-replica', '', false, 'UTC', 'skip', 'skip', 's', 3, 0, now(), now())",
                user.id,
            )
            await copy.close()
            token = await token_for(client, user.email)
            for _ in range(50):  # the probe finds the replica healthy within a second or so
                if await _names(client, token) == ["only-on-replica"]:
                    break
                await asyncio.sleep(0.1)
            assert await _names(client, token) == ["only-on-replica"]

            created = await client.gql(CREATE, {"input": spec(name="written")}, token=token)
            assert created["createWorkflow"]["__typename"] == "Workflow"
            assert await pg.fetchval("SELECT count(*) FROM workflows WHERE name = 'written'") == 1

            replica.stop(mode="immediate")
            # Down: the very next read is answered by the primary, no error.
            assert await _names(client, token) == ["written"]
            assert await _names(client, token) == ["written"]
            await client.aclose()
    finally:
        replica.stop()
