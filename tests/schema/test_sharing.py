"""Which subscriptions one execution may serve for many subscribers."""

from __future__ import annotations

from typing import Any

import pytest
from graphql import OperationDefinitionNode, parse

from schema.sharing import shareable


def _operation(query: str) -> OperationDefinitionNode:
    definition = parse(query).definitions[0]
    assert isinstance(definition, OperationDefinitionNode)
    return definition


@pytest.mark.parametrize(
    ("query", "variables", "expected"),
    [
        ("subscription { eventRecorded { id } }", None, True),
        ('subscription { eventRecorded(filter: {kinds: ["a"]}) { id } }', None, True),
        ("subscription { eventRecorded(after: null) { id } }", None, True),
        ('subscription { eventRecorded(after: "c") { id } }', None, False),
        ("subscription($a: String) { eventRecorded(after: $a) { id } }", {"a": None}, True),
        ("subscription($a: String) { eventRecorded(after: $a) { id } }", {}, True),
        ("subscription($a: String) { eventRecorded(after: $a) { id } }", {"a": "c"}, False),
        ('subscription($a: String = "c") { eventRecorded(after: $a) { id } }', {}, False),
        ("subscription { workflowRunUpdated(workflowId: 1) { id } }", None, True),
        ("subscription { suggestionCreated { id } }", None, True),
        ('subscription { importProgress(importId: "i") { id } }', None, False),
    ],
)
def test_shareable(query: str, variables: dict[str, Any] | None, expected: bool) -> None:
    assert shareable(_operation(query), variables) is expected
