"""The GraphQL schema: Query/Mutation/Subscription assembled from one mixin per feature, and
the extensions that guard it (configured here, in one place)."""

from __future__ import annotations

from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import DisableIntrospection, MaskErrors, SchemaExtension

from api.logs import request_id_var
from api.services.errors import PulseError
from schema.admin import AdminMutation, AdminQuery
from schema.audit import AuditQuery
from schema.events import EventMutation, EventQuery
from schema.imports import CloseUploads, ImportMutation, ImportQuery
from schema.limits import limit_extensions
from schema.outages import DatabaseOutages
from schema.patterns import PatternMutation, PatternQuery
from schema.rate_limits import OperationRateLimit
from schema.sessions import SessionMutation
from schema.subscriptions import Subscription
from schema.users import UserMutation, UserQuery
from schema.workflows import WorkflowMutation, WorkflowQuery


@strawberry.type
class Query(
    UserQuery, EventQuery, ImportQuery, PatternQuery, WorkflowQuery, AuditQuery, AdminQuery
):
    pass


@strawberry.type
class Mutation(
    UserMutation,
    SessionMutation,
    EventMutation,
    ImportMutation,
    WorkflowMutation,
    PatternMutation,
    AdminMutation,
):
    pass


def _should_mask(error: GraphQLError) -> bool:
    # Errors raised by graphql-core itself (syntax, validation) carry no original error and
    # say nothing about our internals; expected domain errors are public by design.
    # Permission classes raise GraphQLErrors on purpose, with their own code.
    original = error.original_error
    return original is not None and not isinstance(original, PulseError | GraphQLError)


class MaskUnexpectedErrors(MaskErrors):
    """Masks unexpected errors as "Unexpected error." plus the request id, so a user's
    report can be matched to the full error that strawberry logged."""

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        masked = super().anonymise_error(error)
        request_id = request_id_var.get()
        masked.extensions = {"code": "INTERNAL_SERVER_ERROR", "requestId": request_id}
        return masked


class PublicErrorCodes(SchemaExtension):
    """Adds `extensions.code` to the expected errors that surface as GraphQL errors, in plain
    results and in every result of a subscription stream."""

    @staticmethod
    def _code(result: Any) -> None:
        for error in getattr(result, "errors", None) or []:
            if isinstance(error.original_error, PulseError):
                error.extensions = {**(error.extensions or {}), "code": error.original_error.code}

    def on_operation(self) -> Any:
        yield
        self._code(self.execution_context.result)

    def on_stream_result(self, result: Any) -> Any:
        self._code(result)
        yield None


def build_schema(*, production: bool) -> strawberry.Schema:
    # Factories, not instances: strawberry builds fresh extensions for every operation.
    extensions: list[Any] = [
        *limit_extensions(),
        OperationRateLimit,
        CloseUploads,
        PublicErrorCodes,
        lambda: MaskUnexpectedErrors(_should_mask),
        # Innermost: sees database errors before they are masked.
        DatabaseOutages,
    ]
    if production:
        extensions.append(DisableIntrospection)
    return strawberry.Schema(
        query=Query, mutation=Mutation, subscription=Subscription, extensions=extensions
    )
