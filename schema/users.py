"""Users: the `User` type and the `me` query."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry

from models.users import Role as RoleValue
from models.users import User as UserModel
from schema.context import Info


@strawberry.enum
class Role(Enum):
    USER = RoleValue.USER.value
    ADMIN = RoleValue.ADMIN.value


@strawberry.type
class User:
    id: strawberry.ID
    email: str
    username: str
    is_verified: bool
    role: Role
    created_at: datetime

    @classmethod
    def from_model(cls, user: UserModel) -> User:
        return cls(
            id=strawberry.ID(str(user.id)),
            email=user.email,
            username=user.username,
            is_verified=user.is_verified,
            role=Role(user.role.value),
            created_at=user.created_at,
        )


@strawberry.type
class UserQuery:
    @strawberry.field(description="The signed-in user, or null when anonymous.")
    def me(self, info: Info) -> User | None:
        user = info.context.user
        return User.from_model(user) if user is not None else None
