"""Events: the `Event` type, `events`/`event` queries, `recordEvent(s)` mutations."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from uuid import UUID

import strawberry
from strawberry.scalars import JSON

from api.services import events as service
from models.events import Event as EventModel
from schema.context import Info
from schema.pagination import Connection, encode_cursor, paginate
from schema.permissions import IsAuthenticated, require_user
from schema.users import User


@strawberry.type
class Event:
    id: strawberry.ID
    kind: str
    source: str
    occurred_at: datetime
    duration_ms: int | None
    data: JSON | None
    client_id: str | None
    created_at: datetime
    user_id: strawberry.Private[UUID]

    @strawberry.field(
        description="Opaque position of this event: `events(after:)` and "
        "`eventRecorded(after:)` continue from it."
    )
    def cursor(self) -> str:
        return encode_cursor([self.occurred_at, int(self.id)])

    @strawberry.field
    async def user(self, info: Info) -> User:
        user = await info.context.loaders.user.load(self.user_id)
        assert user is not None  # events cascade with their user
        return User.from_model(user)

    @classmethod
    def from_model(cls, event: EventModel) -> Event:
        return cls(
            id=strawberry.ID(str(event.id)),
            kind=event.kind,
            source=event.source,
            occurred_at=event.occurred_at,
            duration_ms=event.duration_ms,
            data=event.data,
            client_id=event.client_id,
            created_at=event.created_at,
            user_id=event.user_id,  # type: ignore[attr-defined]
        )


@strawberry.input
class EventInput:
    kind: str
    source: str
    occurred_at: datetime
    duration_ms: int | None = None
    data: JSON | None = None
    client_id: str | None = None


@strawberry.input
class EventFilter:
    kinds: list[str] | None = None
    sources: list[str] | None = None
    since: datetime | None = None
    until: datetime | None = None


@strawberry.enum
class IngestStatus(Enum):
    ACCEPTED = "ACCEPTED"
    DUPLICATE = "DUPLICATE"
    REJECTED = "REJECTED"


@strawberry.type
class EventIngestResult:
    index: int
    status: IngestStatus
    event: Event | None
    reason: str | None = strawberry.field(
        description="Why an item was REJECTED: INVALID_KIND, INVALID_SOURCE, "
        "OCCURRED_IN_FUTURE, OCCURRED_TOO_LONG_AGO, INVALID_DURATION, INVALID_DATA, "
        "DATA_TOO_LARGE, INVALID_CLIENT_ID."
    )


@strawberry.type
class RecordEventsPayload:
    accepted: int
    duplicates: int
    rejected: int
    results: list[EventIngestResult]


MAX_FILTER_VALUES = 50


@strawberry.type
class EventQuery:
    @strawberry.field(permission_classes=[IsAuthenticated])
    async def events(
        self,
        info: Info,
        filter: EventFilter | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[Event]:
        """Your events, oldest first by (occurredAt, id); cursors stay valid as events arrive."""
        query = EventModel.filter(user=require_user(info))
        if filter is not None:
            for name, values in (("kind", filter.kinds), ("source", filter.sources)):
                if values is not None:
                    query = query.filter(**{f"{name}__in": values[:MAX_FILTER_VALUES]})
            if filter.since is not None:
                query = query.filter(occurred_at__gte=filter.since)
            if filter.until is not None:
                query = query.filter(occurred_at__lt=filter.until)
        return await paginate(
            query,
            keys=("occurred_at", "id"),
            key_types=(datetime, int),
            first=first,
            after=after,
            to_node=Event.from_model,
        )

    @strawberry.field(permission_classes=[IsAuthenticated])
    async def event(self, info: Info, id: strawberry.ID) -> Event | None:
        """One of your events; null when missing or not yours."""
        if not str(id).isdigit() or len(str(id)) > 19:
            return None
        event = await EventModel.get_or_none(id=int(id), user=require_user(info))
        return Event.from_model(event) if event is not None else None


def _draft(item: EventInput) -> service.EventDraft:
    return service.EventDraft(
        kind=item.kind,
        source=item.source,
        occurred_at=item.occurred_at,
        duration_ms=item.duration_ms,
        data=item.data,
        client_id=item.client_id,
    )


def _payload(results: list[service.IngestResult]) -> RecordEventsPayload:
    counts = {status: 0 for status in service.IngestStatus}
    out = []
    for result in results:
        counts[result.status] += 1
        out.append(
            EventIngestResult(
                index=result.index,
                status=IngestStatus(result.status.value),
                event=Event.from_model(result.event) if result.event is not None else None,
                reason=result.reason.value if result.reason is not None else None,
            )
        )
    return RecordEventsPayload(
        accepted=counts[service.IngestStatus.ACCEPTED],
        duplicates=counts[service.IngestStatus.DUPLICATE],
        rejected=counts[service.IngestStatus.REJECTED],
        results=out,
    )


@strawberry.type
class EventMutation:
    @strawberry.mutation(permission_classes=[IsAuthenticated])
    async def record_event(self, info: Info, input: EventInput) -> RecordEventsPayload:
        return _payload(
            await service.record_events(info.context.runtime, require_user(info), [_draft(input)])
        )

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description=f"Up to {service.MAX_BATCH} events; one result per item, in input order.",
    )
    async def record_events(self, info: Info, inputs: list[EventInput]) -> RecordEventsPayload:
        drafts = [_draft(item) for item in inputs]
        return _payload(
            await service.record_events(info.context.runtime, require_user(info), drafts)
        )
