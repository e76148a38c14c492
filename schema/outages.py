"""Database outages seen by resolvers become `SERVICE_UNAVAILABLE` (HTTP 503 with
Retry-After) instead of masked internal errors, and are reported to the circuit breaker."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from api.resilience.breaker import is_connection_error
from api.services.errors import ServiceUnavailable

MESSAGE = "The database is unavailable; retry shortly."


class DatabaseOutages(SchemaExtension):
    """Listed last among the extensions, so it sees the original errors before masking."""

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        errors = getattr(result, "errors", None)
        if not errors or not any(is_connection_error(e.original_error) for e in errors):
            return
        context: Any = self.execution_context.context
        retry_after = 5
        runtime = getattr(context, "runtime", None)
        if runtime is not None:
            runtime.breaker.record_failure()
            retry_after = runtime.breaker.retry_after()
        request = getattr(context, "request", None)
        if request is not None:
            request.scope.setdefault("state", {})["db_failed"] = True
        response = getattr(context, "response", None)
        if response is not None and hasattr(response, "status_code"):
            response.status_code = 503
            response.headers["Retry-After"] = str(retry_after)
        unavailable = ServiceUnavailable(MESSAGE, retry_after)
        result.errors = [  # type: ignore[union-attr]
            GraphQLError(MESSAGE, nodes=e.nodes, path=e.path, original_error=unavailable)
            if is_connection_error(e.original_error)
            else e
            for e in errors
        ]
