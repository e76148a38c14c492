"""Patterns found in a user's events, and the workflows they suggest."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from models.users import User
    from models.workflows import Workflow


class PatternKind(StrEnum):
    HOUR_OF_DAY = "hour_of_day"
    DAY_OF_WEEK = "day_of_week"
    SEQUENCE = "sequence"
    TIME_OF_DAY = "time_of_day"


class Pattern(Model):
    """A regularity in one user's events. `signature` identifies it across analysis runs."""

    id = fields.UUIDField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="patterns", on_delete=fields.CASCADE
    )
    kind = fields.CharEnumField(PatternKind, max_length=32)
    signature = fields.CharField(max_length=255)
    description = fields.TextField()
    details: dict[str, Any] = fields.JSONField(default=dict)
    count = fields.IntField(default=0)
    confidence = fields.FloatField(default=0.0)
    first_seen = fields.DatetimeField()
    last_seen = fields.DatetimeField()
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "patterns"
        unique_together = (("user", "signature"),)


class SuggestionStatus(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    DISMISSED = "dismissed"


class Suggestion(Model):
    """A proposed workflow for a pattern. One per pattern, so a dismissed one stays dismissed."""

    id = fields.UUIDField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="suggestions", on_delete=fields.CASCADE
    )
    pattern: fields.ForeignKeyRelation[Pattern] = fields.ForeignKeyField(
        "models.Pattern", related_name="suggestions", on_delete=fields.CASCADE
    )
    status = fields.CharEnumField(SuggestionStatus, max_length=16, default=SuggestionStatus.PENDING)
    title = fields.CharField(max_length=200)
    description = fields.TextField()
    # {"name", "schedule", "timezone", "steps": [{"connector", "config"}]}
    proposed_workflow: dict[str, Any] = fields.JSONField()
    workflow: fields.ForeignKeyNullableRelation[Workflow] = fields.ForeignKeyField(
        "models.Workflow", related_name="suggestions", null=True, on_delete=fields.SET_NULL
    )
    created_at = fields.DatetimeField(auto_now_add=True)
    decided_at = fields.DatetimeField(null=True)

    class Meta:
        table = "suggestions"
        unique_together = (("user", "pattern"),)
        indexes = (("user", "status", "created_at"),)
