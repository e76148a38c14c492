"""The scheduler: turns due cron slots into runs, exactly once per (workflow, slot).

Called every minute by the dispatcher cron. Due workflows are locked with SKIP LOCKED, a
run's (workflow, scheduled_for) is unique in the database, and the job id is `run:<run id>`:
with any number of workers, each slot runs at most once.

Slots are computed in the workflow's IANA time zone with cronsim, which follows Debian cron
across DST changes: "0 9 * * *" stays at 09:00 local time; a daily time that occurs twice
when clocks go back runs once; a time skipped when clocks go forward runs at the jump.

A slot found later than `GRACE` after its time was missed (worker or Redis down). Missed
slots are recorded as runs with status MISSED and the owner is alerted (email plus the
`workflowRunUpdated` subscription). With the `run_once` policy, one catch-up run executes
now for all the missed slots; with `skip`, none does. With the `skip` overlap policy a slot
that comes while a run is still active is recorded as cancelled ("skipped: overlap").
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from cronsim import CronSim
from tortoise.transactions import in_transaction

from api.runtime import Runtime
from api.services import execution
from api.services.workflows import RUN_JOB, next_slot
from models.workflows import (
    MissedRunPolicy,
    OverlapPolicy,
    RunStatus,
    RunTrigger,
    Workflow,
    WorkflowRun,
)

logger = logging.getLogger(__name__)

GRACE = timedelta(minutes=2)
MAX_SLOTS = 500  # bound the catch-up after a long outage
DUE_BATCH = 200
ACTIVE = (RunStatus.QUEUED, RunStatus.RUNNING)


def slots_between(schedule: str, timezone: str, start: datetime, end: datetime) -> list[datetime]:
    """Cron slots in [start, end], in UTC, computed in the workflow's zone."""
    zone = ZoneInfo(timezone)
    found: list[datetime] = []
    for slot in CronSim(schedule, (start - timedelta(seconds=1)).astimezone(zone)):
        if slot > end or len(found) >= MAX_SLOTS:
            break
        found.append(slot.astimezone(UTC))
    return found


@dataclass
class Tick:
    queued: list[WorkflowRun] = field(default_factory=list)
    missed: list[WorkflowRun] = field(default_factory=list)
    skipped: list[WorkflowRun] = field(default_factory=list)


async def _record(
    workflow: Workflow,
    slot: datetime,
    status: RunStatus,
    trigger: RunTrigger,
    error: str | None = None,
) -> WorkflowRun | None:
    """Create the run for a slot unless it exists (another dispatcher got there first)."""
    if await WorkflowRun.exists(workflow=workflow, scheduled_for=slot):
        return None
    finished = datetime.now(UTC) if status != RunStatus.QUEUED else None
    return await WorkflowRun.create(
        workflow=workflow,
        user_id=workflow.user_id,  # type: ignore[attr-defined]
        status=status,
        trigger=trigger,
        scheduled_for=slot,
        error=error,
        finished_at=finished,
    )


async def _dispatch_one(workflow: Workflow, now: datetime, tick: Tick) -> None:
    assert workflow.schedule is not None and workflow.next_run_at is not None
    slots = slots_between(workflow.schedule, workflow.timezone, workflow.next_run_at, now)
    workflow.next_run_at = next_slot(workflow.schedule, workflow.timezone, now)
    if not slots:
        await workflow.save(update_fields=["next_run_at", "updated_at"])
        return
    latest = slots[-1]
    on_time = now - latest <= GRACE
    missed = slots[:-1] if on_time else slots
    run_slot: datetime | None = latest if on_time else None
    trigger = RunTrigger.SCHEDULE
    if not on_time and workflow.missed_run_policy == MissedRunPolicy.RUN_ONCE:
        run_slot, missed, trigger = latest, slots[:-1], RunTrigger.CATCH_UP
    for slot in missed:
        run = await _record(
            workflow,
            slot,
            RunStatus.MISSED,
            RunTrigger.SCHEDULE,
            "missed: the scheduler did not run at this time",
        )
        if run is not None:
            tick.missed.append(run)
    if run_slot is not None:
        active = await WorkflowRun.filter(workflow=workflow, status__in=ACTIVE).exists()
        if active and workflow.overlap_policy == OverlapPolicy.SKIP:
            run = await _record(
                workflow,
                run_slot,
                RunStatus.CANCELLED,
                trigger,
                "skipped: the previous run was still active",
            )
            if run is not None:
                tick.skipped.append(run)
        else:
            run = await _record(workflow, run_slot, RunStatus.QUEUED, trigger)
            if run is not None:
                tick.queued.append(run)
    workflow.last_scheduled_for = latest
    await workflow.save(update_fields=["next_run_at", "last_scheduled_for", "updated_at"])


async def dispatch_due(rt: Runtime, now: datetime | None = None) -> Tick:
    """One scheduler tick."""
    now = now or datetime.now(UTC)
    tick = Tick()
    async with in_transaction("default"):
        due = (
            await Workflow.filter(enabled=True, schedule__isnull=False, next_run_at__lte=now)
            .order_by("next_run_at")
            .limit(DUE_BATCH)
            .select_for_update(skip_locked=True)
        )
        for workflow in due:
            await _dispatch_one(workflow, now, tick)
    for run in tick.queued:
        await enqueue(rt, run)
    for run in tick.missed + tick.skipped + tick.queued:
        await execution.announce(rt, run, None)
    await _alert_missed(rt, tick.missed)
    return tick


async def enqueue(rt: Runtime, run: WorkflowRun) -> None:
    try:
        await rt.redis.enqueue_job(RUN_JOB, str(run.id), _job_id=f"run:{run.id}")
    except Exception as error:  # the run is stored; the queued-run sweep will retry
        logger.warning("could not queue run %s: %s", run.id, error)


async def _alert_missed(rt: Runtime, missed: list[WorkflowRun]) -> None:
    by_workflow: dict[object, list[WorkflowRun]] = {}
    for run in missed:
        by_workflow.setdefault(run.workflow_id, []).append(run)  # type: ignore[attr-defined]
    for workflow_id, runs in by_workflow.items():
        workflow = await Workflow.get_or_none(id=workflow_id)
        if workflow is None:
            continue
        times = ", ".join(r.scheduled_for.isoformat() for r in runs if r.scheduled_for)
        policy = (
            "One catch-up run was started."
            if workflow.missed_run_policy == MissedRunPolicy.RUN_ONCE
            else "They were skipped (missed-run policy: skip)."
        )
        await execution.notify_owner(
            rt,
            workflow,
            f"Missed runs: {workflow.name}",
            f'Your workflow "{workflow.name}" missed {len(runs)} scheduled run(s): {times}.\n'
            f"{policy}\n",
        )


async def requeue_stale(rt: Runtime, older_than: timedelta = timedelta(minutes=1)) -> int:
    """Runs stored as QUEUED whose job never reached Redis: queue them (same job id, so a
    job that does exist is not doubled)."""
    cutoff = datetime.now(UTC) - older_than
    runs = await WorkflowRun.filter(status=RunStatus.QUEUED, created_at__lt=cutoff).limit(500)
    for run in runs:
        await enqueue(rt, run)
    return len(runs)
