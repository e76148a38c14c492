"""Shared subscription streams over real websockets: one execution per distinct subscription,
every subscriber served, a joiner checked for itself, a client that stops reading cut off
without holding up the others."""

from __future__ import annotations

import asyncio
import json
import re
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import websockets
from redis.asyncio import Redis
from websockets.exceptions import ConnectionClosed

from api.fanout import OUTBOX_LIMIT, TOO_SLOW_CLOSE_CODE
from api.services.events import EVENTS_TOPIC
from api.services.pubsub import channel
from api.settings import Settings
from models.users import Role
from tests.factories import make_user, token_for
from tests.schema.test_workflows import CREATE, RUN, spec
from tests.support import GraphQLClient
from tests.workers import StartWorker
from tests.ws_client import subscriber, ws_url

EVENTS = "subscription { eventRecorded { id kind } }"
EVENTS_WITH_SOURCE = "subscription { eventRecorded { id source } }"
RECORD = "mutation($i: [EventInput!]!) { recordEvents(inputs: $i) { accepted } }"
SET_FLAG = """mutation($n: String!, $e: Boolean!) { setFeatureFlag(name: $n, enabled: $e) {
  __typename } }"""


def _events(*kinds: str) -> list[dict[str, Any]]:
    at = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    return [{"kind": k, "source": "cli", "occurredAt": at} for k in kinds]


async def _gauges(api: GraphQLClient) -> dict[str, float]:
    text = (await api.http.get("/metrics")).text
    return {
        name: float(value)
        for name, value in re.findall(
            r"^(pulse_(?:subscription|realtime|websocket)\w*) (\S+)$", text, re.M
        )
    }


async def _until(api: GraphQLClient, **expected: float) -> dict[str, float]:
    """Wait until /metrics shows the expected gauges (subscribing is asynchronous)."""
    gauges: dict[str, float] = {}
    for _ in range(100):
        gauges = await _gauges(api)
        if all(gauges.get(f"pulse_{name}") == value for name, value in expected.items()):
            return gauges
        await asyncio.sleep(0.05)
    raise AssertionError(f"metrics never reached {expected}: {gauges}")


@pytest.fixture
async def tokens(api: GraphQLClient) -> dict[str, str]:
    await make_user("ada@example.com")
    await make_user("bob@example.com")
    await make_user("root@example.com", role=Role.ADMIN)
    return {name: await token_for(api, f"{name}@example.com") for name in ("ada", "bob", "root")}


async def test_subscribers_of_the_same_subscription_share_one_stream(
    api: GraphQLClient, tokens: dict[str, str]
) -> None:
    async with AsyncExitStack() as stack:
        ada = [
            await stack.enter_async_context(subscriber(api.base_url, tokens["ada"]))
            for _ in range(3)
        ]
        bob = await stack.enter_async_context(subscriber(api.base_url, tokens["bob"]))
        for socket in ada:
            await socket.subscribe(EVENTS)
        await ada[0].subscribe(EVENTS_WITH_SOURCE)  # another selection: its own stream
        await bob.subscribe(EVENTS)  # another user: its own stream, its own channel
        await _until(
            api,
            websocket_connections=4,
            subscription_streams=3,
            subscription_subscribers=5,
            realtime_channels=2,
        )

        await api.gql(RECORD, {"i": _events("file.saved")}, token=tokens["ada"])
        first = {m["id"]: m["payload"]["data"] for m in [await ada[0].receive() for _ in "12"]}
        assert first["1"]["eventRecorded"]["kind"] == "file.saved"
        assert first["2"]["eventRecorded"]["source"] == "cli"  # its own selection
        others = [(await socket.next_data())["eventRecorded"] for socket in ada[1:]]
        assert [event["kind"] for event in others] == ["file.saved"] * 2
        assert {first["2"]["eventRecorded"]["id"]} == {event["id"] for event in others}
        assert await bob.nothing_within(0.3)

        # A subscriber that leaves does not end the stream for the others.
        await ada[1].ws.send(json.dumps({"id": "1", "type": "complete"}))
        await _until(api, subscription_streams=3, subscription_subscribers=4)
        await api.gql(RECORD, {"i": _events("file.closed")}, token=tokens["ada"])
        assert (await ada[2].next_data())["eventRecorded"]["kind"] == "file.closed"
        assert await ada[1].nothing_within(0.3)

    # The last subscriber gone, the stream stops and the Redis channel is released.
    await _until(
        api,
        websocket_connections=0,
        subscription_streams=0,
        subscription_subscribers=0,
        realtime_channels=0,
    )


async def test_a_subscriber_joining_a_running_stream_is_checked_itself(
    api: GraphQLClient, tokens: dict[str, str]
) -> None:
    async with subscriber(api.base_url, tokens["ada"]) as first:
        await first.subscribe(EVENTS)
        await _until(api, subscription_streams=1, subscription_subscribers=1)
        await api.gql(SET_FLAG, {"n": "subscriptions", "e": False}, token=tokens["root"])
        try:
            async with subscriber(api.base_url, tokens["ada"]) as late:
                await late.subscribe(EVENTS)
                # What a fresh subscriber gets when the resolver refuses: `next` with the
                # error, then `complete`.
                refused = await late.receive()
                assert refused["type"] == "next", refused
                assert refused["payload"]["errors"][0]["extensions"]["code"] == "FEATURE_DISABLED"
                assert (await late.receive()) == {"id": "1", "type": "complete"}
        finally:
            await api.gql(SET_FLAG, {"n": "subscriptions", "e": True}, token=tokens["root"])
        # The stream it tried to join is untouched.
        await api.gql(RECORD, {"i": _events("still.here")}, token=tokens["ada"])
        assert (await first.next_data())["eventRecorded"]["kind"] == "still.here"


