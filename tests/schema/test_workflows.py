"""Workflow mutations through GraphQL: validation, audit log, manual runs, cancellation,
suggestions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from arq.connections import ArqRedis

from api.settings import Settings
from models.patterns import Pattern, PatternKind, Suggestion
from models.users import User
from models.workflows import RunStatus, WorkflowRun
from tests.factories import make_user, token_for
from tests.support import GraphQLClient

FIELDS = """__typename
  ... on Workflow { id name enabled schedule timezone nextRunAt missedRunPolicy overlapPolicy
                    steps { position connector config } }
  ... on Error { code message }
  ... on ValidationError { field }"""
CREATE = f"mutation($input: WorkflowInput!) {{ createWorkflow(input: $input) {{ {FIELDS} }} }}"
UPDATE = (
    f"mutation($id: ID!, $input: WorkflowInput!) {{ updateWorkflow(id: $id, input: $input) "
    f"{{ {FIELDS} }} }}"
)
DELETE = """mutation($id: ID!) { deleteWorkflow(id: $id) {
  __typename ... on DeletedWorkflow { id } ... on Error { code } } }"""
RUN = """mutation($id: ID!) { runWorkflow(id: $id) {
  __typename ... on WorkflowRun { id status trigger } ... on Error { code message } } }"""
CANCEL = """mutation($id: ID!) { cancelWorkflowRun(id: $id) {
  __typename ... on WorkflowRun { id status cancelRequested } ... on Error { code message } } }"""
ACCEPT = """mutation($id: ID!) { acceptSuggestion(id: $id) {
  __typename ... on Workflow { id name enabled schedule steps { connector } }
  ... on Error { code message } } }"""
DISMISS = """mutation($id: ID!) { dismissSuggestion(id: $id) {
  __typename ... on Suggestion { id status } ... on Error { code } } }"""
AUDIT = "{ auditLog { edges { node { action targetType targetId before after actorId } } } }"


def spec(**change: Any) -> dict[str, Any]:
    base = {
        "name": "Morning digest",
        "enabled": True,
        "schedule": "0 9 * * 1-5",
        "timezone": "Europe/Paris",
        "steps": [
            {"connector": "log", "config": {"message": "hello"}},
            {
                "connector": "webhook",
                "config": {"url": "https://hooks.example/x", "body": {"a": 1}},
            },
            {
                "connector": "email",
                "config": {"to": "Ada@Example.com", "subject": "S", "body": "B"},
            },
            {"connector": "delay", "config": {"seconds": 5}},
        ],
    }
    base.update(change)
    return base


@pytest.fixture
async def token(api: GraphQLClient) -> str:
    await make_user()
    return await token_for(api, "ada@example.com")


async def _create(api: GraphQLClient, token: str, **change: Any) -> dict[str, Any]:
    result = (await api.gql(CREATE, {"input": spec(**change)}, token=token))["createWorkflow"]
    assert isinstance(result, dict)
    return result


async def test_create_normalises_and_schedules(api: GraphQLClient, token: str) -> None:
    created = await _create(api, token)
    assert created["__typename"] == "Workflow"
    assert [s["connector"] for s in created["steps"]] == ["log", "webhook", "email", "delay"]
    assert created["steps"][2]["config"]["to"] == "ada@example.com"
    next_run = datetime.fromisoformat(created["nextRunAt"])
    assert next_run > datetime.now(UTC)
    assert next_run.astimezone().tzinfo is not None
    assert (created["missedRunPolicy"], created["overlapPolicy"]) == ("SKIP", "SKIP")


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"name": ""}, "name", "1–200"),
        ({"name": "x" * 201}, "name", "1–200"),
        ({"schedule": "every day"}, "schedule", "cron"),
        ({"schedule": "61 * * * *"}, "schedule", "cron"),
        ({"schedule": "* * * * * *"}, "schedule", "cron"),
        ({"timezone": "Mars/Olympus"}, "timezone", "IANA"),
        ({"timezone": "../../etc/passwd"}, "timezone", "IANA"),
        ({"steps": []}, "steps", "at least one"),
        ({"steps": [{"connector": "log", "config": {"message": "m"}}] * 21}, "steps", "at most 20"),
        ({"steps": [{"connector": "ftp", "config": {}}]}, "steps.0", "Unknown connector"),
        ({"steps": [{"connector": "log", "config": {}}]}, "steps.0.config", "message"),
        ({"steps": [{"connector": "log", "config": "text"}]}, "steps.0.config", "JSON object"),
        (
            {"steps": [{"connector": "webhook", "config": {"url": "ftp://x"}}]},
            "steps.0.config",
            "http(s)",
        ),
        (
            {
                "steps": [
                    {"connector": "email", "config": {"to": "nope", "subject": "s", "body": "b"}}
                ]
            },
            "steps.0.config",
            "email",
        ),
        (
            {"steps": [{"connector": "delay", "config": {"seconds": 99999}}]},
            "steps.0.config",
            "3600",
        ),
        (
            {"steps": [{"connector": "log", "config": {"message": "m", "extra": 1}}]},
            "steps.0.config",
            "extra",
        ),
        ({"name": "nul\u0000name"}, "name", "NUL"),
    ],
)
async def test_invalid_workflows_are_refused_and_nothing_is_written(
    api: GraphQLClient,
    token: str,
    pg: asyncpg.Connection,
    change: dict[str, Any],
    field: str,
    message: str,
) -> None:
    result = await _create(api, token, **change)
    assert result["__typename"] == "ValidationError", result
    assert result["field"] == field and message in result["message"], result
    assert await pg.fetchval("SELECT count(*) FROM workflows") == 0
    assert await pg.fetchval("SELECT count(*) FROM audit_log") == 0


async def test_update_replaces_and_audits_before_and_after(api: GraphQLClient, token: str) -> None:
    created = await _create(api, token)
    steps = [{"connector": "log", "config": {"message": "changed"}}]
    updated = (
        await api.gql(
            UPDATE,
            {"id": created["id"], "input": spec(name="Renamed", enabled=False, steps=steps)},
            token=token,
        )
    )["updateWorkflow"]
    assert updated["name"] == "Renamed" and updated["enabled"] is False
    assert updated["nextRunAt"] is None
    assert updated["steps"] == [
        {"position": 0, "connector": "log", "config": {"message": "changed"}}
    ]
    entries = [e["node"] for e in (await api.gql(AUDIT, token=token))["auditLog"]["edges"]]
    assert [e["action"] for e in entries] == ["workflow.create", "workflow.update"]
    change = entries[1]
    assert change["before"]["name"] == "Morning digest" and change["after"]["name"] == "Renamed"
    assert change["targetId"] == created["id"] and change["actorId"] is not None
    assert "secret" not in change["after"]


async def test_delete_then_not_found(
    api: GraphQLClient, token: str, pg: asyncpg.Connection
) -> None:
    created = await _create(api, token)
    deleted = (await api.gql(DELETE, {"id": created["id"]}, token=token))["deleteWorkflow"]
    assert deleted == {"__typename": "DeletedWorkflow", "id": created["id"]}
    again = (await api.gql(DELETE, {"id": created["id"]}, token=token))["deleteWorkflow"]
    assert again == {"__typename": "NotFoundError", "code": "NOT_FOUND"}
    assert await pg.fetchval("SELECT count(*) FROM workflow_steps") == 0
    actions = await pg.fetch("SELECT action FROM audit_log ORDER BY id")
    assert [a["action"] for a in actions] == ["workflow.create", "workflow.delete"]


async def test_run_queues_a_job_and_cancel_stops_it(
    api: GraphQLClient, token: str, settings: Settings
) -> None:
    created = await _create(api, token)
    run = (await api.gql(RUN, {"id": created["id"]}, token=token))["runWorkflow"]
    assert run["__typename"] == "WorkflowRun" and run["status"] == "QUEUED"
    assert run["trigger"] == "manual"
    redis = ArqRedis.from_url(settings.redis_dsn)
    try:
        queued = await redis.queued_jobs()
        assert [(j.function, j.args, j.job_id) for j in queued] == [
            ("execute_workflow_run", (run["id"],), f"run:{run['id']}")
        ]
    finally:
        await redis.aclose()
    cancelled = (await api.gql(CANCEL, {"id": run["id"]}, token=token))["cancelWorkflowRun"]
    assert cancelled["status"] == "CANCELLED" and cancelled["cancelRequested"] is True
    again = (await api.gql(CANCEL, {"id": run["id"]}, token=token))["cancelWorkflowRun"]
    assert again["__typename"] == "ConflictError" and again["code"] == "CONFLICT"


async def test_cancel_of_a_running_run_is_a_request(api: GraphQLClient, token: str) -> None:
    created = await _create(api, token)
    run_id = (await api.gql(RUN, {"id": created["id"]}, token=token))["runWorkflow"]["id"]
    await WorkflowRun.filter(id=run_id).update(status=RunStatus.RUNNING)
    result = (await api.gql(CANCEL, {"id": run_id}, token=token))["cancelWorkflowRun"]
    assert (result["status"], result["cancelRequested"]) == ("RUNNING", True)


async def _suggestion(user: User, **proposed: Any) -> Suggestion:
    now = datetime.now(UTC)
    pattern = await Pattern.create(
        user=user,
        kind=PatternKind.TIME_OF_DAY,
        signature="tod:09:00",
        description="9am",
        count=12,
        confidence=0.8,
        first_seen=now,
        last_seen=now,
    )
    workflow = {
        "name": "Daily standup note",
        "schedule": "0 9 * * *",
        "timezone": "Europe/Paris",
        "steps": [{"connector": "log", "config": {"message": "standup"}}],
        **proposed,
    }
    return await Suggestion.create(
        user=user, pattern=pattern, title="Standup", description="d", proposed_workflow=workflow
    )


async def test_accepting_a_suggestion_creates_a_disabled_workflow(
    api: GraphQLClient, token: str
) -> None:
    suggestion = await _suggestion(await User.get(email="ada@example.com"))
    accepted = (await api.gql(ACCEPT, {"id": str(suggestion.id)}, token=token))["acceptSuggestion"]
    assert accepted["__typename"] == "Workflow"
    assert (accepted["name"], accepted["enabled"], accepted["schedule"]) == (
        "Daily standup note",
        False,
        "0 9 * * *",
    )
    again = (await api.gql(ACCEPT, {"id": str(suggestion.id)}, token=token))["acceptSuggestion"]
    assert again["code"] == "CONFLICT"
    dismiss = (await api.gql(DISMISS, {"id": str(suggestion.id)}, token=token))["dismissSuggestion"]
    assert dismiss == {"__typename": "ConflictError", "code": "CONFLICT"}
    actions = [
        e["node"]["action"] for e in (await api.gql(AUDIT, token=token))["auditLog"]["edges"]
    ]
    assert actions == ["workflow.create", "suggestion.accept"]


async def test_dismissing_a_suggestion(api: GraphQLClient, token: str) -> None:
    suggestion = await _suggestion(await User.get(email="ada@example.com"))
    result = (await api.gql(DISMISS, {"id": str(suggestion.id)}, token=token))["dismissSuggestion"]
    assert result == {"__typename": "Suggestion", "id": str(suggestion.id), "status": "DISMISSED"}
    accept = (await api.gql(ACCEPT, {"id": str(suggestion.id)}, token=token))["acceptSuggestion"]
    assert accept["code"] == "CONFLICT"


async def test_an_invalid_proposal_is_a_conflict_not_a_crash(
    api: GraphQLClient, token: str
) -> None:
    suggestion = await _suggestion(await User.get(email="ada@example.com"), timezone="Nowhere/X")
    result = (await api.gql(ACCEPT, {"id": str(suggestion.id)}, token=token))["acceptSuggestion"]
    assert result["code"] == "CONFLICT" and "no longer valid" in result["message"]
