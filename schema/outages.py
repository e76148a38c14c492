"""HTTP status for operations that fail as a whole: a database outage seen by a resolver
becomes `SERVICE_UNAVAILABLE` (503 with Retry-After, reported to the circuit breaker)
instead of a masked internal error; a `RATE_LIMITED` error answers 429 with Retry-After.
Clients can then retry on the status alone, as they would with any HTTP API."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from api.resilience.breaker import is_connection_error
from api.services.errors import RateLimited, ServiceUnavailable

MESSAGE = "The database is unavailable; retry shortly."


def _set_status(context: Any, status: int, retry_after: int) -> None:
    response = getattr(context, "response", None)
    if response is not None and hasattr(response, "status_code"):
        response.status_code = status
        response.headers["Retry-After"] = str(retry_after)


class DatabaseOutages(SchemaExtension):
    """Listed last among the extensions, so it sees the original errors before masking."""

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        errors = getattr(result, "errors", None)
        if not errors:
            return
        context: Any = self.execution_context.context
        if any(is_connection_error(e.original_error) for e in errors):
            self._outage(result, errors, context)
            return
        for error in errors:
            original = error.original_error
            if isinstance(original, RateLimited):
                _set_status(context, 429, original.retry_after)
                return
            if isinstance(original, ServiceUnavailable):
                _set_status(context, 503, original.retry_after)
                return

    @staticmethod
    def _outage(result: Any, errors: list[GraphQLError], context: Any) -> None:
        retry_after = 5
        runtime = getattr(context, "runtime", None)
        if runtime is not None:
            runtime.breaker.record_failure()
            retry_after = runtime.breaker.retry_after()
        request = getattr(context, "request", None)
        if request is not None:
            request.scope.setdefault("state", {})["db_failed"] = True
        _set_status(context, 503, retry_after)
        unavailable = ServiceUnavailable(MESSAGE, retry_after)
        result.errors = [
            GraphQLError(MESSAGE, nodes=e.nodes, path=e.path, original_error=unavailable)
            if is_connection_error(e.original_error)
            else e
            for e in errors
        ]
