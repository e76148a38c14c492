"""Abuse: each refused with a clear error, never a 500, and nothing executed."""

from __future__ import annotations

import pytest

from schema.limits import MAX_ALIASES, MAX_COST, QueryCost, without_suggestions
from tests.factories import make_user, token_for
from tests.support import GraphQLClient


@pytest.fixture
async def token(api: GraphQLClient) -> str:
    await make_user()
    return await token_for(api, "ada@example.com")


async def _errors(
    api: GraphQLClient,
    query: str,
    token: str | None = None,
    variables: dict[str, object] | None = None,
) -> list[dict[str, object]]:
    response = await api.post(query, variables, token=token)
    assert response.status_code < 500, response.text
    body = response.json()
    assert body.get("data") is None, body
    return body["errors"]  # type: ignore[no-any-return]


async def test_deep_nesting(api: GraphQLClient, token: str) -> None:
    nested = "id"
    for _ in range(8):
        nested = f"suggestions {{ pattern {{ {nested} }} }}"
    query = f"{{ patterns {{ edges {{ node {{ {nested} }} }} }} }}"
    errors = await _errors(api, query, token)
    assert "exceeds maximum operation depth" in str(errors[0]["message"])


async def test_too_many_aliases(api: GraphQLClient, token: str) -> None:
    fields = " ".join(f"a{i}: me {{ id }}" for i in range(MAX_ALIASES + 70))
    errors = await _errors(api, f"{{ {fields} }}", token)
    assert "aliases" in str(errors[0]["message"]).lower()


async def test_huge_token_counts(api: GraphQLClient) -> None:
    query = "{ me { " + "id " * 5000 + "} }"
    errors = await _errors(api, query)
    assert "token" in str(errors[0]["message"]).lower()


async def test_circular_fragments(api: GraphQLClient, token: str) -> None:
    query = """{ me { ...A } }
      fragment A on User { id ...B }
      fragment B on User { email ...A }"""
    errors = await _errors(api, query, token)
    assert "Cannot spread fragment" in str(errors[0]["message"])


async def test_cost_limit_counts_page_sizes(api: GraphQLClient, token: str) -> None:
    query = """query($n: Int) { workflows(first: $n) { edges { node { id
      runs(first: 100) { edges { node { id stepRuns { id } } } } } } } }"""
    errors = await _errors(api, query, token, {"n": 100})
    assert errors[0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"  # type: ignore[index]
    assert errors[0]["extensions"]["limit"] == MAX_COST  # type: ignore[index]
    # The same shape with small pages is fine.
    small = await api.gql(query.replace("first: 100", "first: 5"), {"n": 5}, token=token)
    assert small == {"workflows": {"edges": []}}


def test_cost_counts_fragments_and_defaults() -> None:
    from graphql import FragmentDefinitionNode, OperationDefinitionNode, parse

    document = parse("""{ events { edges { node { ...F } } } }
      fragment F on Event { id kind user { id } }""")
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    operation = next(d for d in document.definitions if isinstance(d, OperationDefinitionNode))
    # events (1) + 50 × (edges 1 + node 1 + id, kind, user{id} = 4) = 1 + 50 × 6
    assert QueryCost(fragments, {}).of(operation.selection_set) == 301


@pytest.mark.parametrize(
    "query",
    [
        "{ mee { id } }",
        "{ me { emial } }",
        "query($x: EventFiltr) { me { id } }",
        "{ events(firts: 3) { edges { cursor } } }",
    ],
)
async def test_no_field_suggestions_reach_clients(
    api: GraphQLClient, token: str, query: str
) -> None:
    errors = await _errors(api, query, token)
    assert all("Did you mean" not in str(e["message"]) for e in errors), errors


def test_without_suggestions() -> None:
    message = "Cannot query field 'mee' on type 'Query'. Did you mean 'me'?"
    assert without_suggestions(message) == "Cannot query field 'mee' on type 'Query'."


async def test_mutations_over_get_are_refused(api: GraphQLClient, token: str) -> None:
    mutation = 'mutation { createWorkflow(input: {name: "x", steps: []}) { __typename } }'
    response = await api.http.get(
        "/graphql", params={"query": mutation}, headers={"Authorization": f"Bearer {token}"}
    )
    assert 400 <= response.status_code < 500
    ok = await api.http.get(
        "/graphql", params={"query": "{ me { id } }"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert ok.status_code == 200 and ok.json()["data"]["me"]["id"]


async def test_batched_requests_are_refused(api: GraphQLClient) -> None:
    response = await api.http.post("/graphql", json=[{"query": "{ me { id } }"}] * 3)
    assert 400 <= response.status_code < 500


async def test_ten_thousand_item_batches(api: GraphQLClient, token: str) -> None:
    item = {"kind": "a.b", "source": "cli", "occurredAt": "2026-11-28T10:00:00+00:00"}
    query = "mutation($i: [EventInput!]!) { recordEvents(inputs: $i) { accepted } }"
    response = await api.post(query, {"i": [item] * 10_000}, token=token)
    assert response.status_code < 500
    body = response.json()
    assert body["errors"][0]["extensions"]["code"] in {"VALIDATION", "PAYLOAD_TOO_LARGE"}
