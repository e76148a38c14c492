"""Patterns and suggestions: types, queries, accept/dismiss."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated
from uuid import UUID

import strawberry
from strawberry.scalars import JSON

from api.services import patterns as service
from api.services.errors import Conflict, NotFound, ValidationFailed
from models.patterns import Pattern as PatternModel
from models.patterns import Suggestion as SuggestionModel
from models.patterns import SuggestionStatus as SuggestionStatusValue
from schema.context import Info
from schema.errors import ConflictError, NotFoundError, ValidationError, as_result
from schema.pagination import Connection, paginate
from schema.permissions import IsAuthenticated, require_user
from schema.workflows import Workflow


@strawberry.enum
class PatternKind(Enum):
    HOUR_OF_DAY = "hour_of_day"
    DAY_OF_WEEK = "day_of_week"
    SEQUENCE = "sequence"
    TIME_OF_DAY = "time_of_day"


@strawberry.enum
class SuggestionStatus(Enum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    DISMISSED = "dismissed"


@strawberry.type
class Suggestion:
    id: strawberry.ID
    status: SuggestionStatus
    title: str
    description: str
    proposed_workflow: JSON
    created_at: datetime
    decided_at: datetime | None
    pattern_id: strawberry.Private[UUID]
    workflow_id: strawberry.Private[UUID | None]

    @strawberry.field
    async def pattern(self, info: Info) -> Pattern:
        row = await info.context.loaders.pattern.load(self.pattern_id)
        assert row is not None  # suggestions cascade with their pattern
        return Pattern.from_model(row)

    @strawberry.field(description="The workflow made from it, once accepted (and not deleted).")
    async def workflow(self, info: Info) -> Workflow | None:
        if self.workflow_id is None:
            return None
        row = await info.context.loaders.workflow.load(self.workflow_id)
        return Workflow.from_model(row) if row is not None else None

    @classmethod
    def from_model(cls, row: SuggestionModel) -> Suggestion:
        return cls(
            id=strawberry.ID(str(row.id)),
            status=SuggestionStatus(str(row.status)),
            title=row.title,
            description=row.description,
            proposed_workflow=JSON(row.proposed_workflow),
            created_at=row.created_at,
            decided_at=row.decided_at,
            pattern_id=row.pattern_id,  # type: ignore[attr-defined]
            workflow_id=row.workflow_id,  # type: ignore[attr-defined]
        )


@strawberry.type
class Pattern:
    id: strawberry.ID
    kind: PatternKind
    description: str
    details: JSON
    count: int
    confidence: float
    first_seen: datetime
    last_seen: datetime

    @strawberry.field
    async def suggestions(self, info: Info) -> list[Suggestion]:
        rows = await info.context.loaders.suggestions.load(UUID(str(self.id)))
        return [Suggestion.from_model(row) for row in rows]

    @classmethod
    def from_model(cls, row: PatternModel) -> Pattern:
        return cls(
            id=strawberry.ID(str(row.id)),
            kind=PatternKind(str(row.kind)),
            description=row.description,
            details=JSON(row.details),
            count=row.count,
            confidence=row.confidence,
            first_seen=row.first_seen,
            last_seen=row.last_seen,
        )


SuggestionResult = Annotated[
    Suggestion | NotFoundError | ConflictError | ValidationError,
    strawberry.union("SuggestionResult"),
]
AcceptSuggestionResult = Annotated[
    Workflow | NotFoundError | ConflictError | ValidationError,
    strawberry.union("AcceptSuggestionResult"),
]


@strawberry.type
class PatternQuery:
    @strawberry.field(permission_classes=[IsAuthenticated])
    async def patterns(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[Pattern]:
        return await paginate(
            PatternModel.filter(user=require_user(info)),
            keys=("created_at", "id"),
            key_types=(datetime, UUID),
            first=first,
            after=after,
            to_node=Pattern.from_model,
        )

    @strawberry.field(permission_classes=[IsAuthenticated])
    async def suggestions(
        self,
        info: Info,
        status: SuggestionStatus | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[Suggestion]:
        query = SuggestionModel.filter(user=require_user(info))
        if status is not None:
            query = query.filter(status=SuggestionStatusValue(status.value))
        return await paginate(
            query,
            keys=("created_at", "id"),
            key_types=(datetime, UUID),
            first=first,
            after=after,
            to_node=Suggestion.from_model,
        )


@strawberry.type
class PatternMutation:
    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="Creates the proposed workflow, disabled until you enable it.",
    )
    async def accept_suggestion(self, info: Info, id: strawberry.ID) -> AcceptSuggestionResult:
        try:
            workflow = await service.accept_suggestion(require_user(info), str(id))
        except (ValidationFailed, NotFound, Conflict) as error:
            return as_result(error)
        return Workflow.from_model(workflow)

    @strawberry.mutation(permission_classes=[IsAuthenticated])
    async def dismiss_suggestion(self, info: Info, id: strawberry.ID) -> SuggestionResult:
        try:
            suggestion = await service.dismiss_suggestion(require_user(info), str(id))
        except (ValidationFailed, NotFound, Conflict) as error:
            return as_result(error)
        return Suggestion.from_model(suggestion)
