"""Abuse of the GraphQL surface, sent for real to the live server: each is refused with a
clear error, never a 500, and nothing is executed. Normal operations still run."""

from __future__ import annotations

import time
from typing import Any

import asyncpg
import pytest
from graphql import OperationDefinitionNode, get_introspection_query, parse

from schema import build_schema
from schema.limits import (
    MAX_ALIASES,
    MAX_COST,
    MAX_DEPTH,
    MAX_NESTING,
    MAX_SELECTIONS,
    OperationWeigher,
    check_document,
    without_suggestions,
)
from tests.factories import make_user, token_for
from tests.schema.test_workflows import CREATE, spec
from tests.support import GraphQLClient
from tests.ws_client import subscriber

# 100 workflows × 100 runs × their step runs: 1 + 100 × (2 + 1 + 100 × 4).
HUGE = """query($n: Int) { workflows(first: $n) { edges { node {
  runs(first: 100) { edges { node { stepRuns { id } } } } } } } }"""
# The same shape with the connections hidden in fragments, at the default page size (50):
# 1 + 50 × (2 + 1 + 50 × 4).
HIDDEN = """{ workflows { ...W } }
  fragment W on WorkflowConnection { edges { node { runs { ...R } } } }
  fragment R on WorkflowRunConnection { edges { node { stepRuns { id } } } }"""


@pytest.fixture
async def token(api: GraphQLClient) -> str:
    await make_user()
    return await token_for(api, "ada@example.com")


async def _refused(
    api: GraphQLClient,
    query: str,
    token: str | None = None,
    variables: dict[str, object] | None = None,
) -> list[dict[str, Any]]:
    response = await api.post(query, variables, token=token)
    assert response.status_code < 500, response.text
    body = response.json()
    assert body.get("data") is None, body
    errors: list[dict[str, Any]] = body["errors"]
    assert errors and all(e["message"] for e in errors)
    return errors


def _chain(size: int, start: int = 0) -> str:
    links = [f"fragment F{i} on User {{ ...F{i + 1} }}" for i in range(start, size)]
    return " ".join([*links, f"fragment F{size} on User {{ id }}"])


def _doubling(levels: int, leaf: str = "id") -> str:
    """Each fragment spreads the next twice: 2^levels copies of `leaf` in ~10 tokens a level."""
    steps = [f"fragment D{i} on User {{ ...D{i + 1} ...D{i + 1} }}" for i in range(levels)]
    return " ".join([*steps, f"fragment D{levels} on User {{ {leaf} }}"])


def _clique(size: int) -> str:
    """`size` fragments that all spread each other: size! paths for a naive walker."""
    return " ".join(
        f"fragment F{i} on User {{ id {' '.join(f'...F{j}' for j in range(size) if j != i)} }}"
        for i in range(size)
    )


# ---- depth, aliases, tokens (strawberry's extensions) ---------------------------------------


async def test_deep_nesting_is_refused(api: GraphQLClient, token: str) -> None:
    nested = "id"
    for _ in range(MAX_DEPTH):
        nested = f"suggestions {{ pattern {{ {nested} }} }}"
    query = f"{{ patterns {{ edges {{ node {{ {nested} }} }} }} }}"
    errors = await _refused(api, query, token)
    assert f"exceeds maximum operation depth of {MAX_DEPTH}" in errors[0]["message"]


async def test_deep_nesting_through_fragments_is_refused(api: GraphQLClient, token: str) -> None:
    fragments = " ".join(
        f"fragment P{i} on Pattern {{ suggestions {{ pattern {{ ...P{i + 1} }} }} }}"
        for i in range(8)
    )
    query = "{ patterns { edges { node { ...P0 } } } } " + fragments
    query += " fragment P8 on Pattern { id }"
    errors = await _refused(api, query, token)
    assert "exceeds maximum operation depth" in errors[0]["message"]


