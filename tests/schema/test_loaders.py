"""No N+1: the number of SQL statements per request is the same for a page of 5 and a page
of 100, for every nested shape."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from models.users import User
from tests.factories import make_user, token_for
from tests.support import GraphQLClient

N = 100
SHAPES = {
    "events → user": """query($n: Int) { events(first: $n) {
        edges { node { id kind user { id email } } } } }""",
    "workflows → steps, runs → step runs": """query($n: Int) { workflows(first: $n) { edges { node {
        id steps { id connector } runs(first: 3) { edges { node { id status stepRuns { id } } } }
      } } } }""",
    "patterns → suggestions → workflow, pattern": """query($n: Int) { patterns(first: $n) {
        edges { node { id suggestions { id workflow { id name } pattern { id } } } } } }""",
    "suggestions → pattern → suggestions": """query($n: Int) { suggestions(first: $n) {
        edges { node { id pattern { id suggestions { id } } workflow { id } } } } }""",
}


async def _seed(pg: asyncpg.Connection, user: User) -> None:
    now = datetime.now(UTC)
    await pg.copy_records_to_table(
        "events",
        columns=["user_id", "kind", "source", "occurred_at", "created_at"],
        records=[(user.id, "git.commit", "git", now - timedelta(minutes=i), now) for i in range(N)],
    )
    workflows = [
        (uuid.uuid4(), user.id, f"w{i}", "s", now + timedelta(seconds=i)) for i in range(N)
    ]
    await pg.executemany(
        "INSERT INTO workflows (id, user_id, name, description, enabled, timezone,"
        " missed_run_policy, overlap_policy, secret, max_consecutive_failures,"
        " consecutive_failures, created_at, updated_at)"
        " VALUES ($1, $2, $3, '', false, 'UTC', 'skip', 'skip', $4, 3, 0, $5, $5)",
        workflows,
    )
    steps, runs, step_runs, patterns, suggestions = [], [], [], [], []
    for wid, *_ in workflows:
        for position in range(2):
            steps.append((wid, position, "log", '{"message": "m"}'))
        for r in range(4):
            run_id = uuid.uuid4()
            runs.append((run_id, wid, user.id, now + timedelta(seconds=r)))
            step_runs += [(run_id, p) for p in range(2)]
        pattern_id = uuid.uuid4()
        patterns.append((pattern_id, user.id, f"sig-{wid}", now))
        suggestions.append((uuid.uuid4(), user.id, pattern_id, wid, now))
    await pg.executemany(
        "INSERT INTO workflow_steps (workflow_id, position, connector, config)"
        " VALUES ($1, $2, $3, $4::jsonb)",
        steps,
    )
    await pg.executemany(
        "INSERT INTO workflow_runs (id, workflow_id, user_id, status, trigger, cancel_requested,"
        " created_at, updated_at) VALUES ($1, $2, $3, 'succeeded', 'manual', false, $4, $4)",
        runs,
    )
    await pg.executemany(
        "INSERT INTO step_runs (run_id, position, connector, status, attempts)"
        " VALUES ($1, $2, 'log', 'succeeded', 1)",
        step_runs,
    )
    await pg.executemany(
        "INSERT INTO patterns (id, user_id, kind, signature, description, details, count,"
        " confidence, first_seen, last_seen, created_at, updated_at)"
        " VALUES ($1, $2, 'sequence', $3, 'd', '{}', 3, 0.5, $4, $4, $4, $4)",
        patterns,
    )
    await pg.executemany(
        "INSERT INTO suggestions (id, user_id, pattern_id, workflow_id, status, title,"
        " description, proposed_workflow, created_at)"
        " VALUES ($1, $2, $3, $4, 'accepted', 't', 'd', '{}', $5)",
        suggestions,
    )


@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
async def test_statement_count_does_not_grow_with_the_page(
    api: GraphQLClient, pg: asyncpg.Connection, sql_log: list[str], shape: str
) -> None:
    user = await make_user()
    await _seed(pg, user)
    token = await token_for(api, user.email)
    counts = {}
    for size in (5, N):
        sql_log.clear()
        data = await api.gql(shape, {"n": size}, token=token)
        root = next(iter(data.values()))
        assert len(root["edges"]) == size
        counts[size] = len(sql_log)
    assert counts[5] == counts[N], (counts, sql_log)
    assert counts[N] <= 6, sql_log
