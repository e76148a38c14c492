"""The scheduler: slots in the workflow's time zone across DST, missed runs recorded and
alerted, catch-up policy, overlap policy, and two real workers dispatching one schedule."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from arq.connections import ArqRedis

from api.runtime import Runtime
from api.services import scheduler
from api.settings import Settings
from models.users import User
from models.workflows import (
    MissedRunPolicy,
    OverlapPolicy,
    RunStatus,
    RunTrigger,
    Workflow,
    WorkflowRun,
    WorkflowStep,
)
from tests.factories import make_user
from tests.jobs.conftest import StartWorker, eventually
from tests.support import GraphQLClient


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


@pytest.mark.parametrize(
    ("schedule", "zone", "start", "end", "expected"),
    [
        # 09:00 in Paris stays 09:00 local when clocks go forward (08:00 → 07:00 UTC).
        (
            "0 9 * * *",
            "Europe/Paris",
            "2026-03-28T00:00Z",
            "2026-03-30T00:00Z",
            ["2026-03-28T08:00Z", "2026-03-29T07:00Z"],
        ),
        # 01:30 happens twice in New York when clocks go back: a daily job runs once.
        (
            "30 1 * * *",
            "America/New_York",
            "2026-11-01T00:00Z",
            "2026-11-02T00:00Z",
            ["2026-11-01T05:30Z"],
        ),
        # 02:30 does not exist in Paris on the spring change: it runs at the jump (03:00).
        (
            "30 2 * * *",
            "Europe/Paris",
            "2026-03-29T00:00Z",
            "2026-03-29T12:00Z",
            ["2026-03-29T01:00Z"],
        ),
        # Intervals follow real time through the repeated hour.
        (
            "0 * * * *",
            "America/New_York",
            "2026-11-01T04:30Z",
            "2026-11-01T07:30Z",
            ["2026-11-01T05:00Z", "2026-11-01T06:00Z", "2026-11-01T07:00Z"],
        ),
    ],
)
def test_slots_follow_the_time_zone_across_dst(
    schedule: str, zone: str, start: str, end: str, expected: list[str]
) -> None:
    slots = scheduler.slots_between(schedule, zone, _utc(start), _utc(end))
    assert slots == [_utc(e) for e in expected]


@pytest.fixture
async def runtime(api: GraphQLClient, settings: Settings) -> AsyncIterator[Runtime]:
    rt = Runtime.create(settings)  # the ORM is up through the `api` fixture
    yield rt
    await rt.close()


async def _workflow(user: User, **fields: object) -> Workflow:
    values: dict[str, object] = {
        "name": "every minute",
        "schedule": "* * * * *",
        "timezone": "UTC",
        "enabled": True,
        "secret": "s" * 32,
        **fields,
    }
    workflow = await Workflow.create(user=user, **values)
    await WorkflowStep.create(
        workflow=workflow, position=0, connector="log", config={"message": "tick"}
    )
    return workflow


async def _queued_jobs(settings: Settings) -> list[str]:
    redis = ArqRedis.from_url(settings.redis_dsn)
    try:
        return sorted(j.function for j in await redis.queued_jobs())
    finally:
        await redis.aclose()


async def test_an_on_time_slot_is_queued_once(runtime: Runtime, settings: Settings) -> None:
    user = await make_user()
    now = datetime(2026, 11, 28, 12, 0, 30, tzinfo=UTC)
    workflow = await _workflow(user, next_run_at=now.replace(second=0))
    tick = await scheduler.dispatch_due(runtime, now)
    assert [(r.status, r.scheduled_for) for r in tick.queued] == [
        (RunStatus.QUEUED, now.replace(second=0))
    ]
    assert "execute_workflow_run" in await _queued_jobs(settings)
    again = await scheduler.dispatch_due(runtime, now)  # a second dispatcher, same minute
    assert again.queued == [] and await WorkflowRun.filter(workflow=workflow).count() == 1
    await workflow.refresh_from_db()
    assert workflow.next_run_at == datetime(2026, 11, 28, 12, 1, tzinfo=UTC)


@pytest.mark.parametrize("policy", [MissedRunPolicy.SKIP, MissedRunPolicy.RUN_ONCE])
async def test_missed_slots_are_recorded_and_alerted(
    runtime: Runtime, settings: Settings, policy: MissedRunPolicy
) -> None:
    user = await make_user()
    now = datetime(2026, 11, 28, 12, 10, 5, tzinfo=UTC)
    # The scheduler was down from 12:00: ten slots went by.
    workflow = await _workflow(
        user, next_run_at=now - timedelta(minutes=10, seconds=5), missed_run_policy=policy
    )
    tick = await scheduler.dispatch_due(runtime, now - timedelta(minutes=0))
    runs = await WorkflowRun.filter(workflow=workflow).order_by("scheduled_for")
    statuses = [(r.status, r.trigger) for r in runs]
    # 12:00 … 12:09 were missed; 12:10 is on time and runs normally.
    assert statuses[:10] == [(RunStatus.MISSED, RunTrigger.SCHEDULE)] * 10
    assert statuses[10] == (RunStatus.QUEUED, RunTrigger.SCHEDULE)
    assert len(tick.missed) == 10
    jobs = await _queued_jobs(settings)
    assert jobs.count("send_email") == 1  # one alert for the workflow, not one per slot
    assert jobs.count("execute_workflow_run") == 1


async def test_run_once_catches_up_when_even_the_latest_slot_is_late(runtime: Runtime) -> None:
    user = await make_user()
    now = datetime(2026, 11, 28, 12, 30, 0, tzinfo=UTC)
    workflow = await _workflow(
        user,
        schedule="0 * * * *",
        next_run_at=datetime(2026, 11, 28, 10, 0, tzinfo=UTC),
        missed_run_policy=MissedRunPolicy.RUN_ONCE,
    )
    await scheduler.dispatch_due(runtime, now)
    runs = await WorkflowRun.filter(workflow=workflow).order_by("scheduled_for")
    assert [(r.status, r.trigger) for r in runs] == [
        (RunStatus.MISSED, RunTrigger.SCHEDULE),  # 10:00
        (RunStatus.MISSED, RunTrigger.SCHEDULE),  # 11:00
        (RunStatus.QUEUED, RunTrigger.CATCH_UP),  # 12:00, caught up now
    ]


async def test_skip_policy_runs_nothing_for_a_late_latest_slot(runtime: Runtime) -> None:
    user = await make_user()
    now = datetime(2026, 11, 28, 12, 30, 0, tzinfo=UTC)
    workflow = await _workflow(
        user, schedule="0 * * * *", next_run_at=datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    )
    await scheduler.dispatch_due(runtime, now)
    runs = await WorkflowRun.filter(workflow=workflow)
    assert [r.status for r in runs] == [RunStatus.MISSED]


@pytest.mark.parametrize(
    ("policy", "expected"),
    [(OverlapPolicy.SKIP, RunStatus.CANCELLED), (OverlapPolicy.ALLOW, RunStatus.QUEUED)],
)
async def test_overlap_policy(runtime: Runtime, policy: OverlapPolicy, expected: RunStatus) -> None:
    user = await make_user()
    now = datetime(2026, 11, 28, 12, 0, 10, tzinfo=UTC)
    workflow = await _workflow(user, next_run_at=now.replace(second=0), overlap_policy=policy)
    await WorkflowRun.create(
        workflow=workflow, user=user, status=RunStatus.RUNNING, trigger=RunTrigger.MANUAL
    )
    tick = await scheduler.dispatch_due(runtime, now)
    slot_run = await WorkflowRun.get(workflow=workflow, scheduled_for=now.replace(second=0))
    assert slot_run.status == expected
    if expected == RunStatus.CANCELLED:
        assert slot_run.error == "skipped: the previous run was still active"
        assert tick.skipped == [slot_run]


async def test_disabled_workflows_are_not_dispatched(runtime: Runtime) -> None:
    user = await make_user()
    now = datetime(2026, 11, 28, 12, 0, 10, tzinfo=UTC)
    await _workflow(user, next_run_at=now.replace(second=0), enabled=False)
    tick = await scheduler.dispatch_due(runtime, now)
    assert tick.queued == [] and await WorkflowRun.all().count() == 0


async def test_two_real_workers_run_each_slot_exactly_once(
    api: GraphQLClient, start_worker: StartWorker, pg: asyncpg.Connection
) -> None:
    user = await make_user()
    slot = datetime.now(UTC).replace(second=0, microsecond=0)
    workflow = await _workflow(user, next_run_at=slot)
    # Both dispatch at start-up, at the same moment, against the same due slot.
    start_worker()
    start_worker()

    async def ran() -> bool:
        return await WorkflowRun.filter(workflow=workflow, status=RunStatus.SUCCEEDED).exists()

    await eventually(ran)
    rows = await pg.fetch(
        "SELECT scheduled_for, count(*) AS n FROM workflow_runs GROUP BY scheduled_for"
    )
    assert all(r["n"] == 1 for r in rows), rows
    step_runs = await pg.fetchval("SELECT count(*) FROM step_runs")
    runs = await pg.fetchval("SELECT count(*) FROM workflow_runs WHERE status = 'succeeded'")
    assert step_runs == runs  # every run executed its one step once
