"""Subscriptions over real websockets: own data only, caps, init timeout, resume with a
cursor, and a Redis that stops and comes back under open subscriptions."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from api.app import create_app
from api.embedded import EmbeddedRedis
from api.settings import Settings
from tests.factories import make_user, token_for
from tests.schema.test_workflows import CREATE, spec
from tests.support import GraphQLClient, serve_app
from tests.ws_client import subscriber, ws_url

EVENTS = """subscription($after: String, $filter: EventFilter) {
  eventRecorded(after: $after, filter: $filter) { id kind cursor user { email } } }"""
RUNS = "subscription($w: ID) { workflowRunUpdated(workflowId: $w) { id status } }"
RECORD = "mutation($i: [EventInput!]!) { recordEvents(inputs: $i) { accepted } }"


def _events(*kinds: str) -> list[dict[str, Any]]:
    at = datetime.now(UTC) - timedelta(minutes=1)
    return [{"kind": k, "source": "cli", "occurredAt": at.isoformat()} for k in kinds]


@pytest.fixture
async def tokens(api: GraphQLClient) -> dict[str, str]:
    await make_user("ada@example.com")
    await make_user("bob@example.com")
    return {
        "ada": await token_for(api, "ada@example.com"),
        "bob": await token_for(api, "bob@example.com"),
    }


async def test_events_reach_their_owner_only(api: GraphQLClient, tokens: dict[str, str]) -> None:
    async with (
        subscriber(api.base_url, tokens["ada"]) as ada,
        subscriber(api.base_url, tokens["bob"]) as bob,
    ):
        await ada.subscribe(EVENTS)
        await bob.subscribe(EVENTS)
        await asyncio.sleep(0.2)
        await api.gql(RECORD, {"i": _events("a.one", "a.two")}, token=tokens["ada"])
        first = (await ada.next_data())["eventRecorded"]
        second = (await ada.next_data())["eventRecorded"]
        assert (first["kind"], second["kind"]) == ("a.one", "a.two")
        assert first["user"]["email"] == "ada@example.com"
        assert await bob.nothing_within(0.5)


async def test_filters_apply(api: GraphQLClient, tokens: dict[str, str]) -> None:
    async with subscriber(api.base_url, tokens["ada"]) as ada:
        await ada.subscribe(EVENTS, {"filter": {"kinds": ["git.push"]}})
        await asyncio.sleep(0.2)
        await api.gql(RECORD, {"i": _events("git.pull", "git.push")}, token=tokens["ada"])
        assert (await ada.next_data())["eventRecorded"]["kind"] == "git.push"
        assert await ada.nothing_within(0.3)


async def test_reconnecting_with_a_cursor_gets_every_event_exactly_once(
    api: GraphQLClient, tokens: dict[str, str]
) -> None:
    token = tokens["ada"]
    seen: list[str] = []
    async with subscriber(api.base_url, token) as ada:
        await ada.subscribe(EVENTS)
        await asyncio.sleep(0.2)
        await api.gql(RECORD, {"i": _events("e.1", "e.2")}, token=token)
        for _ in range(2):
            event = (await ada.next_data())["eventRecorded"]
            seen.append(event["kind"])
            cursor = event["cursor"]
    # Disconnected: these happen while nobody listens.
    await api.gql(RECORD, {"i": _events("e.3", "e.4")}, token=token)
    async with subscriber(api.base_url, token) as ada:
        await ada.subscribe(EVENTS, {"after": cursor})
        for _ in range(2):
            seen.append((await ada.next_data())["eventRecorded"]["kind"])
        await api.gql(RECORD, {"i": _events("e.5")}, token=token)
        seen.append((await ada.next_data())["eventRecorded"]["kind"])
        assert await ada.nothing_within(0.3)
    assert seen == ["e.1", "e.2", "e.3", "e.4", "e.5"]


async def test_an_event_whose_message_never_came_is_sent_before_the_next_one(
    api: GraphQLClient, tokens: dict[str, str], pg: asyncpg.Connection
) -> None:
    """Redis pub/sub delivers at most once, and publishes from two writers may overtake
    each other. Event "lost" is committed without a message reaching the subscriber; the
    next event's number shows the gap, and the database fills it, in order."""
    token = tokens["ada"]
    async with subscriber(api.base_url, token) as ada:
        await ada.subscribe(EVENTS)
        await asyncio.sleep(0.2)
        await api.gql(RECORD, {"i": _events("first")}, token=token)
        assert (await ada.next_data())["eventRecorded"]["kind"] == "first"
        async with pg.transaction():  # committed as ingestion does, but never published
            seq = await pg.fetchval(
                "UPDATE users SET event_seq = event_seq + 1 WHERE email = $1 RETURNING event_seq",
                "ada@example.com",
            )
            await pg.execute(
                "INSERT INTO events (user_id, kind, source, occurred_at, seq, created_at) "
                "SELECT id, 'lost', 'cli', now(), $2, now() FROM users WHERE email = $1",
                "ada@example.com",
                seq,
            )
        await api.gql(RECORD, {"i": _events("next")}, token=token)
        kinds = [(await ada.next_data())["eventRecorded"]["kind"] for _ in range(2)]
        assert kinds == ["lost", "next"]
        assert await ada.nothing_within(0.3)


