"""Abuse limits for GraphQL operations, configured in one place.

- depth (10), aliases (30) and tokens (2000): strawberry's own extensions;
- cost (10,000): every field costs 1, and a field with a `first` argument (our Relay
  connections) multiplies the cost of what it selects by its page size (default 50, capped at
  100), so `workflows(first: 100) { … runs(first: 100) { … } }` costs what it could return;
- shape: at most 5,000 selections and 50 levels once fragments are expanded, no fragment
  cycles, no unknown fragments. These are checked *before* validation, because strawberry's
  depth and alias rules expand every fragment spread without memoising: a few hundred bytes
  of fragments that spread each other twice (or a cycle of a dozen fragments) would keep them
  busy for hours on the event loop, and a long chain of fragments overflows their recursion;
- no "Did you mean …?" in any message: suggestions map the schema for an attacker.

Batched (array) requests are refused by strawberry itself (batching is not enabled), and
mutations over GET by its HTTP view.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FloatValueNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLArgument,
    GraphQLError,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValueNode,
    VariableNode,
    get_named_type,
)
from strawberry.extensions import (
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)
from strawberry.types import StreamExecutionResult

from schema.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE

MAX_DEPTH = 10
MAX_ALIASES = 30
MAX_TOKENS = 2000
# The existing nested reads stay under it (50 workflows × 50 runs with an id each costs 7,701);
# 100 × 100 of anything is refused.
MAX_COST = 10_000
# Bounds on the work of every validation rule, whatever the pages asked for (`first: 0` makes
# a subtree free, not cheap to validate). GraphiQL's introspection query needs 230 and 18.
MAX_SELECTIONS = 5_000
MAX_NESTING = 50

TOO_COMPLEX = "QUERY_TOO_COMPLEX"

_SUGGESTION = re.compile(r"\s*Did you mean [^?]*\?")


def without_suggestions(message: str) -> str:
    """`message` without graphql-core's "Did you mean 'x', 'y' or 'z'?" hints."""
    return _SUGGESTION.sub("", message)


@dataclass(frozen=True)
class Weight:
    """What a selection set asks for, fragments expanded: `cost` (pages multiplied in),
    `selections` (fields, spreads and inline fragments) and `height` (levels of them)."""

    cost: int = 0
    selections: int = 0
    height: int = 0


class _Refused(Exception):
    def __init__(self, error: GraphQLError) -> None:
        self.error = error


def _too_complex(message: str, **details: int) -> _Refused:
    return _Refused(GraphQLError(message, extensions={"code": TOO_COMPLEX, **details}))


class OperationWeigher:
    """Weighs the operations of one document. Each fragment is weighed once (memoised), so
    the work is linear in the document however often fragments spread each other."""

    def __init__(
        self, schema: GraphQLSchema, document: DocumentNode, variables: Mapping[str, Any]
    ) -> None:
        self.schema = schema
        self.variables = variables
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self._defaults: dict[str, ValueNode] = {}
        self._memo: dict[str, Weight] = {}
        self._expanding: set[str] = set()

    def operation(self, operation: OperationDefinitionNode) -> Weight:
        """The weight of `operation`; `_Refused` for cycles, unknown fragments and nesting
        beyond `MAX_NESTING` (found without recursing further than that)."""
        # Variable defaults belong to the operation, and fragments read them: weigh afresh.
        self._defaults = {
            d.variable.name.value: d.default_value
            for d in operation.variable_definitions or ()
            if d.default_value is not None
        }
        self._memo = {}
        root = self.schema.get_root_type(operation.operation)
        weight = self._selection_set(operation.selection_set, root, 1)
        # The walk stops at MAX_NESTING, but memoised fragments stack up without recursing:
        # spreads ordered from the bottom of a chain up build any height one level at a time.
        if weight.height > MAX_NESTING:
            raise self._too_deep()
        return weight

    @staticmethod
    def _too_deep() -> _Refused:
        return _too_complex(
            f"Query too complex: nested more than {MAX_NESTING} levels deep (fragments included).",
            limit=MAX_NESTING,
        )

    def _selection_set(
        self, selection_set: SelectionSetNode | None, parent: GraphQLNamedType | None, level: int
    ) -> Weight:
        if selection_set is None:
            return Weight()
        if level > MAX_NESTING:
            raise self._too_deep()
        cost = selections = height = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                definition = _field(parent, selection.name.value)
                child = get_named_type(definition.type) if definition is not None else None
                inner = self._selection_set(selection.selection_set, child, level + 1)
                page = self._page_size(selection, definition)
                cost += 1 + inner.cost * (1 if page is None else page)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                child = self.schema.get_type(condition.name.value) if condition else parent
                inner = self._selection_set(selection.selection_set, child, level + 1)
                cost += inner.cost
            else:
                assert isinstance(selection, FragmentSpreadNode)
                inner = self._fragment(selection.name.value, level + 1)
                cost += inner.cost
            selections += 1 + inner.selections
            height = max(height, 1 + inner.height)
        return Weight(cost, selections, height)

    def _fragment(self, name: str, level: int) -> Weight:
        if name in self._memo:
            return self._memo[name]
        fragment = self.fragments.get(name)
        # graphql-core's own wording: these would be its validation errors, but its rules run
        # side by side with the ones that cannot cope with them.
        if fragment is None:
            raise _Refused(GraphQLError(f"Unknown fragment '{name}'."))
        if name in self._expanding:
            raise _Refused(GraphQLError(f"Cannot spread fragment '{name}' within itself."))
        self._expanding.add(name)
        try:
            weight = self._selection_set(
                fragment.selection_set,
                self.schema.get_type(fragment.type_condition.name.value),
                level,
            )
        finally:
            self._expanding.discard(name)
        self._memo[name] = weight
        return weight

    def _page_size(self, node: FieldNode, definition: GraphQLField | None) -> int | None:
        """The page a connection field returns (None for other fields), as its resolver
        computes it (`schema.pagination.page_size`)."""
        if definition is None or "first" not in definition.args:
            return None
        argument = next((a for a in node.arguments or () if a.name.value == "first"), None)
        value = (
            self._value(argument.value)
            if argument is not None
            else _default(definition.args["first"])
        )
        # Int coercion accepts 100.0 too; anything else fails it and never runs.
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            return DEFAULT_PAGE_SIZE
        return max(0, min(value, MAX_PAGE_SIZE))

    def _value(self, node: ValueNode) -> Any:
        if isinstance(node, VariableNode):
            name = node.name.value
            if name in self.variables:
                return self.variables[name]
            default = self._defaults.get(name)
            return None if default is None else self._value(default)
        if isinstance(node, IntValueNode):
            return int(node.value)
        if isinstance(node, FloatValueNode):
            return float(node.value)
        return None


