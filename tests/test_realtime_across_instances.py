"""Two real API processes sharing Redis: an event recorded through A reaches subscribers
connected to B — our own websocket client, the Python `gql` client and the npm `graphql-ws`
client (run with node)."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from gql import Client, gql
from gql.transport.websockets import WebsocketsTransport

from tests.support import REPO_ROOT, GraphQLClient, api_processes, env_with
from tests.ws_client import subscriber, ws_url

CLIENTS = REPO_ROOT / "tests" / "clients"
REGISTER = """mutation { register(input: {email: "ada@example.com", username: "ada",
  password: "a-long-password-1"}) { __typename } }"""
LOGIN = """mutation { login(email: "ada@example.com", password: "a-long-password-1") {
  ... on AuthPayload { accessToken } } }"""
RECORD = "mutation($i: [EventInput!]!) { recordEvents(inputs: $i) { accepted } }"
EVENTS = "subscription { eventRecorded { id kind } }"


@pytest.fixture
def instances(tmp_path: Path) -> Iterator[tuple[str, str]]:
    with api_processes(2, env=env_with(), logs=tmp_path) as (a, b):
        yield a, b


async def _token(url: str) -> str:
    client = GraphQLClient(url)
    try:
        await client.gql(REGISTER)
        return str((await client.gql(LOGIN))["login"]["accessToken"])
    finally:
        await client.aclose()


async def _listening(url: str) -> None:
    """Wait until the instance listens on a Redis channel for a subscriber, then a moment
    for the resolver's first database read (events committed before it are not "new")."""
    async with httpx.AsyncClient(base_url=url) as client:
        for _ in range(200):
            metrics = (await client.get("/metrics")).text
            if re.search(r"^pulse_realtime_channels [1-9]", metrics, re.M):
                await asyncio.sleep(0.2)
                return
            await asyncio.sleep(0.05)
    raise AssertionError(f"{url} never subscribed")


async def _record(url: str, token: str, kind: str) -> None:
    client = GraphQLClient(url)
    at = (datetime.now(UTC) - timedelta(seconds=5)).isoformat()
    try:
        result = await client.gql(
            RECORD, {"i": [{"kind": kind, "source": "cli", "occurredAt": at}]}, token=token
        )
        assert result["recordEvents"]["accepted"] == 1
    finally:
        await client.aclose()


async def test_an_event_recorded_on_a_reaches_a_subscriber_on_b_within_a_second(
    instances: tuple[str, str],
) -> None:
    a, b = instances
    token = await _token(a)
    async with subscriber(b, token) as ws:
        await ws.subscribe(EVENTS)
        await _listening(b)
        await _record(a, token, "cross.instance")
        data = await ws.next_data(timeout=1.0)
    assert data["eventRecorded"]["kind"] == "cross.instance"


async def test_the_python_gql_client_subscribes_and_receives(instances: tuple[str, str]) -> None:
    a, b = instances
    token = await _token(a)
    transport = WebsocketsTransport(
        url=ws_url(b),
        subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
        init_payload={"authorization": f"Bearer {token}"},
    )
    async with Client(transport=transport) as session:
        stream = session.subscribe(gql(EVENTS))

        async def first() -> dict[str, object]:
            async for result in stream:
                return result  # type: ignore[no-any-return]
            raise AssertionError("stream ended")

        receiving = asyncio.create_task(first())
        await _listening(b)
        await _record(a, token, "via.gql")
        result = await asyncio.wait_for(receiving, 5)
    assert result["eventRecorded"]["kind"] == "via.gql"  # type: ignore[index]


@pytest.mark.skipif(
    shutil.which("node") is None or shutil.which("npm") is None,
    reason="node and npm are needed for the graphql-ws client",
)
async def test_the_npm_graphql_ws_client_subscribes_and_receives(
    instances: tuple[str, str],
) -> None:
    a, b = instances
    if not (CLIENTS / "node_modules" / "graphql-ws").exists():
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"],
            cwd=CLIENTS,
            check=True,
            capture_output=True,
            timeout=300,
        )
    token = await _token(a)
    node = await asyncio.create_subprocess_exec(
        "node",
        str(CLIENTS / "subscribe.mjs"),
        ws_url(b),
        token,
        "1",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert node.stdout is not None
    connected = json.loads(await asyncio.wait_for(node.stdout.readline(), 10))
    assert connected == {"connected": True}
    await _listening(b)  # the subscribe message follows the ack
    await _record(a, token, "via.graphql-ws")
    line = await asyncio.wait_for(node.stdout.readline(), 10)
    assert json.loads(line) == {
        "data": {
            "eventRecorded": {
                "id": json.loads(line)["data"]["eventRecorded"]["id"],
                "kind": "via.graphql-ws",
            }
        }
    }
    assert await asyncio.wait_for(node.wait(), 10) == 0
