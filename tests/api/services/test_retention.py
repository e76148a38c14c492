from __future__ import annotations

from datetime import UTC, datetime, timedelta

from api.services import retention
from models.events import DeadLetterStatus, Event, FailedEvent
from models.workflows import RunStatus, RunTrigger, StepRun, Workflow, WorkflowRun
from tests.factories import make_user
from tests.support import GraphQLClient


async def test_prune_removes_only_old_finished_history(api: GraphQLClient) -> None:
    user = await make_user()
    workflow = await Workflow.create(user=user, name="w", secret="s" * 32)
    old = datetime.now(UTC) - timedelta(days=100)
    kept_running = await WorkflowRun.create(
        workflow=workflow, user=user, trigger=RunTrigger.MANUAL, status=RunStatus.RUNNING
    )
    old_done = await WorkflowRun.create(
        workflow=workflow, user=user, trigger=RunTrigger.MANUAL, status=RunStatus.SUCCEEDED
    )
    recent = await WorkflowRun.create(
        workflow=workflow, user=user, trigger=RunTrigger.MANUAL, status=RunStatus.FAILED
    )
    await StepRun.create(run=old_done, position=0, connector="log")
    await WorkflowRun.filter(id__in=[kept_running.id, old_done.id]).update(created_at=old)
    event = await Event.create(user=user, kind="k", source="s", occurred_at=old)
    letters = {}
    for status in (DeadLetterStatus.RESOLVED, DeadLetterStatus.OPEN):
        letters[status] = await FailedEvent.create(
            event=event,
            user=user,
            payload={},
            error="e",
            attempts=1,
            status=status,
            first_failed_at=old,
            last_failed_at=old,
            resolved_at=old,
        )
    result = await retention.prune(
        runs_older_than=timedelta(days=90), dead_letters_older_than=timedelta(days=30)
    )
    assert result == {"workflow_runs": 1, "dead_letters": 1}
    assert {r.id for r in await WorkflowRun.all()} == {kept_running.id, recent.id}
    assert await StepRun.all().count() == 0
    assert [f.status for f in await FailedEvent.all()] == [DeadLetterStatus.OPEN]
