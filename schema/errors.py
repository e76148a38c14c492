"""Typed error results for mutations (see API.md) and the mapping from service errors."""

from __future__ import annotations

import strawberry

from api.services.errors import AuthFailed, Conflict, NotFound, PulseError, ValidationFailed


@strawberry.interface(description="Every expected failure: a stable `code` and a message.")
class Error:
    code: str
    message: str


@strawberry.type
class ValidationError(Error):
    field: str | None = None


@strawberry.type
class NotFoundError(Error):
    pass


@strawberry.type
class ConflictError(Error):
    pass


@strawberry.type(
    description="INVALID_CREDENTIALS, TOO_MANY_ATTEMPTS, TOKEN_EXPIRED, TOKEN_USED, "
    "TOKEN_INVALID, TOKEN_REUSED, TOKEN_REVOKED"
)
class AuthError(Error):
    pass


def validation_error(error: ValidationFailed) -> ValidationError:
    return ValidationError(code=error.code, message=error.message, field=error.field)


def auth_error(error: AuthFailed) -> AuthError:
    return AuthError(code=error.code, message=error.message)


def not_found_error(error: NotFound) -> NotFoundError:
    return NotFoundError(code=error.code, message=error.message)


def conflict_error(error: Conflict) -> ConflictError:
    return ConflictError(code=error.code, message=error.message)


def as_result(error: PulseError) -> ValidationError | NotFoundError | ConflictError:
    """The typed result for an expected mutation error; others propagate (coded or masked)."""
    if isinstance(error, ValidationFailed):
        return validation_error(error)
    if isinstance(error, NotFound):
        return not_found_error(error)
    if isinstance(error, Conflict):
        return conflict_error(error)
    raise error
