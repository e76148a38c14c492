"""Live updates over `graphql-transport-ws`: `eventRecorded`, `workflowRunUpdated`,
`suggestionCreated`, `importProgress`. A subscriber only ever receives its own data: channel
names are built here from the authenticated user's id, never from client input."""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator
from datetime import datetime
from typing import Any

import strawberry
from tortoise import connections

from api.realtime import RESYNC, Broker
from api.resilience import flags
from api.services.analysis import SUGGESTIONS_TOPIC
from api.services.errors import NotFound, ServiceUnavailable
from api.services.events import EVENTS_TOPIC
from api.services.execution import RUNS_TOPIC
from api.services.imports import FINISHED as IMPORT_FINISHED
from api.services.imports import IMPORTS_TOPIC
from api.services.imports import view as import_view
from api.services.pubsub import channel
from models.events import Event as EventModel
from models.imports import EventImport as EventImportModel
from models.imports import ImportStatus as ImportStatusValue
from models.patterns import Suggestion as SuggestionModel
from models.users import User
from models.workflows import Workflow as WorkflowModel
from schema.context import Info
from schema.events import Event, EventFilter
from schema.imports import EventImport
from schema.pagination import decode_cursor
from schema.patterns import Suggestion
from schema.permissions import require_user
from schema.workflows import RunStatus, WorkflowRun

CATCH_UP_PAGE = 500


def _broker(info: Info) -> Broker:
    broker = info.context.broker
    if broker is None:
        raise ServiceUnavailable("Live updates are not available on this instance.")
    return broker


def _matches(event: dict[str, Any], wanted: EventFilter | None) -> bool:
    if wanted is None:
        return True
    if wanted.kinds is not None and event["kind"] not in wanted.kinds:
        return False
    if wanted.sources is not None and event["source"] not in wanted.sources:
        return False
    occurred = datetime.fromisoformat(event["occurred_at"])
    if wanted.since is not None and occurred < wanted.since:
        return False
    return wanted.until is None or occurred < wanted.until


def _event(message: dict[str, Any]) -> Event:
    return Event(
        id=strawberry.ID(str(message["id"])),
        kind=message["kind"],
        source=message["source"],
        occurred_at=datetime.fromisoformat(message["occurred_at"]),
        duration_ms=message["duration_ms"],
        data=message["data"],
        client_id=message["client_id"],
        created_at=datetime.fromisoformat(message["created_at"]),
        user_id=uuid.UUID(message["user_id"]),
    )


async def _stored_after(user: User, last_seq: int) -> list[dict[str, Any]]:
    """The user's events numbered after `last_seq`, in order: from the primary, where a
    replica's lag would look like nothing was missed."""
    from api.services.events import message

    rows = (
        await EventModel.filter(user=user, seq__gt=last_seq)
        .order_by("seq")
        .limit(CATCH_UP_PAGE)
        .using_db(connections.get("default"))
    )
    return [message(row) for row in rows]


