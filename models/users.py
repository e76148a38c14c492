"""Accounts and the tokens that belong to them."""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from tortoise import fields
from tortoise.models import Model


class Role(StrEnum):
    USER = "user"
    ADMIN = "admin"


class TokenPurpose(StrEnum):
    VERIFY_EMAIL = "verify_email"
    RESET_PASSWORD = "reset_password"


class User(Model):
    """A person using Pulse. `email` is stored normalised (lower case), which makes the
    unique constraint case-insensitive."""

    # Never read from the replica (api/resilience/replica.py): no replication lag here.
    read_from_primary: ClassVar[bool] = True

    id = fields.UUIDField(primary_key=True)
    email = fields.CharField(max_length=320, unique=True)
    username = fields.CharField(max_length=64)
    password_hash = fields.CharField(max_length=255)
    role = fields.CharEnumField(Role, max_length=16, default=Role.USER)
    is_verified = fields.BooleanField(default=False)
    is_active = fields.BooleanField(default=True)
    failed_logins = fields.IntField(default=0)
    locked_until = fields.DatetimeField(null=True)
    password_changed_at = fields.DatetimeField(null=True)
    last_login_at = fields.DatetimeField(null=True)
    # The last number given to one of this user's events (events.seq). Taken with this row
    # locked until the events commit, so a user's events are numbered in commit order.
    event_seq = fields.BigIntField(default=0)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "users"


class RefreshToken(Model):
    """One refresh token, stored only as a SHA-256 hash.

    Tokens descended from one login share a `family_id`; presenting a token that was already
    rotated revokes the whole family (RFC 9700 §4.14.2).
    """

    # Never read from the replica (api/resilience/replica.py): no replication lag here.
    read_from_primary: ClassVar[bool] = True

    id = fields.BigIntField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="refresh_tokens", on_delete=fields.CASCADE
    )
    token_hash = fields.CharField(max_length=64, unique=True)
    family_id = fields.UUIDField(db_index=True)
    parent_id = fields.BigIntField(null=True)
    expires_at = fields.DatetimeField()
    rotated_at = fields.DatetimeField(null=True)
    revoked_at = fields.DatetimeField(null=True)
    revoked_reason = fields.CharField(max_length=32, null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "refresh_tokens"


class UserToken(Model):
    """A single-use emailed token (email verification, password reset), stored hashed."""

    # Never read from the replica (api/resilience/replica.py): no replication lag here.
    read_from_primary: ClassVar[bool] = True

    id = fields.BigIntField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="user_tokens", on_delete=fields.CASCADE
    )
    purpose = fields.CharEnumField(TokenPurpose, max_length=32)
    token_hash = fields.CharField(max_length=64, unique=True)
    expires_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "user_tokens"
        indexes = (("user", "purpose"),)
