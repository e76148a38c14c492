"""Workflows, their steps, and the history of their runs."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from models.users import User


class MissedRunPolicy(StrEnum):
    SKIP = "skip"
    RUN_ONCE = "run_once"


class OverlapPolicy(StrEnum):
    SKIP = "skip"
    ALLOW = "allow"


class RunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    MISSED = "missed"


class RunTrigger(StrEnum):
    SCHEDULE = "schedule"
    MANUAL = "manual"
    CATCH_UP = "catch_up"


class StepStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"


class Workflow(Model):
    """A multi-step automation, optionally on a cron schedule in an IANA time zone."""

    id = fields.UUIDField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="workflows", on_delete=fields.CASCADE
    )
    name = fields.CharField(max_length=200)
    description = fields.TextField(default="")
    enabled = fields.BooleanField(default=False)
    schedule = fields.CharField(max_length=120, null=True)
    timezone = fields.CharField(max_length=64, default="UTC")
    missed_run_policy = fields.CharEnumField(
        MissedRunPolicy, max_length=16, default=MissedRunPolicy.SKIP
    )
    overlap_policy = fields.CharEnumField(OverlapPolicy, max_length=16, default=OverlapPolicy.SKIP)
    # Signs webhook deliveries (HMAC-SHA256); generated per workflow.
    secret = fields.CharField(max_length=128)
    max_consecutive_failures = fields.IntField(default=3)
    consecutive_failures = fields.IntField(default=0)
    paused_reason: str | None = fields.TextField(null=True)
    next_run_at = fields.DatetimeField(null=True)
    last_scheduled_for = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "workflows"
        indexes = (("user", "created_at"), ("enabled", "next_run_at"))


class WorkflowStep(Model):
    """One step of a workflow: a connector (`webhook`, `email`, `log`, `delay`) and its config."""

    id = fields.BigIntField(primary_key=True)
    workflow: fields.ForeignKeyRelation[Workflow] = fields.ForeignKeyField(
        "models.Workflow", related_name="steps", on_delete=fields.CASCADE
    )
    position = fields.IntField()
    connector = fields.CharField(max_length=32)
    config: dict[str, Any] = fields.JSONField(default=dict)

    class Meta:
        table = "workflow_steps"
        unique_together = (("workflow", "position"),)


class WorkflowRun(Model):
    """One execution (or one recorded miss) of a workflow.

    Scheduled runs are unique per (workflow, slot), which makes dispatching them idempotent.
    """

    id = fields.UUIDField(primary_key=True)
    workflow: fields.ForeignKeyRelation[Workflow] = fields.ForeignKeyField(
        "models.Workflow", related_name="runs", on_delete=fields.CASCADE
    )
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="workflow_runs", on_delete=fields.CASCADE
    )
    status = fields.CharEnumField(RunStatus, max_length=16, default=RunStatus.QUEUED)
    trigger = fields.CharEnumField(RunTrigger, max_length=16)
    scheduled_for = fields.DatetimeField(null=True)
    cancel_requested = fields.BooleanField(default=False)
    error: str | None = fields.TextField(null=True)
    started_at = fields.DatetimeField(null=True)
    finished_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "workflow_runs"
        unique_together = (("workflow", "scheduled_for"),)
        indexes = (("workflow", "created_at"), ("status", "created_at"))


class StepRun(Model):
    """The outcome of one step within one run."""

    id = fields.BigIntField(primary_key=True)
    run: fields.ForeignKeyRelation[WorkflowRun] = fields.ForeignKeyField(
        "models.WorkflowRun", related_name="step_runs", on_delete=fields.CASCADE
    )
    step: fields.ForeignKeyNullableRelation[WorkflowStep] = fields.ForeignKeyField(
        "models.WorkflowStep", related_name="step_runs", null=True, on_delete=fields.SET_NULL
    )
    position = fields.IntField()
    connector = fields.CharField(max_length=32)
    status = fields.CharEnumField(StepStatus, max_length=16, default=StepStatus.PENDING)
    attempts = fields.IntField(default=0)
    output: str | None = fields.TextField(null=True)
    error: str | None = fields.TextField(null=True)
    started_at = fields.DatetimeField(null=True)
    finished_at = fields.DatetimeField(null=True)

    class Meta:
        table = "step_runs"
        unique_together = (("run", "position"),)
