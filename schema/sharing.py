"""Which subscriptions one execution may serve for many subscribers (api/fanout.py).

Sharing is right when, from any moment on, a stream sends every subscriber of the same user
and arguments the same messages, so a subscriber joining a running stream misses nothing a
fresh execution would have sent it. Two kinds of subscription start with messages meant for
one subscriber only, and are never shared:
- `importProgress` opens with a snapshot of the import's current state;
- `eventRecorded(after: …)` opens with the events that subscriber missed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from graphql import FieldNode, NullValueNode, OperationDefinitionNode, VariableNode

SHAREABLE_FIELDS: Final = frozenset({"eventRecorded", "workflowRunUpdated", "suggestionCreated"})
# An argument that makes a stream begin with a catch-up for its one subscriber.
RESUME_ARGUMENTS: Final = frozenset({"after"})


def shareable(operation: OperationDefinitionNode, variables: Mapping[str, Any] | None) -> bool:
    for selection in operation.selection_set.selections:
        if not isinstance(selection, FieldNode) or selection.name.value not in SHAREABLE_FIELDS:
            return False
        for argument in selection.arguments or ():
            if argument.name.value in RESUME_ARGUMENTS and _given(
                argument.value, operation, variables or {}
            ):
                return False
    return True


def _given(value: Any, operation: OperationDefinitionNode, variables: Mapping[str, Any]) -> bool:
    if isinstance(value, NullValueNode):
        return False
    if not isinstance(value, VariableNode):
        return True
    name = value.name.value
    if name in variables:
        return variables[name] is not None
    for definition in operation.variable_definitions or ():
        if definition.variable.name.value == name:
            default = definition.default_value
            return default is not None and not isinstance(default, NullValueNode)
    return False