async def test_too_many_aliases_are_refused(api: GraphQLClient, token: str) -> None:
    fields = " ".join(f"a{i}: me {{ id }}" for i in range(MAX_ALIASES + 70))
    errors = await _refused(api, f"{{ {fields} }}", token)
    assert errors[0]["message"] == f"{MAX_ALIASES + 70} aliases found. Allowed: {MAX_ALIASES}"


async def test_huge_token_counts_are_refused(api: GraphQLClient) -> None:
    errors = await _refused(api, "{ me { " + "__typename " * 5000 + "} }")
    assert "more than 2000 tokens" in errors[0]["message"]


# ---- shapes refused before validation --------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "message"),
    [
        pytest.param(
            "{ me { ...A } } fragment A on User { id ...B } fragment B on User { email ...A }",
            "Cannot spread fragment 'A' within itself.",
            id="circular fragments",
        ),
        pytest.param(
            "{ me { ...F0 } } " + _clique(12),
            "Cannot spread fragment 'F0' within itself.",
            id="a dozen fragments spreading each other",
        ),
        pytest.param("{ me { ...Nope } }", "Unknown fragment 'Nope'.", id="unknown fragment"),
        pytest.param(
            "{ me { ...D0 } } " + _doubling(40),
            "selections once fragments are expanded exceeds the limit of 5000",
            id="fragment bomb",
        ),
        pytest.param(
            "{ me { ...D0 } } " + _doubling(12, "...F0") + " " + _chain(25),
            "selections once fragments are expanded",
            id="bomb over a chain",
        ),
        pytest.param(
            "{ me { ...F0 } } " + _chain(240),
            f"nested more than {MAX_NESTING} levels deep",
            id="long fragment chain",
        ),
        pytest.param(
            "{ me { " + " ".join(f"...F{i}" for i in range(120, -1, -1)) + " } } " + _chain(120),
            f"nested more than {MAX_NESTING} levels deep",
            id="chain spread bottom up",
        ),
    ],
)
async def test_dangerous_shapes_are_refused_at_once(
    api: GraphQLClient, token: str, query: str, message: str
) -> None:
    # Each of these kept strawberry's depth and alias rules busy for seconds to hours, or
    # overflowed their recursion, before the shape check ran first.
    started = time.perf_counter()
    errors = await _refused(api, query, token)
    assert time.perf_counter() - started < 2
    assert message in errors[0]["message"], errors


# ---- cost ------------------------------------------------------------------------------------


async def test_cost_limit_refuses_nested_big_pages_before_running(
    api: GraphQLClient, token: str
) -> None:
    errors = await _refused(api, HUGE, token, {"n": 100})
    assert errors[0]["message"] == (
        f"Query too complex: cost 40301 exceeds the limit of {MAX_COST}. "
        "Ask for smaller pages (`first`) or fewer nested lists."
    )
    assert errors[0]["extensions"] == {"code": "QUERY_TOO_COMPLEX", "cost": 40301, "limit": 10000}


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        pytest.param(HIDDEN, {}, id="connections inside fragments, default pages"),
        pytest.param(
            "query($n: Int = 100) { workflows(first: $n) { edges { node {"
            " runs(first: $n) { edges { node { id } } } } } } }",
            {},
            id="page size from a variable's default",
        ),
        pytest.param(HUGE, {"n": 100.0}, id="page size as a float"),
        pytest.param(HUGE, {"n": 10_000}, id="page size over the cap"),
    ],
)
async def test_cost_cannot_be_hidden(
    api: GraphQLClient, token: str, query: str, variables: dict[str, object]
) -> None:
    errors = await _refused(api, query, token, variables)
    assert errors[0]["extensions"]["code"] == "QUERY_TOO_COMPLEX", errors


