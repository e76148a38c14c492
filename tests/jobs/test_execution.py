"""Workflow runs executed by a real worker: connectors against a real local HTTP server and a
real SMTP server, retries, cancellation, pausing, and a worker killed mid-run."""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from models.workflows import Workflow
from tests.factories import make_user, token_for
from tests.jobs.conftest import StartWorker, eventually
from tests.schema.test_workflows import CANCEL, CREATE, RUN
from tests.smtp_sink import SmtpSink
from tests.support import GraphQLClient, serve_app
from tests.webhook_receiver import Receiver

RUN_QUERY = """query($id: ID!) { workflowRun(id: $id) { status error
  stepRuns { position connector status attempts output error } } }"""
FAST = {"WEBHOOK_BACKOFF_SECONDS": "0.05", "WEBHOOK_TIMEOUT_SECONDS": "1"}


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    server = Receiver()
    async with serve_app(server.app()) as url:
        yield server, url


@pytest.fixture
async def token(api: GraphQLClient) -> str:
    await make_user()
    return await token_for(api, "ada@example.com")


async def _workflow(api: GraphQLClient, token: str, steps: list[dict[str, Any]]) -> str:
    data = {"name": "w", "steps": steps, "enabled": False}
    result = (await api.gql(CREATE, {"input": data}, token=token))["createWorkflow"]
    assert result["__typename"] == "Workflow", result
    return str(result["id"])


async def _run(api: GraphQLClient, token: str, workflow_id: str) -> str:
    return str((await api.gql(RUN, {"id": workflow_id}, token=token))["runWorkflow"]["id"])


async def _finished(
    api: GraphQLClient, token: str, run_id: str, timeout: float = 30
) -> dict[str, Any]:
    result: dict[str, Any] = {}

    async def done() -> bool:
        nonlocal result
        result = (await api.gql(RUN_QUERY, {"id": run_id}, token=token))["workflowRun"]
        return result["status"] in {"SUCCEEDED", "FAILED", "CANCELLED"}

    await eventually(done, timeout=timeout)
    return result


async def test_steps_run_in_order_and_sign_their_webhooks(
    api: GraphQLClient,
    token: str,
    receiver: tuple[Receiver, str],
    start_worker: StartWorker,
    pg: asyncpg.Connection,
) -> None:
    server, url = receiver
    sink = SmtpSink().start()
    try:
        workflow_id = await _workflow(
            api,
            token,
            [
                {"connector": "log", "config": {"message": "starting"}},
                {
                    "connector": "webhook",
                    "config": {"url": f"{url}/ok", "body": {"hello": "world"}},
                },
                {"connector": "delay", "config": {"seconds": 0}},
                {
                    "connector": "email",
                    "config": {
                        "to": "ops@example.com",
                        "subject": "Done",
                        "body": "All steps ran.",
                    },
                },
            ],
        )
        server.secret = (await Workflow.get(id=workflow_id)).secret
        start_worker(SMTP_URL=sink.url, **FAST)
        run = await _finished(api, token, await _run(api, token, workflow_id))
        assert run["status"] == "SUCCEEDED", run
        assert [s["status"] for s in run["stepRuns"]] == ["SUCCEEDED"] * 4
        assert run["stepRuns"][0]["output"] == "starting"
        assert run["stepRuns"][1]["output"].startswith("HTTP 200")
        assert server.bad_signatures == 0 and len(server.deliveries("ok")) == 1
        assert sink.wait_for(1)[0]["Subject"] == "Done"
    finally:
        sink.stop()
    statuses = await pg.fetch(
        "SELECT after->>'status' AS s FROM audit_log"
        " WHERE action = 'workflow_run.status' ORDER BY id"
    )
    assert [r["s"] for r in statuses] == ["running", "succeeded"]


async def test_a_webhook_answering_503_then_200_is_retried(
    api: GraphQLClient, token: str, receiver: tuple[Receiver, str], start_worker: StartWorker
) -> None:
    server, url = receiver
    server.script["flaky"] = [503, 503]
    workflow_id = await _workflow(
        api, token, [{"connector": "webhook", "config": {"url": f"{url}/flaky"}}]
    )
    start_worker(**FAST)
    run = await _finished(api, token, await _run(api, token, workflow_id))
    assert run["status"] == "SUCCEEDED", run
    deliveries = server.deliveries("flaky")
    assert len(deliveries) == 1 and sum(deliveries.values()) == 3  # one key, three attempts