def _field(parent: GraphQLNamedType | None, name: str) -> GraphQLField | None:
    if not isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
        return None  # a union, or a type unknown to the schema (validation refuses it)
    field: GraphQLField | None = parent.fields.get(name)
    return field


def _default(argument: GraphQLArgument) -> Any:
    default = argument.default_value
    return default if isinstance(default, int | float) else None


def check_document(
    schema: GraphQLSchema,
    document: DocumentNode,
    variables: Mapping[str, Any],
    operation_name: str | None,
    costs: list[int] | None = None,
) -> GraphQLError | None:
    """The reason to refuse `document` before validating it, or None.

    Every operation is weighed (the depth and alias rules walk them all); the cost limit
    applies to the ones that may run, whose costs are appended to `costs` when given (the
    rate limiter charges them)."""
    weigher = OperationWeigher(schema, document, variables)
    for definition in document.definitions:
        if not isinstance(definition, OperationDefinitionNode):
            continue
        try:
            weight = weigher.operation(definition)
        except _Refused as refused:
            return refused.error
        if weight.selections > MAX_SELECTIONS:
            return _too_complex(
                f"Query too complex: {weight.selections} selections once fragments are "
                f"expanded exceeds the limit of {MAX_SELECTIONS}.",
                selections=weight.selections,
                limit=MAX_SELECTIONS,
            ).error
        runs = operation_name is None or (
            definition.name is not None and definition.name.value == operation_name
        )
        if runs and costs is not None:
            costs.append(weight.cost)
        if runs and weight.cost > MAX_COST:
            return _too_complex(
                f"Query too complex: cost {weight.cost} exceeds the limit of {MAX_COST}. "
                "Ask for smaller pages (`first`) or fewer nested lists.",
                cost=weight.cost,
                limit=MAX_COST,
            ).error
    return None


class QueryCostLimiter(SchemaExtension):
    """Refuses an operation that is too costly or of a dangerous shape (see the module
    docstring) after parsing and before validation; strawberry skips validation when
    `pre_execution_errors` is already set, and answers with them."""

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if document is not None and context.pre_execution_errors is None:
            # strawberry keeps the graphql-core schema here; it has no public accessor.
            costs: list[int] = []
            error = check_document(
                context.schema._schema,
                document,
                context.variables or {},
                context.operation_name,
                costs,
            )
            if error is not None:
                context.pre_execution_errors = [error]
            elif hasattr(context.context, "cost"):
                context.context.cost = max(1, sum(costs))
        yield


def _hide_suggestions(result: Any) -> None:
    for error in getattr(result, "errors", None) or []:
        error.message = without_suggestions(error.message)


class HideSuggestions(SchemaExtension):
    """Strips "Did you mean …?" from every error: validation errors, variable coercion
    errors at execution, and each result of a stream (websocket or SSE)."""

    def on_operation(self) -> Iterator[None]:
        yield
        _hide_suggestions(self.execution_context.result)

    def on_stream_result(self, result: StreamExecutionResult) -> Iterator[None]:
        _hide_suggestions(result)
        yield


def limit_extensions() -> list[Any]:
    """The extensions `build_schema` installs (factories: strawberry makes fresh ones for
    every operation)."""
    return [
        lambda: QueryDepthLimiter(max_depth=MAX_DEPTH),
        lambda: MaxAliasesLimiter(max_alias_count=MAX_ALIASES),
        lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
        QueryCostLimiter,
        HideSuggestions,
    ]