@pytest.mark.parametrize(
    ("query", "variables", "cost"),
    [
        # events (1) + 50 × (edges 1 + node 1 + id, kind, user { id } = 4)
        (
            "{ events { edges { node { ...F } } } } fragment F on Event { id kind user { id } }",
            {},
            301,
        ),
        ("{ events(first: 1000) { edges { cursor } } }", {}, 1 + 100 * 2),
        ("{ events(first: 0) { edges { cursor } } }", {}, 1),
        ("query($n: Int = 100) { events(first: $n) { edges { cursor } } }", {"n": None}, 101),
        ("query($n: Int = 7) { events(first: $n) { edges { cursor } } }", {}, 15),
        ("{ events(first: 3) { edges { cursor } pageInfo { hasNextPage } } }", {}, 1 + 3 * 4),
        ("{ workflows { edges { node { id runs { edges { node { id } } } } } } }", {}, 7701),
        (HUGE, {"n": 100}, 40301),
        (HIDDEN, {}, 1 + 50 * (3 + 50 * 4)),
        ("{ patterns(first: 2) { edges { node { suggestions { pattern { id } } } } } }", {}, 11),
    ],
)
def test_cost_counts_pages_fragments_and_variables(
    query: str, variables: dict[str, object], cost: int
) -> None:
    document = parse(query)
    operation = next(d for d in document.definitions if isinstance(d, OperationDefinitionNode))
    schema = build_schema(production=False)._schema
    assert OperationWeigher(schema, document, variables).operation(operation).cost == cost


def test_graphiql_introspection_fits_the_limits() -> None:
    schema = build_schema(production=False)._schema
    document = parse(get_introspection_query(descriptions=True))
    operation = next(d for d in document.definitions if isinstance(d, OperationDefinitionNode))
    weight = OperationWeigher(schema, document, {}).operation(operation)
    assert weight.cost < MAX_COST / 10
    assert weight.selections < MAX_SELECTIONS / 10 and weight.height < MAX_NESTING / 2
    assert check_document(schema, document, {}, None) is None


