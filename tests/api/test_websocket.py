"""Mutations over a real websocket: idempotency keys with the HTTP path's semantics, and the
caller's cached reads invalidated as after an HTTP mutation."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from api.app import create_app
from api.settings import Settings
from tests.factories import make_user, token_for
from tests.schema.test_workflows import CREATE, spec
from tests.support import GraphQLClient, serve_app
from tests.ws_client import Subscriber, subscriber

NAMES = "query { workflows { edges { node { name } } } }"


@pytest.fixture
async def token(api: GraphQLClient) -> str:
    await make_user("ada@example.com")
    return await token_for(api, "ada@example.com")


async def _run(socket: Subscriber, query: str, variables: dict[str, Any], key: str | None) -> Any:
    """Send one operation; its `next` payload (or the `error` message's), then `complete`."""
    extensions = {"idempotencyKey": key} if key is not None else None
    op_id = await socket.subscribe(query, variables, extensions)
    message = await socket.receive()
    assert message["id"] == op_id, message
    if message["type"] == "error":
        return message
    assert message["type"] == "next", message
    done = await socket.receive()
    assert done == {"id": op_id, "type": "complete"}, done
    return message["payload"]


async def _workflows(pg: asyncpg.Connection) -> int:
    return int(await pg.fetchval("SELECT count(*) FROM workflows"))


async def test_a_retried_key_returns_the_first_answer_without_a_second_effect(
    api: GraphQLClient, token: str, pg: asyncpg.Connection
) -> None:
    async with subscriber(api.base_url, token) as socket:
        first = await _run(socket, CREATE, {"input": spec()}, "create-1")
        again = await _run(socket, CREATE, {"input": spec()}, "create-1")
    assert first["data"]["createWorkflow"]["name"] == "Morning digest"
    assert again == first
    assert await _workflows(pg) == 1
    # Another connection, same user, same key: still the stored answer.
    async with subscriber(api.base_url, token) as socket:
        assert await _run(socket, CREATE, {"input": spec()}, "create-1") == first
    assert await _workflows(pg) == 1


async def test_refused_keys_carry_the_http_codes(
    api: GraphQLClient, token: str, pg: asyncpg.Connection
) -> None:
    async with subscriber(api.base_url, token) as socket:
        await _run(socket, CREATE, {"input": spec()}, "k")
        reused = await _run(socket, CREATE, {"input": spec(name="Other")}, "k")
        too_long = await _run(socket, CREATE, {"input": spec()}, "x" * 256)
    assert reused["type"] == "error"
    assert reused["payload"][0]["extensions"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert too_long["payload"][0]["extensions"]["code"] == "IDEMPOTENCY_KEY_INVALID"
    assert await _workflows(pg) == 1


async def test_concurrent_operations_with_one_key_have_one_effect(
    api: GraphQLClient, token: str, pg: asyncpg.Connection
) -> None:
    async with subscriber(api.base_url, token) as socket:
        ids = [
            await socket.subscribe(CREATE, {"input": spec()}, {"idempotencyKey": "burst"})
            for _ in range(20)
        ]
        answers: dict[str, list[dict[str, Any]]] = {op_id: [] for op_id in ids}
        while any(not m or m[-1]["type"] not in ("complete", "error") for m in answers.values()):
            message = await socket.receive()
            answers[message["id"]].append(message)
    assert await _workflows(pg) == 1
    outcomes = [messages[0] for messages in answers.values()]
    created = [m for m in outcomes if m["type"] == "next"]
    in_use = [m for m in outcomes if m["type"] == "error"]
    assert created, outcomes
    assert len({str(m["payload"]) for m in created}) == 1  # the one result, replayed
    assert all(m["payload"][0]["extensions"]["code"] == "IDEMPOTENCY_KEY_IN_USE" for m in in_use)


async def test_a_validation_failure_is_not_stored(
    api: GraphQLClient, token: str, pg: asyncpg.Connection
) -> None:
    async with subscriber(api.base_url, token) as socket:
        invalid = await _run(socket, CREATE, {"input": spec(schedule="not cron")}, "fix-me")
        assert invalid["data"]["createWorkflow"]["__typename"] == "ValidationError"
        # The client fixes its input and retries with the same key: it runs.
        fixed = await _run(socket, CREATE, {"input": spec()}, "fix-me")
    assert fixed["data"]["createWorkflow"]["name"] == "Morning digest"
    assert await _workflows(pg) == 1


async def test_a_mutation_over_the_socket_invalidates_cached_reads(
    api: GraphQLClient, token: str
) -> None:
    assert (await api.gql(NAMES, token=token))["workflows"]["edges"] == []  # now cached
    async with subscriber(api.base_url, token) as socket:
        await _run(socket, CREATE, {"input": spec(name="Fresh")}, None)
    await asyncio.sleep(0)  # nothing to wait for: the invalidation precedes `complete`
    edges = (await api.gql(NAMES, token=token))["workflows"]["edges"]
    assert [edge["node"]["name"] for edge in edges] == ["Fresh"]


async def test_operations_over_the_socket_are_rate_limited_like_http(settings: Settings) -> None:
    """Every operation is charged its cost, including a subscriber joining a running
    stream: `{ me { id } }` costs 2, a limit of 10 lets 5 through."""
    limited = settings.model_copy(update={"rate_limit_user": "10/minute"})
    async with serve_app(create_app(limited)) as url:
        await make_user("ada@example.com")
        client = GraphQLClient(url)
        token = await token_for(client, "ada@example.com")  # login is anonymous: not charged
        events = "subscription { eventRecorded { id } }"  # costs 2
        async with subscriber(url, token) as socket:
            await socket.subscribe(events)
            codes = []
            for _ in range(4):
                op_id = await socket.subscribe("{ me { id } }")
                message = await socket.receive()
                assert message["id"] == op_id
                if message["type"] == "next" and "errors" not in message["payload"]:
                    assert (await socket.receive())["type"] == "complete"
                    codes.append("OK")
                else:
                    errors = message["payload"].get("errors", message["payload"])
                    codes.append(errors[0]["extensions"]["code"])
            assert codes == ["OK", "OK", "OK", "OK"]  # 2 + 4 × 2 = 10
            async with subscriber(url, token) as joiner:
                await joiner.subscribe(events)  # the same stream: still charged
                refused = await joiner.receive()
            assert refused["type"] == "error", refused
            assert refused["payload"][0]["extensions"]["code"] == "RATE_LIMITED"
        await client.aclose()


async def test_admin_mutations_over_the_socket_are_refused_to_users(
    api: GraphQLClient, token: str, pg: asyncpg.Connection
) -> None:
    flag = """mutation { setFeatureFlag(name: "ingestion", enabled: false) {
      __typename ... on Error { code } } }"""
    async with subscriber(api.base_url, token) as socket:
        answer = await _run(socket, flag, {}, None)
    assert answer["data"] is None
    assert answer["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert await pg.fetchval("SELECT count(*) FROM feature_flags") == 0


RECORD_MANY = """mutation($i: [EventInput!]!) { recordEvents(inputs: $i) {
  accepted results { index status event { id kind source occurredAt data user { email } } } } }"""


async def test_a_client_that_leaves_mid_mutation_gets_its_answer_on_retry(
    api: GraphQLClient, token: str, pg: asyncpg.Connection
) -> None:
    """The socket closes once the mutation has committed but before its answer is out: the
    mutation still finishes and its answer is stored, so the retry runs nothing."""
    at = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    events = [
        {"kind": "bulk", "source": "cli", "occurredAt": at, "data": {"n": i}} for i in range(1000)
    ]
    async with subscriber(api.base_url, token) as socket:
        await socket.subscribe(RECORD_MANY, {"i": events}, {"idempotencyKey": "bulk-1"})
        for _ in range(5000):  # until the insert is committed, then leave at once
            if await pg.fetchval("SELECT count(*) FROM events") > 0:
                break
            await asyncio.sleep(0.001)
    async with subscriber(api.base_url, token) as socket:
        for _ in range(100):
            answer = await _run(socket, RECORD_MANY, {"i": events}, "bulk-1")
            if "type" not in answer:  # not IDEMPOTENCY_KEY_IN_USE: the first one is done
                break
            assert answer["payload"][0]["extensions"]["code"] == "IDEMPOTENCY_KEY_IN_USE"
            await asyncio.sleep(0.05)
    assert answer["data"]["recordEvents"]["accepted"] == 1000
    assert await pg.fetchval("SELECT count(*) FROM events") == 1000


async def test_a_completed_operation_leaves_no_key_for_the_next_one_with_its_id(
    api: GraphQLClient, token: str, pg: asyncpg.Connection
) -> None:
    async with subscriber(api.base_url, token) as socket:
        # Subscribed and completed at once: its task may never start.
        subscribe = {
            "id": "x",
            "type": "subscribe",
            "payload": {
                "query": CREATE,
                "variables": {"input": spec(name="First")},
                "extensions": {"idempotencyKey": "old-key"},
            },
        }
        await socket.ws.send(json.dumps(subscribe))
        await socket.ws.send(json.dumps({"id": "x", "type": "complete"}))
        await asyncio.sleep(0.2)
        # The id again, without a key: it runs, under no key.
        reuse = {
            "id": "x",
            "type": "subscribe",
            "payload": {"query": CREATE, "variables": {"input": spec(name="Second")}},
        }
        await socket.ws.send(json.dumps(reuse))
        message = await socket.receive()
        while message.get("type") == "complete":  # the first one's, if it ran
            message = await socket.receive()
        assert message["payload"]["data"]["createWorkflow"]["name"] == "Second", message
        assert (await socket.receive())["type"] == "complete"
        # The key was never taken by the second: its first real use runs.
        used = await _run(socket, CREATE, {"input": spec(name="Third")}, "old-key-2")
    assert used["data"]["createWorkflow"]["name"] == "Third"
    names = {row["name"] for row in await pg.fetch("SELECT name FROM workflows")}
    assert {"Second", "Third"} <= names


def test_only_small_documents_are_kept_parsed() -> None:
    from api.websocket import _operation, _parse_cached

    before = _parse_cached.cache_info().currsize
    padded = "query {" + " " * 20_000 + "me { id } }"
    assert _operation(padded, None) is not None
    assert _parse_cached.cache_info().currsize == before
    assert _operation("query Small { me { id } }", None) is not None
    assert _parse_cached.cache_info().currsize == before + 1


async def test_one_key_is_one_request_over_http_and_the_socket(
    api: GraphQLClient, token: str, pg: asyncpg.Connection
) -> None:
    """A client that retries over the other transport gets the first answer."""
    variables = {"input": spec()}
    first = await api.http.post(
        "/graphql",
        # Other key order and spacing than the socket's message: the same request.
        content=json.dumps({"variables": variables, "query": CREATE}, indent=2),
        headers={
            "Authorization": f"Bearer {token}",
            "Idempotency-Key": "both-ways",
            "Content-Type": "application/json",
        },
    )
    assert first.status_code == 200, first.text
    async with subscriber(api.base_url, token) as socket:
        again = await _run(socket, CREATE, variables, "both-ways")
        created = await _run(socket, CREATE, {"input": spec(name="Socket first")}, "other-way")
    assert again == first.json()
    replayed = await api.http.post(
        "/graphql",
        json={"query": CREATE, "variables": {"input": spec(name="Socket first")}},
        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "other-way"},
    )
    assert replayed.headers["idempotent-replayed"] == "true"
    assert replayed.json() == created
    assert await _workflows(pg) == 2
