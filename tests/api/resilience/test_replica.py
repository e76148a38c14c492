"""DATABASE_READ_URL: reads go to the replica while it is healthy and to the primary when it
is down (no error for the client); writes always go to the primary. Plain reads that hit a
dropped connection are retried."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
from tortoise.transactions import in_transaction

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


VERIFY = "mutation($t: String!) { verifyEmail(token: $t) { __typename ... on Error { code } } }"
CHANGE = """mutation($old: String!, $new: String!) {
  changePassword(currentPassword: $old, newPassword: $new) { __typename ... on Error { code } } }"""
LOGOUT = "mutation($t: String!) { logout(refreshToken: $t) }"


async def test_accounts_are_read_on_the_primary(
    settings: Settings, tmp_path: Path, pg: asyncpg.Connection
) -> None:
    """Replication lag must not make a fresh account fail to sign in, nor a revoked token or
    a password changed on the primary look valid: account reads never go to the replica."""
    from api.resilience.replica import HEALTH
    from api.services.users import VERIFY_EMAIL_TTL, _new_token
    from models.users import TokenPurpose
    from models.workflows import Workflow
    from tests.factories import ME, PASSWORD, REFRESH, login

    replica = EmbeddedPostgres(tmp_path / "replica").start()
    replica_url = replica.database_url("postgres")
    try:
        await db.upgrade(settings.model_copy(update={"database_url": replica_url}))
        routed = settings.model_copy(
            update={"database_read_url": replica_url, "db_connect_timeout": 1.0}
        )
        async with serve_app(create_app(routed)) as url:
            client = GraphQLClient(url)
            for _ in range(50):
                if HEALTH.healthy:
                    break
                await asyncio.sleep(0.1)
            assert HEALTH.healthy
            # A fresh account: on the primary only (the replica lags behind).
            user = await make_user(verified=False)
            copy = await asyncpg.connect(replica_url)
            # What only the replica has proves other reads really go there (replication
            # applies rows without checking foreign keys, as this session does).
            await copy.execute("SET session_replication_role = replica")
            await copy.execute(
                "INSERT INTO workflows (id, user_id, name, description, enabled, timezone,"
                " missed_run_policy, overlap_policy, secret, max_consecutive_failures,"
                " consecutive_failures, created_at, updated_at) VALUES (gen_random_uuid(), $1,"
                " 'only-on-replica', '', false, 'UTC', 'skip', 'skip', 's', 3, 0, now(), now())",
                user.id,
            )

            first = await login(client, user.email)
            assert first["__typename"] == "AuthPayload", first
            token = first["accessToken"]
            assert (await client.gql(ME, token=token))["me"]["id"] == str(user.id)
            assert await _names(client, token) == ["only-on-replica"]
            # A read inside a transaction runs in it, on the primary.
            assert await Workflow.filter(user_id=user.id).count() == 1
            async with in_transaction("default"):
                assert await Workflow.filter(user_id=user.id).count() == 0
            rotated = (await client.gql(REFRESH, {"token": first["refreshToken"]}))["refreshToken"]
            assert rotated["__typename"] == "AuthPayload", rotated
            assert (await client.gql(LOGOUT, {"t": rotated["refreshToken"]}))["logout"] is True
            again = (await client.gql(REFRESH, {"token": rotated["refreshToken"]}))["refreshToken"]
            assert again["code"] == "TOKEN_REVOKED"
            verify = await _new_token(user, TokenPurpose.VERIFY_EMAIL, VERIFY_EMAIL_TTL)
            verified = (await client.gql(VERIFY, {"t": verify}))["verifyEmail"]
            assert verified["__typename"] == "User", verified

            # A stale replica: it has the account as it was before a password change.
            row = await pg.fetchrow("SELECT * FROM users WHERE id = $1", user.id)
            await copy.execute(
                f"INSERT INTO users ({', '.join(row.keys())}) VALUES "
                f"({', '.join(f'${i + 1}' for i in range(len(row)))})",
                *row.values(),
            )
            await copy.close()
            token = (await login(client, user.email))["accessToken"]
            new_password = "another-long-password-7"
            changed = await client.gql(CHANGE, {"old": PASSWORD, "new": new_password}, token=token)
            assert changed["changePassword"]["__typename"] == "User", changed
            stale = await client.post(ME, token=token)
            assert stale.status_code == 401, stale.text  # older than the password change
            assert (await login(client, user.email, new_password))["__typename"] == "AuthPayload"
            assert (await login(client, user.email))["code"] == "INVALID_CREDENTIALS"
            await client.aclose()
    finally:
        replica.stop()