async def _seq_up_to(user: User, event_id: int | None) -> int:
    """The number of the user's newest event (with an id up to `event_id`, if given)."""
    query = EventModel.filter(user=user, seq__isnull=False)
    if event_id is not None:
        query = query.filter(id__lte=event_id)
    newest = await query.order_by("-seq").using_db(connections.get("default")).first()
    return newest.seq if newest is not None and newest.seq is not None else 0


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="Your new events as they are recorded. Pass the `cursor` of the last "
        "event you saw as `after` to first receive what you missed: no duplicates, no gap."
    )
    async def event_recorded(
        self, info: Info, filter: EventFilter | None = None, after: str | None = None
    ) -> AsyncGenerator[Event, None]:
        user = require_user(info)
        await info.context.runtime.flags.require(flags.SUBSCRIPTIONS)
        start_after = decode_cursor(after, (datetime, int))[1] if after else None
        async with _broker(info).subscribe(channel(user.id, EVENTS_TOPIC)) as queue:
            # Subscribed first, then read the database: whatever is committed after this
            # point arrives through the channel, whatever before through the query. Events
            # are followed by their per-user number (`seq`), which follows commit order: a
            # live message that skips numbers means something committed earlier has not
            # arrived (publishes may overtake each other), so the database fills the gap.
            last = await _seq_up_to(user, start_after)
            pending = await _stored_after(user, last) if start_after is not None else []
            from_database = True
            while True:
                gap = False
                for item in pending:
                    seq = item.get("seq")
                    if seq is None or seq <= last:
                        continue  # already sent (or not numbered: nothing to order it by)
                    if not from_database and seq != last + 1:
                        gap = True
                        break
                    last = seq
                    if _matches(item, filter):
                        yield _event(item)
                if gap or (from_database and len(pending) == CATCH_UP_PAGE):
                    pending, from_database = await _stored_after(user, last), True
                    continue
                received = await queue.get()
                if received is RESYNC:
                    pending, from_database = await _stored_after(user, last), True
                else:
                    pending, from_database = list(received.get("events", [])), False

    @strawberry.subscription(description="Status changes of your workflow runs.")
    async def workflow_run_updated(
        self, info: Info, workflow_id: strawberry.ID | None = None
    ) -> AsyncGenerator[WorkflowRun, None]:
        user = require_user(info)
        await info.context.runtime.flags.require(flags.SUBSCRIPTIONS)
        wanted: str | None = None
        if workflow_id is not None:
            try:
                key = uuid.UUID(str(workflow_id))
            except ValueError:
                raise NotFound("Workflow not found.") from None
            if not await WorkflowModel.exists(id=key, user=user):
                raise NotFound("Workflow not found.")
            wanted = str(key)
        async with _broker(info).subscribe(channel(user.id, RUNS_TOPIC)) as queue:
            while True:
                item = await queue.get()
                if item is RESYNC or (wanted and item["workflow_id"] != wanted):
                    continue
                yield WorkflowRun(
                    id=strawberry.ID(item["id"]),
                    status=RunStatus(item["status"]),
                    trigger=item["trigger"],
                    scheduled_for=_time(item["scheduled_for"]),
                    started_at=_time(item["started_at"]),
                    finished_at=_time(item["finished_at"]),
                    error=item["error"],
                    cancel_requested=bool(item.get("cancel_requested")),
                    created_at=_time(item["created_at"]) or datetime.now(),
                    workflow_id=strawberry.ID(item["workflow_id"]),
                )

    @strawberry.subscription(description="New suggestions made for you.")
    async def suggestion_created(self, info: Info) -> AsyncGenerator[Suggestion, None]:
        user = require_user(info)
        await info.context.runtime.flags.require(flags.SUBSCRIPTIONS)
        async with _broker(info).subscribe(channel(user.id, SUGGESTIONS_TOPIC)) as queue:
            while True:
                item = await queue.get()
                if item is RESYNC:
                    continue
                row = await SuggestionModel.get_or_none(id=item["id"], user=user)
                if row is not None:
                    yield Suggestion.from_model(row)

    @strawberry.subscription(
        description="The progress of one of your imports: its current state first, then "
        "each committed batch; the stream completes once the import is COMPLETED or FAILED."
    )
    async def import_progress(
        self, info: Info, import_id: strawberry.ID
    ) -> AsyncGenerator[EventImport, None]:
        user = require_user(info)
        await info.context.runtime.flags.require(flags.SUBSCRIPTIONS)
        try:
            key = uuid.UUID(str(import_id))
        except ValueError:
            raise NotFound("Import not found.") from None
        if not await EventImportModel.exists(id=key, user=user):
            raise NotFound("Import not found.")
        async with _broker(info).subscribe(channel(user.id, IMPORTS_TOPIC)) as queue:
            # Subscribed first, then read the row: no update can fall in between.
            row = await EventImportModel.get_or_none(id=key, user=user)
            if row is None:
                raise NotFound("Import not found.")
            storage_path = row.storage_path
            current = import_view(row)
            yield EventImport.from_view(current, storage_path)
            while current["status"] not in IMPORT_FINISHED:
                item = await queue.get()
                if item is RESYNC:
                    row = await EventImportModel.get_or_none(id=key, user=user)
                    if row is None:
                        raise NotFound("Import not found.")
                    item = import_view(row)
                elif item.get("id") != str(key):
                    continue
                # Updates published before the first read may still arrive: only newer
                # states go out.
                if _import_rank(item) > _import_rank(current):
                    current = item
                    yield EventImport.from_view(current, storage_path)


_IMPORT_STAGE = {
    ImportStatusValue.PENDING: 0,
    ImportStatusValue.PROCESSING: 1,
    ImportStatusValue.COMPLETED: 2,
    ImportStatusValue.FAILED: 2,
}


def _import_rank(view: dict[str, Any]) -> tuple[int, int]:
    return _IMPORT_STAGE[ImportStatusValue(view["status"])], int(view["processed_rows"])


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None
