"""Users: the `User` type, `me`, admin `users`, and account mutations (register, verify,
password reset and change)."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated
from uuid import UUID

import strawberry

from api.services import users as service
from api.services.errors import AuthFailed, ValidationFailed
from models.users import Role as RoleValue
from models.users import User as UserModel
from schema.context import Info
from schema.errors import AuthError, ValidationError, auth_error, validation_error
from schema.pagination import Connection, paginate
from schema.permissions import IsAdmin, IsAuthenticated, require_user


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


@strawberry.input
class RegisterInput:
    email: str
    username: str
    password: str


RegisterResult = Annotated[User | ValidationError, strawberry.union("RegisterResult")]
VerifyEmailResult = Annotated[User | AuthError, strawberry.union("VerifyEmailResult")]
ResetPasswordResult = Annotated[
    User | AuthError | ValidationError, strawberry.union("ResetPasswordResult")
]


@strawberry.type
class UserQuery:
    @strawberry.field(description="The signed-in user, or null when anonymous.")
    def me(self, info: Info) -> User | None:
        user = info.context.user
        return User.from_model(user) if user is not None else None

    @strawberry.field(permission_classes=[IsAdmin], description="Admin only: every account.")
    async def users(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[User]:
        return await paginate(
            UserModel.all(),
            keys=("created_at", "id"),
            key_types=(datetime, UUID),
            first=first,
            after=after,
            to_node=User.from_model,
        )


@strawberry.type
class UserMutation:
    @strawberry.mutation
    async def register(self, info: Info, input: RegisterInput) -> RegisterResult:
        try:
            user = await service.register(
                info.context.runtime,
                email=input.email,
                username=input.username,
                password=input.password,
                client_ip=info.context.client_ip,
            )
        except ValidationFailed as error:
            return validation_error(error)
        return User.from_model(user)

    @strawberry.mutation
    async def verify_email(self, info: Info, token: str) -> VerifyEmailResult:
        try:
            return User.from_model(await service.verify_email(token))
        except (AuthFailed, ValidationFailed) as error:
            return _token_error(error)

    @strawberry.mutation(description="Always true: says nothing about which emails exist.")
    async def resend_verification(self, info: Info, email: str) -> bool:
        try:
            await service.resend_verification(info.context.runtime, email, info.context.client_ip)
        except ValidationFailed:
            pass  # a malformed address has no account either
        return True

    @strawberry.mutation(description="Always true: says nothing about which emails exist.")
    async def request_password_reset(self, info: Info, email: str) -> bool:
        try:
            await service.request_password_reset(
                info.context.runtime, email, info.context.client_ip
            )
        except ValidationFailed:
            pass
        return True

    @strawberry.mutation
    async def reset_password(
        self, info: Info, token: str, new_password: str
    ) -> ResetPasswordResult:
        try:
            return User.from_model(await service.reset_password(token, new_password))
        except AuthFailed as error:
            return auth_error(error)
        except ValidationFailed as error:
            return validation_error(error) if error.field != "token" else _token_error(error)

    @strawberry.mutation(permission_classes=[IsAuthenticated])
    async def change_password(
        self, info: Info, current_password: str, new_password: str
    ) -> ResetPasswordResult:
        try:
            user = await service.change_password(require_user(info), current_password, new_password)
        except AuthFailed as error:
            return auth_error(error)
        except ValidationFailed as error:
            return validation_error(error)
        return User.from_model(user)


def _token_error(error: AuthFailed | ValidationFailed) -> AuthError:
    if isinstance(error, AuthFailed):
        return auth_error(error)
    return AuthError(code="TOKEN_INVALID", message="This link is not valid; request a new one.")
