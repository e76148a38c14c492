"""Feature flags: kill switches an admin can flip without a deploy."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from models.users import User


class FeatureFlag(Model):
    name = fields.CharField(max_length=64, primary_key=True)
    enabled = fields.BooleanField(default=True)
    description = fields.TextField(default="")
    updated_by: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="flag_changes", null=True, on_delete=fields.SET_NULL
    )
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "feature_flags"
