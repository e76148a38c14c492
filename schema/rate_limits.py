"""Charges each operation's cost against the caller's rate limit before it runs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from api.services.errors import RateLimited


class OperationRateLimit(SchemaExtension):
    """Runs after QueryCostLimiter has priced the operation, in the same validation step,
    so an over-limit operation never executes (429 + Retry-After via schema/outages.py)."""

    async def on_validate(self) -> AsyncIterator[None]:
        context = self.execution_context
        ctx: Any = context.context
        runtime = getattr(ctx, "runtime", None)
        if context.pre_execution_errors is None and runtime is not None:
            user = getattr(ctx, "user", None)
            identity = str(user.id) if user is not None else f"ip:{ctx.client_ip}"
            try:
                await runtime.operations.charge(identity, user is not None, ctx.cost)
            except RateLimited as limited:
                context.pre_execution_errors = [
                    GraphQLError(limited.message, original_error=limited)
                ]
        yield