async def test_a_webhook_answering_400_fails_the_run_without_retry(
    api: GraphQLClient, token: str, receiver: tuple[Receiver, str], start_worker: StartWorker
) -> None:
    server, url = receiver
    server.script["bad"] = [400]
    workflow_id = await _workflow(
        api,
        token,
        [
            {"connector": "webhook", "config": {"url": f"{url}/bad"}},
            {"connector": "log", "config": {"message": "never"}},
        ],
    )
    start_worker(**FAST)
    run = await _finished(api, token, await _run(api, token, workflow_id))
    assert run["status"] == "FAILED"
    assert "step 0 (webhook) failed" in run["error"] and "HTTP 400" in run["error"]
    assert [s["status"] for s in run["stepRuns"]] == ["FAILED", "SKIPPED"]
    assert sum(server.deliveries("bad").values()) == 1


async def test_a_hanging_webhook_times_out_and_fails_after_its_attempts(
    api: GraphQLClient, token: str, receiver: tuple[Receiver, str], start_worker: StartWorker
) -> None:
    server, url = receiver
    server.hang_seconds = 5
    workflow_id = await _workflow(
        api, token, [{"connector": "webhook", "config": {"url": f"{url}/hang"}}]
    )
    start_worker(WEBHOOK_MAX_ATTEMPTS="2", **FAST)
    run = await _finished(api, token, await _run(api, token, workflow_id))
    assert run["status"] == "FAILED"
    assert "no answer within 1s" in run["error"] and "after 2 attempts" in run["error"]


async def test_cancel_stops_a_run_between_steps(
    api: GraphQLClient, token: str, start_worker: StartWorker
) -> None:
    workflow_id = await _workflow(
        api,
        token,
        [
            {"connector": "delay", "config": {"seconds": 30}},
            {"connector": "log", "config": {"message": "never"}},
        ],
    )
    start_worker()
    run_id = await _run(api, token, workflow_id)

    async def running() -> bool:
        data = (await api.gql(RUN_QUERY, {"id": run_id}, token=token))["workflowRun"]
        return data["status"] == "RUNNING"

    await eventually(running)
    cancel = (await api.gql(CANCEL, {"id": run_id}, token=token))["cancelWorkflowRun"]
    assert cancel["cancelRequested"] is True
    run = await _finished(api, token, run_id, timeout=15)
    assert run["status"] == "CANCELLED"
    assert [s["status"] for s in run["stepRuns"]] == ["FAILED", "CANCELLED"]


async def test_consecutive_failures_pause_the_workflow_and_tell_the_owner(
    api: GraphQLClient, token: str, receiver: tuple[Receiver, str], start_worker: StartWorker
) -> None:
    server, url = receiver
    server.script["bad"] = [400, 400, 400]
    workflow_id = await _workflow(
        api, token, [{"connector": "webhook", "config": {"url": f"{url}/bad"}}]
    )
    await Workflow.filter(id=workflow_id).update(enabled=True)
    sink = SmtpSink().start()
    try:
        start_worker(SMTP_URL=sink.url, **FAST)
        for _ in range(3):
            assert (await _finished(api, token, await _run(api, token, workflow_id)))[
                "status"
            ] == "FAILED"
        workflow = await Workflow.get(id=workflow_id)
        assert workflow.enabled is False and "paused after 3 failed runs" in (
            workflow.paused_reason or ""
        )
        notice = sink.wait_for(1)[0]
        assert notice["To"] == "ada@example.com" and "paused" in notice["Subject"]
    finally:
        sink.stop()


async def test_a_worker_killed_mid_run_finishes_after_restart_with_one_delivery(
    api: GraphQLClient, token: str, receiver: tuple[Receiver, str], start_worker: StartWorker
) -> None:
    server, url = receiver
    server.hang_seconds = 3  # the delivery is in flight when the worker dies
    workflow_id = await _workflow(
        api,
        token,
        [
            {"connector": "webhook", "config": {"url": f"{url}/before"}},
            {"connector": "webhook", "config": {"url": f"{url}/hang"}},
            {"connector": "webhook", "config": {"url": f"{url}/after"}},
        ],
    )
    env = {"WORKER_JOB_TIMEOUT": "4", "WEBHOOK_TIMEOUT_SECONDS": "5"}
    first = start_worker(**env)
    run_id = await _run(api, token, workflow_id)

    async def in_flight() -> bool:
        return len(server.deliveries("hang")) == 1

    await eventually(in_flight)
    first.send_signal(signal.SIGKILL)
    first.wait()
    start_worker(**env)
    run = await _finished(api, token, run_id, timeout=60)
    assert run["status"] == "SUCCEEDED", run
    # Each step's side effect happened once at the receiver (one idempotency key per step);
    # the cut-off step was sent again with the same key.
    for path in ("before", "hang", "after"):
        assert len(server.deliveries(path)) == 1, (path, server.requests)
    assert sum(server.deliveries("before").values()) == 1  # finished steps never rerun
    assert sum(server.deliveries("hang").values()) == 2
