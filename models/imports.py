"""Uploaded files of events and the progress of importing them."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from models.users import User


class ImportStatus(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"


class EventImport(Model):
    """An uploaded file (stored under UPLOAD_DIR) and the counts of importing it."""

    id = fields.UUIDField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="imports", on_delete=fields.CASCADE
    )
    filename = fields.CharField(max_length=255)
    content_type = fields.CharField(max_length=100)
    size_bytes = fields.BigIntField()
    sha256 = fields.CharField(max_length=64)
    storage_path = fields.CharField(max_length=500)
    status = fields.CharEnumField(ImportStatus, max_length=16, default=ImportStatus.PENDING)
    total_rows = fields.IntField(default=0)
    processed_rows = fields.IntField(default=0)
    accepted = fields.IntField(default=0)
    duplicates = fields.IntField(default=0)
    rejected = fields.IntField(default=0)
    error = fields.TextField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    started_at = fields.DatetimeField(null=True)
    finished_at = fields.DatetimeField(null=True)

    class Meta:
        table = "event_imports"
        indexes = (("user", "created_at"),)
