"""The websocket `connection_init` payload authenticates with the same code path as HTTP:
a bad or missing token closes the socket with 4403."""

from __future__ import annotations

import json

import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from tests.factories import make_user, token_for
from tests.support import GraphQLClient


def _ws_url(api: GraphQLClient) -> str:
    return api.base_url.replace("http://", "ws://") + "/graphql"


async def _init(api: GraphQLClient, payload: dict[str, object]) -> dict[str, object] | int:
    """The server's answer to connection_init: its message, or the close code."""
    async with websockets.connect(_ws_url(api), subprotocols=["graphql-transport-ws"]) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
        try:
            return json.loads(await ws.recv())
        except ConnectionClosed as closed:
            assert closed.rcvd is not None
            return closed.rcvd.code


async def test_a_valid_token_is_acknowledged(api: GraphQLClient) -> None:
    await make_user()
    token = await token_for(api, "ada@example.com")
    assert await _init(api, {"authorization": f"Bearer {token}"}) == {"type": "connection_ack"}


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"authorization": "Bearer not.a.token"},
        {"authorization": "Basic abc"},
        {"authorization": 42},
        {"authorization": "Bearer " + "a" * 100_000},
    ],
)
async def test_bad_or_missing_tokens_close_with_4403(
    api: GraphQLClient, payload: dict[str, object]
) -> None:
    assert await _init(api, payload) == 4403


async def test_the_legacy_graphql_ws_protocol_is_not_offered(api: GraphQLClient) -> None:
    async with websockets.connect(_ws_url(api), subprotocols=["graphql-ws"]) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4406


async def test_a_foreign_origin_is_refused(api: GraphQLClient) -> None:
    with pytest.raises(websockets.exceptions.InvalidStatus):
        async with websockets.connect(
            _ws_url(api),
            subprotocols=["graphql-transport-ws"],
            origin="https://evil.example",
        ):
            pass
