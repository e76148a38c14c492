"""Abuse limits for GraphQL operations, configured in one place.

- depth, aliases and tokens: strawberry's own extensions;
- cost: every field costs 1, and a list field with a `first` argument (Relay connections)
  multiplies the cost of what it selects by its page size (default 50, capped at 100), so
  `workflows(first: 100) { runs(first: 100) { … } }` costs what it could return;
- no "Did you mean …?" in any message: suggestions map the schema for an attacker.
Batched (array) requests are refused by strawberry itself (batching is not enabled).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
)
from strawberry.extensions import (
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)
from strawberry.schema.schema import validate_document

from schema.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE

MAX_DEPTH = 10
MAX_ALIASES = 30
MAX_TOKENS = 2000
MAX_COST = 10_000

_SUGGESTION = re.compile(r"\s*Did you mean [^?]*\?")


def without_suggestions(message: str) -> str:
    return _SUGGESTION.sub("", message)


def _clean(errors: list[GraphQLError] | None) -> None:
    for error in errors or []:
        error.message = without_suggestions(error.message)


class QueryCost:
    """The cost of one operation, given its variables."""

    def __init__(self, fragments: dict[str, FragmentDefinitionNode], variables: dict[str, Any]):
        self.fragments = fragments
        self.variables = variables

    def page_size(self, field: FieldNode) -> int | None:
        for argument in field.arguments or ():
            if argument.name.value != "first":
                continue
            value: Any = None
            if isinstance(argument.value, IntValueNode):
                value = int(argument.value.value)
            elif isinstance(argument.value, VariableNode):
                value = self.variables.get(argument.value.name.value)
            if isinstance(value, int):
                return max(0, min(value, MAX_PAGE_SIZE))
            return DEFAULT_PAGE_SIZE
        # A connection asked for without `first` still returns a default page.
        selections = field.selection_set.selections if field.selection_set else ()
        if any(isinstance(s, FieldNode) and s.name.value == "edges" for s in selections):
            return DEFAULT_PAGE_SIZE
        return None

    def of(self, selection_set: SelectionSetNode | None, seen: frozenset[str] = frozenset()) -> int:
        if selection_set is None:
            return 0
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                inner = self.of(selection.selection_set, seen)
                size = self.page_size(selection)
                total += 1 + (inner * size if size is not None else inner)
            elif isinstance(selection, InlineFragmentNode):
                total += self.of(selection.selection_set, seen)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if fragment is not None and name not in seen:  # cycles are invalid anyway
                    total += self.of(fragment.selection_set, seen | {name})
        return total


class OperationLimits(SchemaExtension):
    """Runs validation itself (with every rule the other extensions added), then the cost
    check, and strips suggestions from every message."""

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if document is not None and context.pre_execution_errors is None:
            errors = validate_document(context.schema._schema, document, context.validation_rules)
            if not errors:
                errors = self._cost_errors()
            _clean(errors)
            context.pre_execution_errors = errors
        yield

    def _cost_errors(self) -> list[GraphQLError]:
        document = self.execution_context.graphql_document
        assert document is not None
        fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        cost = QueryCost(fragments, self.execution_context.variables or {})
        name = self.execution_context.operation_name
        for definition in document.definitions:
            if not isinstance(definition, OperationDefinitionNode):
                continue
            if name is not None and (definition.name is None or definition.name.value != name):
                continue
            total = cost.of(definition.selection_set)
            if total > MAX_COST:
                return [
                    GraphQLError(
                        f"Query too complex: cost {total} exceeds the limit of {MAX_COST}. "
                        "Ask for smaller pages (`first`) or fewer nested lists.",
                        extensions={"code": "QUERY_TOO_COMPLEX", "cost": total, "limit": MAX_COST},
                    )
                ]
        return []

    def on_operation(self) -> Iterator[None]:
        yield
        _clean(getattr(self.execution_context.result, "errors", None))


def limit_extensions() -> list[Any]:
    """The extensions `build_schema` installs, first to last."""
    return [
        lambda: QueryDepthLimiter(max_depth=MAX_DEPTH),
        lambda: MaxAliasesLimiter(max_alias_count=MAX_ALIASES),
        lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
        OperationLimits,
    ]
