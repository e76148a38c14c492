"""The one error tree of the domain. Services raise these; `schema/errors.py` turns the
expected ones into typed GraphQL results with a stable `code`; anything else is masked.

    PulseError                    code
    ├── ValidationFailed          VALIDATION        (bad input; `field` names it)
    ├── NotFound                  NOT_FOUND         (also: exists but belongs to someone else)
    ├── Forbidden                 FORBIDDEN
    ├── Conflict                  CONFLICT
    ├── Unauthenticated           UNAUTHENTICATED
    ├── AuthFailed                INVALID_CREDENTIALS, TOKEN_EXPIRED, TOKEN_USED, …
    ├── RateLimited               RATE_LIMITED      (`retry_after` seconds)
    ├── ServiceUnavailable        SERVICE_UNAVAILABLE (`retry_after` seconds)
    └── FeatureDisabled           FEATURE_DISABLED
"""

from __future__ import annotations


class PulseError(Exception):
    """Base of every expected failure; `code` is part of the public contract."""

    code = "ERROR"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ValidationFailed(PulseError):
    code = "VALIDATION"

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class NotFound(PulseError):
    code = "NOT_FOUND"


class Forbidden(PulseError):
    code = "FORBIDDEN"


class Conflict(PulseError):
    code = "CONFLICT"


class Unauthenticated(PulseError):
    code = "UNAUTHENTICATED"


class AuthFailed(PulseError):
    """An authentication step failed; `code` tells the client which (see API.md AuthError)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class RateLimited(PulseError):
    code = "RATE_LIMITED"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ServiceUnavailable(PulseError):
    code = "SERVICE_UNAVAILABLE"

    def __init__(self, message: str, retry_after: int = 5) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class FeatureDisabled(PulseError):
    code = "FEATURE_DISABLED"