def _published(event_id: int, user_id: str, padding: str) -> str:
    at = "2026-01-01T00:00:00+00:00"
    return json.dumps(
        {
            "events": [
                {
                    "id": event_id,
                    "user_id": user_id,
                    "kind": padding,
                    "source": "test",
                    "occurred_at": at,
                    "duration_ms": None,
                    "data": None,
                    "client_id": None,
                    "created_at": at,
                    "seq": event_id,
                }
            ]
        }
    )


async def _drain(socket: Any) -> int | None:
    """Read a socket to its end; the close code the server sent."""
    try:
        while True:
            await asyncio.wait_for(socket.recv(), 10)
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd is not None else None


async def test_a_client_that_stops_reading_is_cut_off_and_holds_up_no_one(
    api: GraphQLClient, tokens: dict[str, str], settings: Settings
) -> None:
    from models.users import User

    ada = await User.get(email="ada@example.com")
    query = "subscription { eventRecorded { id kind } }"
    init = json.dumps(
        {"type": "connection_init", "payload": {"authorization": f"Bearer {tokens['ada']}"}}
    )
    # This client reads nothing after the ack: its library stops reading the socket once
    # 4 messages wait, so TCP buffers fill up and the server's writes to it block.
    slow = await websockets.connect(
        ws_url(api.base_url),
        subprotocols=["graphql-transport-ws"],
        max_queue=4,  # type: ignore[list-item]
    )
    await slow.send(init)
    await slow.recv()
    await slow.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query}}))
    redis = Redis.from_url(settings.redis_dsn)
    padding = "x" * 8000  # big frames fill the buffers between us sooner
    count = 3 * OUTBOX_LIMIT
    try:
        async with subscriber(api.base_url, tokens["ada"]) as fast:
            await fast.subscribe(query)
            await _until(api, subscription_streams=1, subscription_subscribers=2)

            async def publish() -> None:
                for event_id in range(1, count + 1):
                    await redis.publish(
                        channel(ada.id, EVENTS_TOPIC), _published(event_id, str(ada.id), padding)
                    )

            publisher = asyncio.create_task(publish())
            ids = [
                int((await fast.next_data(timeout=30))["eventRecorded"]["id"]) for _ in range(count)
            ]
            await publisher
            assert ids == list(range(1, count + 1))  # every one, in order, none missed
            assert await _drain(slow) == TOO_SLOW_CLOSE_CODE
            await _until(api, subscription_streams=1, subscription_subscribers=1)
    finally:
        await slow.close()
        await redis.aclose()


async def test_resumed_subscriptions_are_not_shared(
    api: GraphQLClient, tokens: dict[str, str]
) -> None:
    """Two clients resuming from the same cursor each get what they missed: a stream that
    began with the first one's catch-up cannot serve the second."""
    resume = "subscription($after: String) { eventRecorded(after: $after) { id kind } }"
    with_cursor = (
        "mutation($i: [EventInput!]!) { recordEvents(inputs: $i) { results { event { cursor } } } }"
    )
    recorded = await api.gql(with_cursor, {"i": _events("seen")}, token=tokens["ada"])
    cursor = recorded["recordEvents"]["results"][0]["event"]["cursor"]
    await api.gql(RECORD, {"i": _events("missed.1", "missed.2")}, token=tokens["ada"])
    async with (
        subscriber(api.base_url, tokens["ada"]) as one,
        subscriber(api.base_url, tokens["ada"]) as two,
    ):
        await one.subscribe(resume, {"after": cursor})
        assert (await one.next_data())["eventRecorded"]["kind"] == "missed.1"
        await two.subscribe(resume, {"after": cursor})
        kinds = [(await two.next_data())["eventRecorded"]["kind"] for _ in range(2)]
        assert kinds == ["missed.1", "missed.2"]
        assert (await one.next_data())["eventRecorded"]["kind"] == "missed.2"
        # Two executions, one Redis channel.
        await _until(api, subscription_streams=2, subscription_subscribers=2, realtime_channels=1)


async def test_each_message_of_a_stream_reads_current_data(
    api: GraphQLClient, tokens: dict[str, str], start_worker: StartWorker
) -> None:
    """A stream executes every message with fresh DataLoaders: the step runs of a run's
    last update are those the run ended with, not those loaded for its first update."""
    steps = [
        {"connector": "log", "config": {"message": "one"}},
        {"connector": "delay", "config": {"seconds": 1}},
        {"connector": "log", "config": {"message": "two"}},
    ]
    created = await api.gql(CREATE, {"input": spec(steps=steps)}, token=tokens["ada"])
    workflow_id = created["createWorkflow"]["id"]
    runs = """subscription($w: ID) { workflowRunUpdated(workflowId: $w) {
      status stepRuns { position status } } }"""
    start_worker()
    async with subscriber(api.base_url, tokens["ada"]) as socket:
        await socket.subscribe(runs, {"w": workflow_id})
        await _until(api, subscription_streams=1, realtime_channels=1)
        await asyncio.sleep(0.2)  # the resolver's ownership check, then Redis
        await api.gql(RUN, {"id": workflow_id}, token=tokens["ada"])
        updates = []
        while not updates or updates[-1]["status"] not in ("SUCCEEDED", "FAILED"):
            updates.append((await socket.next_data(timeout=30))["workflowRunUpdated"])
    assert updates[-1]["status"] == "SUCCEEDED", updates
    assert [s["status"] for s in updates[-1]["stepRuns"]] == ["SUCCEEDED"] * 3, updates
