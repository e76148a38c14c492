"""Activity events, their per-user aggregates and the dead letters of the event pipeline."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from models.imports import EventImport
    from models.users import User


class Event(Model):
    """One thing a collector saw. `client_id` makes retries from a collector idempotent.

    `dispatched_at` is set once the event was handed to a pipeline job and `processed_at` once
    that job finished with it; the sweeper re-dispatches rows that have neither.
    """

    id = fields.BigIntField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="events", on_delete=fields.CASCADE
    )
    kind = fields.CharField(max_length=64)
    source = fields.CharField(max_length=64)
    occurred_at = fields.DatetimeField()
    duration_ms = fields.IntField(null=True)
    data: Any = fields.JSONField(null=True)
    client_id = fields.CharField(max_length=128, null=True)
    # This user's number for the event, ascending in commit order with no gaps but for
    # duplicates (api/services/events.py): a live subscriber that sees a jump knows it
    # missed something. Null only for rows written outside ingestion.
    seq = fields.BigIntField(null=True)
    import_job: fields.ForeignKeyNullableRelation[EventImport] = fields.ForeignKeyField(
        "models.EventImport", related_name="events", null=True, on_delete=fields.SET_NULL
    )
    dispatched_at = fields.DatetimeField(null=True)
    processed_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "events"
        unique_together = (("user", "client_id"), ("user", "seq"))
        indexes = (("user", "occurred_at", "id"), ("processed_at", "created_at"))


class EventStat(Model):
    """Rolling per-user aggregate: events per day, kind and source."""

    id = fields.BigIntField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="event_stats", on_delete=fields.CASCADE
    )
    day = fields.DateField()
    kind = fields.CharField(max_length=64)
    source = fields.CharField(max_length=64)
    count = fields.IntField(default=0)
    total_duration_ms = fields.BigIntField(default=0)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "event_stats"
        unique_together = (("user", "day", "kind", "source"),)


class DeadLetterStatus(StrEnum):
    OPEN = "open"
    REPLAYING = "replaying"
    RESOLVED = "resolved"
    DISCARDED = "discarded"


class FailedEvent(Model):
    """A dead letter: an event the pipeline gave up on, kept with its history for replay."""

    id = fields.BigIntField(primary_key=True)
    event: fields.ForeignKeyNullableRelation[Event] = fields.ForeignKeyField(
        "models.Event", related_name="failures", null=True, on_delete=fields.SET_NULL
    )
    user: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="failed_events", null=True, on_delete=fields.CASCADE
    )
    payload: dict[str, Any] = fields.JSONField()
    error = fields.TextField()
    attempts = fields.IntField(default=0)
    status = fields.CharEnumField(DeadLetterStatus, max_length=16, default=DeadLetterStatus.OPEN)
    # Earlier failures of the same item: [{"error", "attempts", "failed_at"}, …]
    history: list[dict[str, Any]] = fields.JSONField(default=list)
    first_failed_at = fields.DatetimeField()
    last_failed_at = fields.DatetimeField()
    replayed_at = fields.DatetimeField(null=True)
    resolved_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "failed_events"
        indexes = (("status", "created_at"),)
