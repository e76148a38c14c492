"""Sessions: `login`, `refreshToken`, `logout`."""

from __future__ import annotations

from typing import Annotated

import strawberry

from api.services import sessions as service
from api.services.errors import AuthFailed, ValidationFailed
from schema.context import Info
from schema.errors import AuthError, ValidationError, auth_error, validation_error
from schema.users import User


@strawberry.type
class AuthPayload:
    access_token: str
    refresh_token: str
    expires_in: int = strawberry.field(description="Seconds until the access token expires.")
    user: User

    @classmethod
    def from_pair(cls, pair: service.TokenPair) -> AuthPayload:
        return cls(
            access_token=pair.access_token,
            refresh_token=pair.refresh_token,
            expires_in=pair.expires_in,
            user=User.from_model(pair.user),
        )


AuthResult = Annotated[AuthPayload | AuthError | ValidationError, strawberry.union("AuthResult")]


@strawberry.type
class SessionMutation:
    @strawberry.mutation
    async def login(self, info: Info, email: str, password: str) -> AuthResult:
        try:
            pair = await service.login(
                info.context.runtime,
                email=email,
                password=password,
                client_ip=info.context.client_ip,
            )
        except AuthFailed as error:
            return auth_error(error)
        except ValidationFailed as error:
            return validation_error(error)
        return AuthPayload.from_pair(pair)

    @strawberry.mutation
    async def refresh_token(self, info: Info, token: str) -> AuthResult:
        try:
            return AuthPayload.from_pair(await service.refresh(info.context.runtime, token))
        except AuthFailed as error:
            return auth_error(error)
        except ValidationFailed as error:
            return validation_error(error)

    @strawberry.mutation(description="Signs out every session descended from this login.")
    async def logout(self, info: Info, refresh_token: str) -> bool:
        try:
            return await service.logout(refresh_token)
        except ValidationFailed:
            return False
