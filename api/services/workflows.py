"""Workflows: validation, create/update/delete, manual runs and cancellation.

Every change writes an audit entry in the same transaction. Someone else's workflow or run
answers exactly like a missing one (`NotFound`).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError
from tortoise.transactions import in_transaction

from api.auth.tokens import new_secret
from api.connectors import check_step_targets, validate_step
from api.runtime import Runtime
from api.services import audit
from api.services.errors import Conflict, ValidationFailed
from api.services.ownership import owned
from api.services.validation import check_text
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

logger = logging.getLogger(__name__)

MAX_STEPS = 20
RUN_JOB = "execute_workflow_run"


@dataclass
class StepSpec:
    connector: str
    config: Any


@dataclass
class WorkflowSpec:
    name: str
    steps: list[StepSpec]
    enabled: bool = False
    schedule: str | None = None
    timezone: str = "UTC"
    description: str = ""
    missed_run_policy: MissedRunPolicy = MissedRunPolicy.SKIP
    overlap_policy: OverlapPolicy = OverlapPolicy.SKIP
    normalised_steps: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


def _now() -> datetime:
    return datetime.now(UTC)


def validate_schedule(schedule: str | None, timezone: str) -> ZoneInfo:
    try:
        check_text(timezone, "timezone")
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationFailed(
            f"Unknown time zone {timezone!r}; use an IANA name like Europe/Paris.", "timezone"
        ) from None
    if schedule is not None:
        check_text(schedule, "schedule")
        try:
            if len(schedule.split()) != 5:
                raise CronSimError("expected 5 fields")
            CronSim(schedule, datetime.now(UTC))
        except CronSimError:
            raise ValidationFailed(
                "Expected a 5-field cron expression, like '0 9 * * 1-5'.", "schedule"
            ) from None
    return zone


def next_slot(schedule: str, timezone: str, after: datetime) -> datetime:
    """The first cron slot strictly after `after`, computed in the workflow's time zone
    (cronsim follows Debian cron across DST changes; see api/services/scheduler.py)."""
    return next(iter(CronSim(schedule, after.astimezone(ZoneInfo(timezone))))).astimezone(UTC)


def next_run_at(schedule: str | None, timezone: str, after: datetime) -> datetime | None:
    return None if schedule is None else next_slot(schedule, timezone, after)


def validate(spec: WorkflowSpec) -> WorkflowSpec:
    check_text(spec.name, "name")
    check_text(spec.description, "description")
    spec.name = spec.name.strip()
    if not 1 <= len(spec.name) <= 200:
        raise ValidationFailed("Name must be 1–200 characters.", "name")
    if len(spec.description) > 2000:
        raise ValidationFailed("Description must be at most 2000 characters.", "description")
    if spec.schedule is not None:
        spec.schedule = spec.schedule.strip() or None
    validate_schedule(spec.schedule, spec.timezone)
    if not spec.steps:
        raise ValidationFailed("A workflow needs at least one step.", "steps")
    if len(spec.steps) > MAX_STEPS:
        raise ValidationFailed(f"A workflow has at most {MAX_STEPS} steps.", "steps")
    spec.normalised_steps = [
        (step.connector, validate_step(step.connector, step.config, f"steps.{i}"))
        for i, step in enumerate(spec.steps)
    ]
    return spec


def snapshot(workflow: Workflow, steps: list[WorkflowStep]) -> dict[str, Any]:
    """The audit view of a workflow: its definition, never its secret."""
    return {
        "name": workflow.name,
        "description": workflow.description,
        "enabled": workflow.enabled,
        "schedule": workflow.schedule,
        "timezone": workflow.timezone,
        "missed_run_policy": str(workflow.missed_run_policy),
        "overlap_policy": str(workflow.overlap_policy),
        "steps": [{"connector": s.connector, "config": s.config} for s in steps],
    }


async def owned_workflow(
    user: User, workflow_id: str | uuid.UUID, *, lock: bool = False
) -> Workflow:
    return await owned(Workflow, user, workflow_id, "Workflow", lock=lock)


async def _write_steps(workflow: Workflow, spec: WorkflowSpec) -> list[WorkflowStep]:
    steps = [
        WorkflowStep(workflow=workflow, position=i, connector=connector, config=config)
        for i, (connector, config) in enumerate(spec.normalised_steps)
    ]
    await WorkflowStep.bulk_create(steps)
    return steps


async def create_workflow(
    actor: User, spec: WorkflowSpec, *, source: str | None = None
) -> Workflow:
    validate(spec)
    await check_step_targets(spec.normalised_steps)
    async with in_transaction("default"):
        workflow = await Workflow.create(
            user=actor,
            name=spec.name,
            description=spec.description,
            enabled=spec.enabled,
            schedule=spec.schedule,
            timezone=spec.timezone,
            missed_run_policy=spec.missed_run_policy,
            overlap_policy=spec.overlap_policy,
            secret=new_secret(),
            next_run_at=next_run_at(spec.schedule, spec.timezone, _now()) if spec.enabled else None,
        )
        steps = await _write_steps(workflow, spec)
        after = snapshot(workflow, steps)
        if source:
            after["source"] = source
        await audit.record(
            actor=actor,
            owner=actor,
            action="workflow.create",
            target_type="workflow",
            target_id=workflow.id,
            after=after,
        )
    return workflow


async def update_workflow(actor: User, workflow_id: str, spec: WorkflowSpec) -> Workflow:
    validate(spec)
    await check_step_targets(spec.normalised_steps)
    async with in_transaction("default"):
        workflow = await owned_workflow(actor, workflow_id, lock=True)
        before = snapshot(
            workflow, await WorkflowStep.filter(workflow=workflow).order_by("position")
        )
        schedule_changed = (workflow.schedule, workflow.timezone) != (spec.schedule, spec.timezone)
        workflow.name = spec.name
        workflow.description = spec.description
        workflow.schedule = spec.schedule
        workflow.timezone = spec.timezone
        workflow.missed_run_policy = spec.missed_run_policy
        workflow.overlap_policy = spec.overlap_policy
        if spec.enabled and (not workflow.enabled or schedule_changed):
            # (Re)enabling starts from now: slots while disabled were not missed.
            workflow.next_run_at = next_run_at(spec.schedule, spec.timezone, _now())
            workflow.consecutive_failures = 0
            workflow.paused_reason = None
        elif not spec.enabled:
            workflow.next_run_at = None
        workflow.enabled = spec.enabled
        await workflow.save()
        await WorkflowStep.filter(workflow=workflow).delete()
        steps = await _write_steps(workflow, spec)
        await audit.record(
            actor=actor,
            owner=actor,
            action="workflow.update",
            target_type="workflow",
            target_id=workflow.id,
            before=before,
            after=snapshot(workflow, steps),
        )
    return workflow


async def delete_workflow(actor: User, workflow_id: str) -> uuid.UUID:
    async with in_transaction("default"):
        workflow = await owned_workflow(actor, workflow_id, lock=True)
        steps = await WorkflowStep.filter(workflow=workflow).order_by("position")
        before = snapshot(workflow, steps)
        await workflow.delete()
        await audit.record(
            actor=actor,
            owner=actor,
            action="workflow.delete",
            target_type="workflow",
            target_id=workflow.id,
            before=before,
        )
    return workflow.id


async def run_workflow(rt: Runtime, actor: User, workflow_id: str) -> WorkflowRun:
    """Queue a manual run. The row is committed first; the job is queued after, and a run
    whose job could not be queued is picked up by the worker's sweep."""
    async with in_transaction("default"):
        workflow = await owned_workflow(actor, workflow_id)
        run = await WorkflowRun.create(
            workflow=workflow, user=actor, trigger=RunTrigger.MANUAL, status=RunStatus.QUEUED
        )
        await audit.record(
            actor=actor,
            owner=actor,
            action="workflow_run.create",
            target_type="workflow_run",
            target_id=run.id,
            after={"workflow_id": str(workflow.id), "trigger": "manual"},
        )
    try:
        await rt.redis.enqueue_job(RUN_JOB, str(run.id), _job_id=f"run:{run.id}")
    except Exception:
        logger.exception("could not queue run %s; the sweep will", run.id)
    return run


async def owned_run(user: User, run_id: str, *, lock: bool = False) -> WorkflowRun:
    return await owned(WorkflowRun, user, run_id, "Workflow run", lock=lock)


FINISHED = {RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.MISSED}


async def cancel_run(actor: User, run_id: str) -> WorkflowRun:
    """A queued run is cancelled at once; a running one stops before its next step."""
    async with in_transaction("default"):
        run = await owned_run(actor, run_id, lock=True)
        if run.status in FINISHED:
            raise Conflict(f"The run already finished ({run.status.value}).")
        before = {"status": run.status.value, "cancel_requested": run.cancel_requested}
        if run.status == RunStatus.QUEUED:
            run.status = RunStatus.CANCELLED
            run.finished_at = _now()
        run.cancel_requested = True
        await run.save()
        await audit.record(
            actor=actor,
            owner=actor,
            action="workflow_run.cancel",
            target_type="workflow_run",
            target_id=run.id,
            before=before,
            after={"status": run.status.value, "cancel_requested": True},
        )
    return run
