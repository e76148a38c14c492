"""Idempotency keys over real HTTP: one effect per key, stored responses replayed, misuse
refused with the documented status codes."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import asyncpg
import pytest

from tests.factories import make_user, token_for
from tests.schema.test_imports import IMPORT, event_line, jsonl
from tests.schema.test_workflows import CREATE, spec
from tests.support import GraphQLClient


@pytest.fixture
async def token(api: GraphQLClient) -> str:
    await make_user()
    return await token_for(api, "ada@example.com")


async def _create(api: GraphQLClient, token: str, key: str, **change: Any) -> Any:
    return await api.http.post(
        "/graphql",
        json={"query": CREATE, "variables": {"input": spec(**change)}},
        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key},
    )


async def _count(pg: asyncpg.Connection) -> int:
    return int(await pg.fetchval("SELECT count(*) FROM workflows"))


async def test_a_retry_gets_the_stored_response_and_no_second_effect(
    api: GraphQLClient, token: str, pg: asyncpg.Connection
) -> None:
    first = await _create(api, token, "key-1")
    again = await _create(api, token, "key-1")
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert await _count(pg) == 1


async def test_the_same_key_with_another_request_is_422(
    api: GraphQLClient, token: str, pg: asyncpg.Connection
) -> None:
    await _create(api, token, "key-2")
    other = await _create(api, token, "key-2", name="Something else")
    assert other.status_code == 422
    assert other.json()["errors"][0]["extensions"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert await _count(pg) == 1


async def test_fifty_concurrent_requests_with_one_key_have_exactly_one_effect(
    api: GraphQLClient, token: str, pg: asyncpg.Connection
) -> None:
    responses = await asyncio.gather(*[_create(api, token, "key-50") for _ in range(50)])
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {200, 409}, statuses
    assert statuses.count(200) >= 1
    for response in responses:
        if response.status_code == 409:
            assert response.json()["errors"][0]["extensions"]["code"] == "IDEMPOTENCY_KEY_IN_USE"
    bodies = {r.text for r in responses if r.status_code == 200}
    assert len(bodies) == 1  # the first response, replayed
    assert await _count(pg) == 1


async def test_validation_failures_are_not_stored(
    api: GraphQLClient, token: str, pg: asyncpg.Connection
) -> None:
    invalid = await _create(api, token, "key-3", timezone="Mars/Olympus")
    assert invalid.json()["data"]["createWorkflow"]["__typename"] == "ValidationError"
    fixed = await _create(api, token, "key-3")
    assert fixed.status_code == 200
    assert fixed.json()["data"]["createWorkflow"]["__typename"] == "Workflow"
    assert await _count(pg) == 1


async def test_keys_are_scoped_per_user(
    api: GraphQLClient, token: str, pg: asyncpg.Connection
) -> None:
    await make_user("bob@example.com")
    bob = await token_for(api, "bob@example.com")
    await _create(api, token, "shared-key")
    theirs = await _create(api, bob, "shared-key")
    assert theirs.status_code == 200 and "idempotent-replayed" not in theirs.headers
    assert await _count(pg) == 2


async def test_overlong_keys_are_400(api: GraphQLClient, token: str) -> None:
    response = await _create(api, token, "k" * 256)
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "IDEMPOTENCY_KEY_INVALID"


async def test_queries_ignore_the_header(api: GraphQLClient, token: str) -> None:
    for _ in range(2):
        response = await api.http.post(
            "/graphql",
            json={"query": "{ me { email } }"},
            headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "q"},
        )
        assert response.status_code == 200 and "idempotent-replayed" not in response.headers


async def _upload(api: GraphQLClient, token: str, key: str, content: bytes) -> Any:
    operations = {"query": IMPORT, "variables": {"file": None}}
    return await api.http.post(
        "/graphql",
        data={"operations": json.dumps(operations), "map": json.dumps({"0": ["variables.file"]})},
        files={"0": ("events.jsonl", content, "application/x-ndjson")},
        headers={
            "Authorization": f"Bearer {token}",
            "Idempotency-Key": key,
            "X-Pulse-Preflight": "1",
        },
    )


async def test_an_upload_retried_with_its_key_is_imported_once(
    api: GraphQLClient, token: str, pg: asyncpg.Connection
) -> None:
    """Each attempt is sent with a new multipart boundary: the key still recognises it."""
    content = jsonl([event_line(i) for i in range(3)])
    first = await _upload(api, token, "upload-1", content)
    again = await _upload(api, token, "upload-1", content)
    assert first.status_code == again.status_code == 200, first.text
    assert first.json()["data"]["importEvents"]["__typename"] == "EventImport", first.text
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert await pg.fetchval("SELECT count(*) FROM event_imports") == 1
    other = await _upload(api, token, "upload-1", jsonl([event_line(9)]))
    assert other.status_code == 422
    assert other.json()["errors"][0]["extensions"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert await pg.fetchval("SELECT count(*) FROM event_imports") == 1
