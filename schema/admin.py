"""Admin-only views: dead letters of the event pipeline and feature flags."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated

import strawberry
from strawberry.scalars import JSON

from api.resilience.flags import DESCRIPTIONS
from api.services import audit, pipeline
from api.services import flags as flag_service
from api.services.errors import ValidationFailed
from models.events import DeadLetterStatus as DeadLetterStatusValue
from models.events import FailedEvent
from schema.context import Info
from schema.errors import ValidationError, validation_error
from schema.pagination import Connection, paginate
from schema.permissions import IsAdmin, require_user


@strawberry.enum
class DeadLetterStatus(Enum):
    OPEN = "open"
    REPLAYING = "replaying"
    RESOLVED = "resolved"
    DISCARDED = "discarded"


@strawberry.type
class DeadLetter:
    id: strawberry.ID
    status: DeadLetterStatus
    error: str
    attempts: int
    payload: JSON
    history: JSON
    first_failed_at: datetime
    last_failed_at: datetime
    replayed_at: datetime | None
    resolved_at: datetime | None
    created_at: datetime

    @classmethod
    def from_model(cls, row: FailedEvent) -> DeadLetter:
        return cls(
            id=strawberry.ID(str(row.id)),
            status=DeadLetterStatus(str(row.status)),
            error=row.error,
            attempts=row.attempts,
            payload=JSON(row.payload),
            history=JSON(row.history),
            first_failed_at=row.first_failed_at,
            last_failed_at=row.last_failed_at,
            replayed_at=row.replayed_at,
            resolved_at=row.resolved_at,
            created_at=row.created_at,
        )


@strawberry.type
class FeatureFlag:
    name: str
    enabled: bool
    description: str
    forced_by_environment: bool


@strawberry.type
class AdminQuery:
    @strawberry.field(permission_classes=[IsAdmin])
    async def dead_letters(
        self,
        info: Info,
        status: DeadLetterStatus | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[DeadLetter]:
        query = FailedEvent.all()
        if status is not None:
            query = query.filter(status=DeadLetterStatusValue(status.value))
        return await paginate(
            query,
            keys=("created_at", "id"),
            key_types=(datetime, int),
            first=first,
            after=after,
            to_node=DeadLetter.from_model,
        )

    @strawberry.field(permission_classes=[IsAdmin])
    async def feature_flags(self, info: Info) -> list[FeatureFlag]:
        flags = info.context.runtime.flags
        return [
            FeatureFlag(
                name=name,
                enabled=enabled,
                description=DESCRIPTIONS[name],
                forced_by_environment=name in flags.overrides,
            )
            for name, enabled in (await flags.all()).items()
        ]


@strawberry.type
class AdminMutation:
    @strawberry.mutation(
        permission_classes=[IsAdmin],
        description="Send open dead letters through the pipeline again; returns the ones "
        "queued (a letter already replaying or resolved is left alone).",
    )
    async def replay_dead_letters(self, info: Info, ids: list[strawberry.ID]) -> list[DeadLetter]:
        actor = require_user(info)
        keys = sorted({int(i) for i in ids if str(i).isdigit() and len(str(i)) <= 18})
        letters = await pipeline.replay(info.context.runtime, keys)
        for letter in letters:
            await audit.record(
                actor=actor,
                owner=letter.user_id,  # type: ignore[attr-defined]
                action="dead_letter.replay",
                target_type="dead_letter",
                target_id=letter.id,
                before={"status": "open"},
                after={"status": "replaying"},
            )
        return [DeadLetter.from_model(letter) for letter in letters]

    @strawberry.mutation(permission_classes=[IsAdmin], description="Turn a kill switch on or off.")
    async def set_feature_flag(
        self, info: Info, name: str, enabled: bool
    ) -> Annotated[FeatureFlag | ValidationError, strawberry.union("SetFeatureFlagResult")]:
        flags = info.context.runtime.flags
        try:
            await flag_service.set_flag(flags, require_user(info), name, enabled)
        except ValidationFailed as error:
            return validation_error(error)
        return FeatureFlag(
            name=name,
            enabled=await flags.enabled(name),
            description=DESCRIPTIONS[name],
            forced_by_environment=name in flags.overrides,
        )