async def test_only_the_operation_that_runs_is_priced(api: GraphQLClient, token: str) -> None:
    document = HUGE.replace("query(", "query Huge(") + " query Me { me { email } }"
    response = await api.http.post(
        "/graphql",
        json={"query": document, "operationName": "Me", "variables": {"n": 100}},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.json() == {"data": {"me": {"email": "ada@example.com"}}}
    errors = await _refused(api, document.replace("query Me", "query Other"), token, {"n": 100})
    assert errors[0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"


async def test_a_normal_query_runs_with_every_limit_on(api: GraphQLClient, token: str) -> None:
    created = await api.gql(CREATE, {"input": spec()}, token=token)
    assert created["createWorkflow"]["__typename"] == "Workflow"
    query = """query($n: Int) {
      mine: workflows(first: $n) { edges { node { ...W } } pageInfo { hasNextPage } }
      me { email }
    }
    fragment W on Workflow {
      name steps { connector } runs(first: 10) { edges { node { id status stepRuns { id } } } }
    }"""
    data = await api.gql(query, {"n": 20}, token=token)
    assert data["me"] == {"email": "ada@example.com"}
    node = data["mine"]["edges"][0]["node"]
    assert node["name"] == "Morning digest" and node["runs"] == {"edges": []}
    assert [s["connector"] for s in node["steps"]] == ["log", "webhook", "email", "delay"]
    introspection = await api.gql(get_introspection_query(descriptions=True), token=token)
    assert introspection["__schema"]["queryType"]["name"] == "Query"


# ---- no suggestions --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "variables", "says", "hidden"),
    [
        ("{ mee { id } }", {}, "Cannot query field 'mee'", "'me'"),
        ("{ me { emial } }", {}, "Cannot query field 'emial'", "'email'"),
        ("{ events(firts: 3) { edges { cursor } } }", {}, "Unknown argument 'firts'", "'first'"),
        ("query($f: EventFiltr) { me { id } }", {}, "Unknown type 'EventFiltr'", "'EventFilter'"),
        (
            "{ suggestions(status: PENDNG) { edges { cursor } } }",
            {},
            "Value 'PENDNG' does not exist",
            "'PENDING'",
        ),
        (
            '{ events(filter: {kindz: ["a"]}) { edges { cursor } } }',
            {},
            "unknown field 'kindz'",
            "'kinds'",
        ),
        (
            "query($s: SuggestionStatus) { suggestions(status: $s) { edges { cursor } } }",
            {"s": "PENDNG"},
            "Value 'PENDNG' does not exist",
            "'PENDING'",
        ),
        (
            "query($f: EventFilter) { events(filter: $f) { edges { cursor } } }",
            {"f": {"kindz": ["a"]}},
            "unknown field 'kindz'",
            "'kinds'",
        ),
    ],
)
async def test_no_suggestions_reach_clients(
    api: GraphQLClient,
    token: str,
    query: str,
    variables: dict[str, object],
    says: str,
    hidden: str,
) -> None:
    errors = await _refused(api, query, token, variables)
    text = " ".join(e["message"] for e in errors)
    assert says in text, errors
    assert "Did you mean" not in text and hidden not in text, errors


async def test_no_suggestions_over_websockets(api: GraphQLClient, token: str) -> None:
    async with subscriber(api.base_url, token) as socket:
        op_id = await socket.subscribe("subscription { eventRecordd { id } }")
        message = await socket.receive()
    assert message["id"] == op_id and message["type"] == "error", message
    text = " ".join(e["message"] for e in message["payload"])
    assert "Cannot query field 'eventRecordd'" in text
    assert "Did you mean" not in text and "eventRecorded" not in text


@pytest.mark.parametrize(
    ("message", "stripped"),
    [
        ("Cannot query field 'mee' on type 'Query'. Did you mean 'me'?", "…'Query'."),
        (
            "Unknown argument 'x' on field 'Query.events'. Did you mean 'after', 'first', or "
            "'filter'?",
            "…'Query.events'.",
        ),
        ("Value 'A' does not exist in 'E' enum. Did you mean the enum value 'B'?", "…enum."),
        ("Nothing to strip.", "Nothing to strip."),
    ],
)
def test_without_suggestions(message: str, stripped: str) -> None:
    result = without_suggestions(message)
    assert "Did you mean" not in result
    assert result.endswith(stripped.lstrip("…"))


# ---- HTTP: GET mutations, batches ------------------------------------------------------------


async def test_mutations_over_get_are_refused_and_change_nothing(
    api: GraphQLClient, token: str, pg: asyncpg.Connection
) -> None:
    mutation = """mutation { createWorkflow(input: {name: "x",
      steps: [{connector: "log", config: {message: "m"}}]}) { __typename } }"""
    auth = {"Authorization": f"Bearer {token}"}
    response = await api.http.get("/graphql", params={"query": mutation}, headers=auth)
    assert 400 <= response.status_code < 500, response.text
    assert "mutations are not allowed when using get" in response.text.lower()
    assert await pg.fetchval("SELECT count(*) FROM workflows") == 0
    # Queries over GET still work.
    ok = await api.http.get("/graphql", params={"query": "{ me { email } }"}, headers=auth)
    assert ok.status_code == 200
    assert ok.json() == {"data": {"me": {"email": "ada@example.com"}}}


async def test_batched_requests_are_refused(api: GraphQLClient, token: str) -> None:
    response = await api.http.post(
        "/graphql",
        json=[{"query": "{ me { id } }"}] * 3,
        headers={"Authorization": f"Bearer {token}"},
    )
    assert 400 <= response.status_code < 500
    assert "Batching is not enabled" in response.text


async def test_ten_thousand_item_batches(api: GraphQLClient, token: str) -> None:
    item = {"kind": "a.b", "source": "cli", "occurredAt": "2026-11-28T10:00:00+00:00"}
    query = "mutation($i: [EventInput!]!) { recordEvents(inputs: $i) { accepted } }"
    response = await api.post(query, {"i": [item] * 10_000}, token=token)
    assert response.status_code < 500
    body = response.json()
    assert body["errors"][0]["extensions"]["code"] in {"VALIDATION", "PAYLOAD_TOO_LARGE"}
