"""Running a workflow: its steps in order, through the connectors.

A run may be executed more than once (arq re-runs the job of a killed worker): steps that
already succeeded are skipped, and a step that was cut off mid-way runs again with the same
idempotency key, so its side effect happens once at the receiver. Each status change is
published for subscribers and written to the audit log. After `max_consecutive_failures`
failed runs in a row a workflow pauses itself and tells its owner.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from tortoise.transactions import in_transaction

from api.connectors import EXECUTORS
from api.connectors.base import StepContext, StepFailed
from api.resilience import flags
from api.runtime import Runtime
from api.services import audit, pubsub
from api.services.workflows import FINISHED
from models.users import User
from models.workflows import RunStatus, StepRun, StepStatus, Workflow, WorkflowRun, WorkflowStep

logger = logging.getLogger(__name__)

MAX_OUTPUT_CHARS = 4000
RUNS_TOPIC = "workflow_runs"


def _now() -> datetime:
    return datetime.now(UTC)


def run_view(run: WorkflowRun) -> dict[str, Any]:
    return {
        "id": str(run.id),
        "workflow_id": str(run.workflow_id),  # type: ignore[attr-defined]
        "status": run.status.value,
        "trigger": run.trigger.value,
        "scheduled_for": run.scheduled_for,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "error": run.error,
        "cancel_requested": run.cancel_requested,
        "created_at": run.created_at,
    }


async def announce(rt: Runtime, run: WorkflowRun, before: str | None) -> None:
    """Audit the status change (actor: the system) and publish it."""
    await audit.record(
        actor=None,
        owner=run.user_id,  # type: ignore[attr-defined]
        action="workflow_run.status",
        target_type="workflow_run",
        target_id=run.id,
        before={"status": before} if before else None,
        after={"status": run.status.value, "error": run.error},
    )
    await pubsub.publish(rt, run.user_id, RUNS_TOPIC, run_view(run))  # type: ignore[attr-defined]


async def _allowed(rt: Runtime, run_id: str) -> bool:
    needed = [flags.WORKFLOW_EXECUTION]
    run = await WorkflowRun.get_or_none(id=run_id)
    if run is not None:
        connectors = await WorkflowStep.filter(
            workflow_id=run.workflow_id  # type: ignore[attr-defined]
        ).values_list("connector", flat=True)
        needed += [flags.connector_flag(str(c)) for c in set(connectors)]
    for name in needed:
        if not await rt.flags.enabled(name):
            logger.warning("run %s waits: %s is turned off", run_id, name)
            return False
    return True


async def _start(rt: Runtime, run_id: str) -> WorkflowRun | None:
    async with in_transaction("default"):
        run = await WorkflowRun.filter(id=run_id).select_for_update().first()
        if run is None or run.status in FINISHED:
            return None
        before = run.status.value
        if run.cancel_requested:
            run.status = RunStatus.CANCELLED
            run.finished_at = _now()
            await run.save()
            await announce(rt, run, before)
            return None
        if run.status != RunStatus.RUNNING:
            run.status = RunStatus.RUNNING
            run.started_at = run.started_at or _now()
            await run.save()
            await announce(rt, run, before)
    return run


async def execute_run(rt: Runtime, run_id: str) -> RunStatus | None:
    """Execute (or finish executing) one run; None when there was nothing to do (or it must
    wait: a kill switch is off, and the run stays queued for the worker's sweep)."""
    if not await _allowed(rt, run_id):
        return None
    run = await _start(rt, run_id)
    if run is None:
        return None
    workflow = await Workflow.get(id=run.workflow_id)  # type: ignore[attr-defined]
    steps = await WorkflowStep.filter(workflow=workflow).order_by("position")

    async def cancel_requested() -> bool:
        return bool(await WorkflowRun.filter(id=run.id, cancel_requested=True).exists())

    # Every step gets its row up front, so the run's page shows what is still to come.
    step_runs = {sr.position: sr for sr in await StepRun.filter(run=run)}
    for step in steps:
        if step.position not in step_runs:
            step_runs[step.position] = await StepRun.create(
                run=run, step=step, position=step.position, connector=step.connector
            )
    status, error = RunStatus.SUCCEEDED, None
    for step in steps:
        step_run = step_runs[step.position]
        if step_run.status == StepStatus.SUCCEEDED:
            continue  # done before a crash; never twice
        if await cancel_requested():
            status, error = RunStatus.CANCELLED, f"cancelled before step {step.position}"
            break
        step_run.status = StepStatus.RUNNING
        step_run.attempts += 1
        step_run.started_at = _now()
        step_run.error = None
        await step_run.save()
        context = StepContext(
            settings=rt.settings,
            run_id=str(run.id),
            workflow_id=str(workflow.id),
            position=step.position,
            workflow_secret=workflow.secret,
            cancel_requested=cancel_requested,
        )
        try:
            output = await EXECUTORS[step.connector](context, step.config)
        except StepFailed as failure:
            step_run.status = StepStatus.FAILED
            step_run.error = str(failure)[:MAX_OUTPUT_CHARS]
        except Exception as failure:  # a bug in a connector must still end the run cleanly
            logger.exception("step %s of run %s crashed", step.position, run.id)
            step_run.status = StepStatus.FAILED
            step_run.error = f"internal error: {type(failure).__name__}"
        else:
            step_run.status = StepStatus.SUCCEEDED
            step_run.output = output[:MAX_OUTPUT_CHARS]
        step_run.finished_at = _now()
        await step_run.save()
        if step_run.status == StepStatus.FAILED:
            if await cancel_requested():
                status, error = RunStatus.CANCELLED, f"cancelled during step {step.position}"
            else:
                status = RunStatus.FAILED
                error = f"step {step.position} ({step.connector}) failed: {step_run.error}"
            break
    if status != RunStatus.SUCCEEDED:
        await StepRun.filter(run=run, status=StepStatus.PENDING).update(
            status=StepStatus.CANCELLED if status == RunStatus.CANCELLED else StepStatus.SKIPPED
        )
    await _finish(rt, run, workflow, status, error)
    return status


async def _finish(
    rt: Runtime, run: WorkflowRun, workflow: Workflow, status: RunStatus, error: str | None
) -> None:
    paused = False
    async with in_transaction("default"):
        run.status = status
        run.error = error
        run.finished_at = _now()
        await run.save()
        locked = await Workflow.filter(id=workflow.id).select_for_update().first()
        if locked is not None:
            if status == RunStatus.FAILED:
                locked.consecutive_failures += 1
                if (
                    locked.enabled
                    and locked.consecutive_failures >= locked.max_consecutive_failures
                ):
                    locked.enabled = False
                    locked.next_run_at = None
                    locked.paused_reason = (
                        f"paused after {locked.consecutive_failures} failed runs in a row; "
                        f"last error: {error}"
                    )
                    paused = True
            elif status == RunStatus.SUCCEEDED:
                locked.consecutive_failures = 0
            await locked.save()
            if paused:
                await rt.cache.invalidate(str(locked.user_id))  # type: ignore[attr-defined]
                await audit.record(
                    actor=None,
                    owner=locked.user_id,  # type: ignore[attr-defined]
                    action="workflow.pause",
                    target_type="workflow",
                    target_id=locked.id,
                    before={"enabled": True},
                    after={"enabled": False, "paused_reason": locked.paused_reason},
                )
        await announce(rt, run, RunStatus.RUNNING.value)
    if paused and locked is not None:
        await notify_owner(
            rt,
            locked,
            f"Workflow paused: {locked.name}",
            f'Your workflow "{locked.name}" failed {locked.consecutive_failures} times in a '
            f"row and was paused.\n\nLast error: {error}\n\nFix it and enable it again.",
        )


async def notify_owner(rt: Runtime, workflow: Workflow, subject: str, body: str) -> None:
    owner = await User.get_or_none(id=workflow.user_id)  # type: ignore[attr-defined]
    if owner is None:
        return
    try:
        await rt.redis.enqueue_job("send_email", owner.email, subject, body)
    except Exception:
        logger.exception("could not queue the notice to %s", owner.email)
