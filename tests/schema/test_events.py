"""Event ingestion and reads through GraphQL: per-item results, duplicates by clientId, bulk
insert, bad items never block good ones, keyset pages stable while rows arrive."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from tests.factories import make_user, token_for
from tests.support import GraphQLClient

RECORD = """mutation($inputs: [EventInput!]!) { recordEvents(inputs: $inputs) {
  accepted duplicates rejected
  results { index status reason event { id kind clientId data occurredAt user { email } } } } }"""
RECORD_ONE = """mutation($input: EventInput!) { recordEvent(input: $input) {
  accepted results { status event { id } } } }"""
EVENTS = """query($first: Int, $after: String, $filter: EventFilter) {
  events(first: $first, after: $after, filter: $filter) {
    edges { cursor node { id kind source occurredAt } } pageInfo { hasNextPage endCursor } } }"""


def _at(minutes_ago: float = 0) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes_ago)).isoformat()


def _event(**change: Any) -> dict[str, Any]:
    return {"kind": "file.modified", "source": "cli", "occurredAt": _at(1), **change}


@pytest.fixture
async def token(api: GraphQLClient) -> str:
    await make_user()
    return await token_for(api, "ada@example.com")


async def test_a_mixed_batch_gets_one_result_per_item_in_order(
    api: GraphQLClient, token: str, pg: asyncpg.Connection
) -> None:
    inputs = [
        _event(clientId="a", data={"path": "src/app.py"}),
        _event(kind="Bad Kind"),
        _event(clientId="b", durationMs=1200),
        _event(source="9cli"),
        _event(occurredAt=_at(-10)),  # 10 minutes in the future
        _event(occurredAt=(datetime.now(UTC) - timedelta(days=400)).isoformat()),
        _event(data={"blob": "x" * 17_000}),
        _event(durationMs=-5),
        _event(data={"text": "nul\u0000inside"}),
        _event(clientId="a"),  # same clientId as item 0, in the same batch
        _event(clientId=""),
        _event(),  # no clientId: always a new event
    ]
    payload = (await api.gql(RECORD, {"inputs": inputs}, token=token))["recordEvents"]
    statuses = [(r["index"], r["status"], r["reason"]) for r in payload["results"]]
    assert statuses == [
        (0, "ACCEPTED", None),
        (1, "REJECTED", "INVALID_KIND"),
        (2, "ACCEPTED", None),
        (3, "REJECTED", "INVALID_SOURCE"),
        (4, "REJECTED", "OCCURRED_IN_FUTURE"),
        (5, "REJECTED", "OCCURRED_TOO_LONG_AGO"),
        (6, "REJECTED", "DATA_TOO_LARGE"),
        (7, "REJECTED", "INVALID_DURATION"),
        (8, "REJECTED", "INVALID_DATA"),
        (9, "DUPLICATE", None),
        (10, "REJECTED", "INVALID_CLIENT_ID"),
        (11, "ACCEPTED", None),
    ]
    assert (payload["accepted"], payload["duplicates"], payload["rejected"]) == (3, 1, 8)
    first = payload["results"][0]["event"]
    assert first["data"] == {"path": "src/app.py"} and first["user"]["email"] == "ada@example.com"
    assert payload["results"][9]["event"]["id"] == first["id"]
    assert await pg.fetchval("SELECT count(*) FROM events") == 3


async def test_a_retried_batch_is_all_duplicates_and_writes_nothing(
    api: GraphQLClient, token: str, pg: asyncpg.Connection
) -> None:
    inputs = [_event(clientId=f"c-{n}") for n in range(20)]
    first = (await api.gql(RECORD, {"inputs": inputs}, token=token))["recordEvents"]
    again = (await api.gql(RECORD, {"inputs": inputs}, token=token))["recordEvents"]
    assert first["accepted"] == 20 and again["duplicates"] == 20
    assert [r["event"]["id"] for r in again["results"]] == [
        r["event"]["id"] for r in first["results"]
    ]
    assert await pg.fetchval("SELECT count(*) FROM events") == 20


async def test_client_ids_are_per_user(api: GraphQLClient, token: str) -> None:
    await make_user("bob@example.com")
    bob = await token_for(api, "bob@example.com")
    for who in (token, bob):
        result = await api.gql(RECORD_ONE, {"input": _event(clientId="same")}, token=who)
        assert result["recordEvent"]["accepted"] == 1


async def test_accepted_rows_are_committed_and_one_insert_statement(
    api: GraphQLClient, token: str, pg: asyncpg.Connection, sql_log: list[str]
) -> None:
    inputs = [_event(clientId=f"bulk-{n}") for n in range(300)]
    sql_log.clear()
    payload = (await api.gql(RECORD, {"inputs": inputs}, token=token))["recordEvents"]
    assert payload["accepted"] == 300
    inserts = [s for s in sql_log if s.lstrip().upper().startswith("INSERT INTO EVENTS")]
    assert len(inserts) == 1, inserts
    # Another connection sees every row: they were committed before the answer.
    assert await pg.fetchval("SELECT count(*) FROM events WHERE processed_at IS NULL") == 300


async def test_batches_over_the_limit_are_refused_whole(
    api: GraphQLClient, token: str, pg: asyncpg.Connection
) -> None:
    inputs = [_event() for _ in range(1001)]
    body = (await api.post(RECORD, {"inputs": inputs}, token=token)).json()
    assert body["errors"][0]["extensions"]["code"] == "VALIDATION"
    assert "At most 1000 events" in body["errors"][0]["message"]
    assert await pg.fetchval("SELECT count(*) FROM events") == 0


async def test_recording_needs_sign_in(api: GraphQLClient) -> None:
    body = (await api.post(RECORD_ONE, {"input": _event()})).json()
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_pages_are_keyset_ordered_and_stable_while_events_arrive(
    api: GraphQLClient, token: str
) -> None:
    inputs = [_event(occurredAt=_at(100 - n), kind=f"k.{n:02d}") for n in range(30)]
    await api.gql(RECORD, {"inputs": inputs}, token=token)
    page = (await api.gql(EVENTS, {"first": 10}, token=token))["events"]
    assert [e["node"]["kind"] for e in page["edges"]] == [f"k.{n:02d}" for n in range(10)]
    # New events arrive, some older than the cursor: the next page neither repeats nor skips.
    late = [
        _event(occurredAt=_at(200), kind="late.old"),
        _event(occurredAt=_at(0), kind="late.new"),
    ]
    await api.gql(RECORD, {"inputs": late}, token=token)
    after = page["pageInfo"]["endCursor"]
    rest = (await api.gql(EVENTS, {"first": 100, "after": after}, token=token))["events"]
    kinds = [e["node"]["kind"] for e in rest["edges"]]
    assert kinds == [f"k.{n:02d}" for n in range(10, 30)] + ["late.new"]
    assert rest["pageInfo"]["hasNextPage"] is False


async def test_filters_by_kind_source_and_time(api: GraphQLClient, token: str) -> None:
    await api.gql(
        RECORD,
        {
            "inputs": [
                _event(kind="git.commit", source="git", occurredAt=_at(30)),
                _event(kind="file.modified", source="cli", occurredAt=_at(20)),
                _event(kind="git.push", source="git", occurredAt=_at(10)),
            ]
        },
        token=token,
    )

    async def kinds(filter: dict[str, Any]) -> list[str]:
        data = await api.gql(EVENTS, {"filter": filter}, token=token)
        return [e["node"]["kind"] for e in data["events"]["edges"]]

    assert await kinds({"sources": ["git"]}) == ["git.commit", "git.push"]
    assert await kinds({"kinds": ["file.modified", "git.push"]}) == ["file.modified", "git.push"]
    assert await kinds({"since": _at(25), "until": _at(15)}) == ["file.modified"]


async def test_page_size_defaults_to_50_and_caps_at_100(api: GraphQLClient, token: str) -> None:
    await api.gql(RECORD, {"inputs": [_event() for _ in range(120)]}, token=token)
    assert len((await api.gql(EVENTS, {}, token=token))["events"]["edges"]) == 50
    assert len((await api.gql(EVENTS, {"first": 500}, token=token))["events"]["edges"]) == 100
    body = (await api.post(EVENTS, {"first": -1}, token=token)).json()
    assert body["errors"][0]["extensions"]["code"] == "VALIDATION"


async def test_naive_times_are_utc(api: GraphQLClient, token: str) -> None:
    naive = (datetime.now(UTC) - timedelta(minutes=3)).replace(tzinfo=None).isoformat()
    result = await api.gql(RECORD, {"inputs": [_event(occurredAt=naive)]}, token=token)
    stored = result["recordEvents"]["results"][0]["event"]["occurredAt"]
    assert stored.endswith("+00:00")
