"""User B asking for user A's objects — by id, through lists and nested fields, or by
mutating them — gets exactly what a missing id gets, and the database does not change."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest

from models.patterns import Pattern, PatternKind, Suggestion
from tests.factories import make_user, token_for
from tests.schema.test_workflows import ACCEPT, CANCEL, CREATE, DELETE, DISMISS, RUN, UPDATE, spec
from tests.support import GraphQLClient

RECORD = """mutation($inputs: [EventInput!]!) { recordEvents(inputs: $inputs) {
  results { event { id } } } }"""


async def _snapshot(pg: asyncpg.Connection) -> dict[str, Any]:
    tables = [
        "events",
        "workflows",
        "workflow_steps",
        "workflow_runs",
        "patterns",
        "suggestions",
        "audit_log",
    ]
    snap = {}
    for table in tables:
        rows = await pg.fetch(f"SELECT * FROM {table} ORDER BY 1")
        snap[table] = [dict(r) for r in rows]
    return snap


@pytest.fixture
async def world(api: GraphQLClient) -> dict[str, Any]:
    """Ada owns one of everything; Bob owns nothing."""
    ada = await make_user("ada@example.com")
    await make_user("bob@example.com")
    ada_token = await token_for(api, "ada@example.com")
    bob_token = await token_for(api, "bob@example.com")
    event = {"kind": "git.commit", "source": "git", "occurredAt": datetime.now(UTC).isoformat()}
    event_id = (await api.gql(RECORD, {"inputs": [event]}, token=ada_token))["recordEvents"][
        "results"
    ][0]["event"]["id"]
    workflow_id = (await api.gql(CREATE, {"input": spec()}, token=ada_token))["createWorkflow"][
        "id"
    ]
    run_id = (await api.gql(RUN, {"id": workflow_id}, token=ada_token))["runWorkflow"]["id"]
    now = datetime.now(UTC)
    pattern = await Pattern.create(
        user=ada,
        kind=PatternKind.SEQUENCE,
        signature="seq:a>b",
        description="a then b",
        count=5,
        confidence=0.9,
        first_seen=now,
        last_seen=now,
    )
    suggestion = await Suggestion.create(
        user=ada,
        pattern=pattern,
        title="t",
        description="d",
        proposed_workflow={
            "name": "n",
            "steps": [{"connector": "log", "config": {"message": "m"}}],
        },
    )
    return {
        "ada": ada_token,
        "bob": bob_token,
        "event": event_id,
        "workflow": workflow_id,
        "run": run_id,
        "pattern": str(pattern.id),
        "suggestion": str(suggestion.id),
    }


@pytest.mark.parametrize(
    ("query", "key"),
    [
        ("query($id: ID!) { event(id: $id) { id } }", "event"),
        ("query($id: ID!) { workflow(id: $id) { id steps { id } } }", "workflow"),
        ("query($id: ID!) { workflowRun(id: $id) { id stepRuns { id } } }", "run"),
    ],
)
async def test_reads_by_id_look_like_a_missing_id(
    api: GraphQLClient, world: dict[str, Any], query: str, key: str
) -> None:
    name = query.split("{ ")[1].split("(")[0]
    theirs = await api.gql(query, {"id": world[key]}, token=world["bob"])
    missing_id = "999999" if key == "event" else str(uuid.uuid4())
    missing = await api.gql(query, {"id": missing_id}, token=world["bob"])
    garbage = await api.gql(query, {"id": "not-an-id"}, token=world["bob"])
    assert theirs == missing == garbage == {name: None}
    assert (await api.gql(query, {"id": world[key]}, token=world["ada"]))[name] is not None


@pytest.mark.parametrize(
    "query",
    [
        "{ events { edges { node { id } } } }",
        "{ workflows { edges { node { id runs { edges { node { id } } } } } } }",
        "{ patterns { edges { node { id suggestions { id } } } } }",
        "{ suggestions { edges { node { id pattern { id } } } } }",
        "{ auditLog { edges { node { id } } } }",
    ],
)
async def test_lists_show_only_your_own(
    api: GraphQLClient, world: dict[str, Any], query: str
) -> None:
    name = query.split("{ ")[1].split(" ")[0]
    assert (await api.gql(query, token=world["bob"]))[name]["edges"] == []
    assert (await api.gql(query, token=world["ada"]))[name]["edges"] != []


MUTATIONS = [
    ("updateWorkflow", UPDATE, "workflow", {"input": spec(name="pwned")}),
    ("deleteWorkflow", DELETE, "workflow", {}),
    ("runWorkflow", RUN, "workflow", {}),
    ("cancelWorkflowRun", CANCEL, "run", {}),
    ("acceptSuggestion", ACCEPT, "suggestion", {}),
    ("dismissSuggestion", DISMISS, "suggestion", {}),
]


@pytest.mark.parametrize(
    ("name", "mutation", "key", "extra"), MUTATIONS, ids=[m[0] for m in MUTATIONS]
)
async def test_mutating_someone_elses_object_is_not_found_and_changes_nothing(
    api: GraphQLClient,
    world: dict[str, Any],
    pg: asyncpg.Connection,
    name: str,
    mutation: str,
    key: str,
    extra: dict[str, Any],
) -> None:
    before = await _snapshot(pg)
    theirs = (await api.gql(mutation, {"id": world[key], **extra}, token=world["bob"]))[name]
    missing = (await api.gql(mutation, {"id": str(uuid.uuid4()), **extra}, token=world["bob"]))[
        name
    ]
    assert theirs == missing
    assert theirs["__typename"] == "NotFoundError" and theirs["code"] == "NOT_FOUND"
    assert await _snapshot(pg) == before
