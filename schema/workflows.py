"""Workflows, their steps and runs: types, queries and mutations."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import Enum
from typing import Annotated, Any
from uuid import UUID

import strawberry
from strawberry.scalars import JSON

from api.services import workflows as service
from api.services.errors import Conflict, NotFound, ValidationFailed
from models.workflows import MissedRunPolicy as MissedRunPolicyValue
from models.workflows import OverlapPolicy as OverlapPolicyValue
from models.workflows import Workflow as WorkflowModel
from models.workflows import WorkflowRun as WorkflowRunModel
from schema.context import Info
from schema.errors import (
    ConflictError,
    NotFoundError,
    ValidationError,
    as_result,
    not_found_error,
)
from schema.loaders import RunPageKey
from schema.pagination import Connection, Edge, PageInfo, encode_cursor, page_size, paginate
from schema.permissions import IsAuthenticated, require_user


@strawberry.enum
class RunStatus(Enum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    MISSED = "missed"


@strawberry.enum
class StepStatus(Enum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"


@strawberry.enum
class MissedRunPolicy(Enum):
    SKIP = "skip"
    RUN_ONCE = "run_once"


@strawberry.enum
class OverlapPolicy(Enum):
    SKIP = "skip"
    ALLOW = "allow"


@strawberry.type
class WorkflowStep:
    id: strawberry.ID
    position: int
    connector: str
    config: JSON


@strawberry.type
class StepRun:
    id: strawberry.ID
    position: int
    connector: str
    status: StepStatus
    attempts: int
    output: str | None
    error: str | None
    started_at: datetime | None
    finished_at: datetime | None


@strawberry.type
class WorkflowRun:
    id: strawberry.ID
    status: RunStatus
    trigger: str
    scheduled_for: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None
    cancel_requested: bool
    created_at: datetime
    workflow_id: strawberry.ID

    @strawberry.field
    async def step_runs(self, info: Info) -> list[StepRun]:
        rows = await info.context.loaders.step_runs.load(UUID(str(self.id)))
        return [
            StepRun(
                id=strawberry.ID(str(r.id)),
                position=r.position,
                connector=r.connector,
                status=StepStatus(str(r.status)),
                attempts=r.attempts,
                output=r.output,
                error=r.error,
                started_at=r.started_at,
                finished_at=r.finished_at,
            )
            for r in rows
        ]

    @classmethod
    def from_model(cls, run: Any) -> WorkflowRun:
        """From a model or a raw row (the run-page loader returns rows)."""
        return cls(
            id=strawberry.ID(str(run.id)),
            status=RunStatus(str(run.status)),
            trigger=str(run.trigger),
            scheduled_for=run.scheduled_for,
            started_at=run.started_at,
            finished_at=run.finished_at,
            error=run.error,
            cancel_requested=run.cancel_requested,
            created_at=run.created_at,
            workflow_id=strawberry.ID(str(run.workflow_id)),
        )


@strawberry.type
class Workflow:
    id: strawberry.ID
    name: str
    description: str
    enabled: bool
    schedule: str | None
    timezone: str
    missed_run_policy: MissedRunPolicy
    overlap_policy: OverlapPolicy
    paused_reason: str | None
    next_run_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @strawberry.field
    async def steps(self, info: Info) -> list[WorkflowStep]:
        rows = await info.context.loaders.steps.load(UUID(str(self.id)))
        return [
            WorkflowStep(
                id=strawberry.ID(str(s.id)),
                position=s.position,
                connector=s.connector,
                config=JSON(s.config),
            )
            for s in rows
        ]

    @strawberry.field(description="Newest first.")
    async def runs(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[WorkflowRun]:
        key = RunPageKey(UUID(str(self.id)), first, after)
        rows = await info.context.loaders.run_pages.load(key)
        size = page_size(first)
        edges = [
            Edge(cursor=encode_cursor([r.created_at, r.id]), node=WorkflowRun.from_model(r))
            for r in rows[:size]
        ]
        return Connection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=len(rows) > size,
                end_cursor=edges[-1].cursor if edges else None,
            ),
        )

    @classmethod
    def from_model(cls, workflow: WorkflowModel) -> Workflow:
        return cls(
            id=strawberry.ID(str(workflow.id)),
            name=workflow.name,
            description=workflow.description,
            enabled=workflow.enabled,
            schedule=workflow.schedule,
            timezone=workflow.timezone,
            missed_run_policy=MissedRunPolicy(str(workflow.missed_run_policy)),
            overlap_policy=OverlapPolicy(str(workflow.overlap_policy)),
            paused_reason=workflow.paused_reason,
            next_run_at=workflow.next_run_at,
            created_at=workflow.created_at,
            updated_at=workflow.updated_at,
        )


@strawberry.input
class WorkflowStepInput:
    connector: str
    config: JSON


@strawberry.input
class WorkflowInput:
    name: str
    steps: list[WorkflowStepInput]
    enabled: bool | None = None
    schedule: str | None = None
    timezone: str | None = None
    description: str | None = None
    missed_run_policy: MissedRunPolicy | None = None
    overlap_policy: OverlapPolicy | None = None


@strawberry.type
class DeletedWorkflow:
    id: strawberry.ID


WorkflowResult = Annotated[
    Workflow | ValidationError | NotFoundError | ConflictError, strawberry.union("WorkflowResult")
]
WorkflowRunResult = Annotated[
    WorkflowRun | ValidationError | NotFoundError | ConflictError,
    strawberry.union("WorkflowRunResult"),
]
DeleteWorkflowResult = Annotated[
    DeletedWorkflow | NotFoundError, strawberry.union("DeleteWorkflowResult")
]


def _spec(data: WorkflowInput) -> service.WorkflowSpec:
    return service.WorkflowSpec(
        name=data.name,
        description=data.description or "",
        enabled=bool(data.enabled),
        schedule=data.schedule,
        timezone=data.timezone or "UTC",
        missed_run_policy=MissedRunPolicyValue(
            (data.missed_run_policy or MissedRunPolicy.SKIP).value
        ),
        overlap_policy=OverlapPolicyValue((data.overlap_policy or OverlapPolicy.SKIP).value),
        steps=[service.StepSpec(s.connector, s.config) for s in data.steps],
    )


def _parse_uuid(value: str) -> UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


@strawberry.type
class WorkflowQuery:
    @strawberry.field(permission_classes=[IsAuthenticated])
    async def workflows(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[Workflow]:
        return await paginate(
            WorkflowModel.filter(user=require_user(info)),
            keys=("created_at", "id"),
            key_types=(datetime, UUID),
            first=first,
            after=after,
            to_node=Workflow.from_model,
        )

    @strawberry.field(permission_classes=[IsAuthenticated])
    async def workflow(self, info: Info, id: strawberry.ID) -> Workflow | None:
        key = _parse_uuid(str(id))
        if key is None:
            return None
        row = await WorkflowModel.get_or_none(id=key, user=require_user(info))
        return Workflow.from_model(row) if row is not None else None

    @strawberry.field(permission_classes=[IsAuthenticated])
    async def workflow_run(self, info: Info, id: strawberry.ID) -> WorkflowRun | None:
        key = _parse_uuid(str(id))
        if key is None:
            return None
        row = await WorkflowRunModel.get_or_none(id=key, user=require_user(info))
        return WorkflowRun.from_model(row) if row is not None else None


@strawberry.type
class WorkflowMutation:
    @strawberry.mutation(permission_classes=[IsAuthenticated])
    async def create_workflow(self, info: Info, input: WorkflowInput) -> WorkflowResult:
        try:
            return Workflow.from_model(
                await service.create_workflow(require_user(info), _spec(input))
            )
        except (ValidationFailed, NotFound, Conflict) as error:
            return as_result(error)

    @strawberry.mutation(permission_classes=[IsAuthenticated])
    async def update_workflow(
        self, info: Info, id: strawberry.ID, input: WorkflowInput
    ) -> WorkflowResult:
        try:
            return Workflow.from_model(
                await service.update_workflow(require_user(info), str(id), _spec(input))
            )
        except (ValidationFailed, NotFound, Conflict) as error:
            return as_result(error)

    @strawberry.mutation(permission_classes=[IsAuthenticated])
    async def delete_workflow(self, info: Info, id: strawberry.ID) -> DeleteWorkflowResult:
        try:
            deleted = await service.delete_workflow(require_user(info), str(id))
        except NotFound as error:
            return not_found_error(error)
        return DeletedWorkflow(id=strawberry.ID(str(deleted)))

    @strawberry.mutation(permission_classes=[IsAuthenticated])
    async def run_workflow(self, info: Info, id: strawberry.ID) -> WorkflowRunResult:
        try:
            run = await service.run_workflow(info.context.runtime, require_user(info), str(id))
        except (ValidationFailed, NotFound, Conflict) as error:
            return as_result(error)
        return WorkflowRun.from_model(run)

    @strawberry.mutation(permission_classes=[IsAuthenticated])
    async def cancel_workflow_run(self, info: Info, id: strawberry.ID) -> WorkflowRunResult:
        try:
            run = await service.cancel_run(require_user(info), str(id))
        except (ValidationFailed, NotFound, Conflict) as error:
            return as_result(error)
        return WorkflowRun.from_model(run)
