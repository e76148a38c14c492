"""Permission classes and the owner check every resolver of user-owned data uses."""

from __future__ import annotations

from typing import Any, Protocol, TypeVar

from strawberry.permission import BasePermission

from api.services.errors import NotFound, Unauthenticated
from models.users import Role, User
from schema.context import Info


class IsAuthenticated(BasePermission):
    message = "Sign in to do this."
    error_extensions = {"code": "UNAUTHENTICATED"}

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        return info.context.user is not None


class IsAdmin(BasePermission):
    message = "Only administrators can do this."
    error_extensions = {"code": "FORBIDDEN"}

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        user = info.context.user
        return user is not None and user.role == Role.ADMIN


def require_user(info: Info) -> User:
    user = info.context.user
    if user is None:
        raise Unauthenticated("Sign in to do this.")
    return user


class Owned(Protocol):
    user_id: Any


OwnedT = TypeVar("OwnedT", bound=Owned)


def require_owner(info: Info, obj: OwnedT | None, what: str = "Object") -> OwnedT:
    """`obj` when the caller owns it. Someone else's object answers exactly like a missing
    one, so ids of other users' data cannot be probed."""
    user = require_user(info)
    if obj is None or obj.user_id != user.id:
        raise NotFound(f"{what} not found.")
    return obj