async def test_concurrent_writers_events_each_arrive_once_in_order(
    api: GraphQLClient, tokens: dict[str, str]
) -> None:
    token = tokens["ada"]
    async with subscriber(api.base_url, token) as ada:
        await ada.subscribe(EVENTS)
        await asyncio.sleep(0.2)
        batches = [_events(*(f"w{w}.{i}" for i in range(25))) for w in range(20)]
        await asyncio.gather(*(api.gql(RECORD, {"i": batch}, token=token) for batch in batches))
        received = [(await ada.next_data())["eventRecorded"] for _ in range(500)]
        assert await ada.nothing_within(0.3)
    assert len({event["id"] for event in received}) == 500
    assert [int(e["id"]) for e in received] == sorted(int(e["id"]) for e in received)


async def test_workflow_runs_of_another_user_are_not_found(
    api: GraphQLClient, tokens: dict[str, str]
) -> None:
    workflow = (await api.gql(CREATE, {"input": spec()}, token=tokens["ada"]))["createWorkflow"]
    async with subscriber(api.base_url, tokens["bob"]) as bob:
        await bob.subscribe(RUNS, {"w": workflow["id"]})
        message = await bob.receive()
        errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
        assert errors[0]["extensions"]["code"] == "NOT_FOUND"
    async with subscriber(api.base_url, tokens["ada"]) as ada:
        await ada.subscribe(RUNS, {"w": workflow["id"]})
        await asyncio.sleep(0.2)
        run = (
            await api.gql(
                "mutation($id: ID!) { runWorkflow(id: $id) { ... on WorkflowRun { id } } }",
                {"id": workflow["id"]},
                token=tokens["ada"],
            )
        )["runWorkflow"]
        await api.gql(
            "mutation($id: ID!) { cancelWorkflowRun(id: $id) { __typename } }",
            {"id": run["id"]},
            token=tokens["ada"],
        )
        # The cancel is published by the worker's status changes; here no worker runs, so
        # the subscription stays quiet rather than leaking anything.
        assert await ada.nothing_within(0.3)


@asynccontextmanager
async def _app(settings: Settings, **change: Any) -> AsyncIterator[tuple[str, dict[str, str]]]:
    """An app with changed settings (one app per process: tortoise's context is global)."""
    async with serve_app(create_app(settings.model_copy(update=change))) as url:
        client = GraphQLClient(url)
        tokens = {}
        for name in ("ada", "bob"):
            await make_user(f"{name}@example.com")
            tokens[name] = await token_for(client, f"{name}@example.com")
        await client.aclose()
        yield url, tokens


async def test_too_many_subscriptions_on_one_socket(settings: Settings) -> None:
    async with _app(settings, ws_max_subscriptions=2) as (url, tokens):
        async with subscriber(url, tokens["ada"]) as ada:
            await ada.subscribe(EVENTS)
            await ada.subscribe(EVENTS)
            await ada.subscribe(EVENTS)
            message = await ada.receive()
            assert message["type"] == "error" and "limit" in message["payload"][0]["message"]


async def test_too_many_sockets_for_one_user(settings: Settings) -> None:
    async with _app(settings, ws_max_connections_per_user=1) as (url, tokens):
        async with subscriber(url, tokens["ada"]):
            with pytest.raises(ConnectionClosed):  # the second init is refused (4403)
                async with subscriber(url, tokens["ada"]):
                    pass
            async with subscriber(url, tokens["bob"]):  # other users are unaffected
                pass
        for _ in range(50):  # the slot is free again once the server saw the close
            try:
                async with subscriber(url, tokens["ada"]):
                    break
            except ConnectionClosed:
                await asyncio.sleep(0.1)
        else:
            raise AssertionError("the socket slot was never released")


async def test_no_init_in_time_closes_with_4408(settings: Settings) -> None:
    async with _app(settings, ws_init_timeout_seconds=0.5) as (url, _):
        async with websockets.connect(ws_url(url), subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4408


async def test_subscriptions_survive_a_redis_restart(
    settings: Settings, tmp_path: Path, pg: Any
) -> None:
    redis = EmbeddedRedis(tmp_path / "redis", persist=False).start()
    private = settings.model_copy(update={"redis_url": redis.url})
    try:
        async with serve_app(create_app(private)) as url:
            client = GraphQLClient(url)
            await make_user()
            token = await token_for(client, "ada@example.com")
            async with subscriber(url, token) as ada:
                await ada.subscribe(EVENTS)
                await asyncio.sleep(0.2)
                await client.gql(RECORD, {"i": _events("before")}, token=token)
                assert (await ada.next_data())["eventRecorded"]["kind"] == "before"
                redis.kill()
                # Accepted and stored while Redis is down: nothing can be published.
                await client.gql(RECORD, {"i": _events("during.1", "during.2")}, token=token)
                redis.start()
                # The process re-subscribes by itself and resyncs from the database.
                kinds = [
                    (await ada.next_data(timeout=15))["eventRecorded"]["kind"] for _ in range(2)
                ]
                assert kinds == ["during.1", "during.2"]
                await client.gql(RECORD, {"i": _events("after")}, token=token)
                assert (await ada.next_data())["eventRecorded"]["kind"] == "after"
                assert await ada.nothing_within(0.3)
            await client.aclose()
    finally:
        redis.stop()


async def test_the_server_pings_quiet_sockets(settings: Settings) -> None:
    async with _app(settings, ws_ping_seconds=0.2) as (url, tokens):
        async with websockets.connect(ws_url(url), subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
            await ws.send(
                json.dumps(
                    {
                        "type": "connection_init",
                        "payload": {"authorization": f"Bearer {tokens['ada']}"},
                    }
                )
            )
            assert json.loads(await ws.recv())["type"] == "connection_ack"
            assert json.loads(await asyncio.wait_for(ws.recv(), 2)) == {"type": "ping"}
            await ws.send(json.dumps({"type": "pong"}))
